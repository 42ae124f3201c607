/**
 * The API process: config -> engine -> stores, Redis, services -> buildApp -> listen. SIGTERM or
 * SIGINT closes it gracefully: stop accepting connections, let requests in flight finish (new
 * requests on kept-alive connections get 503), close the services and Redis, exit 0. Invalid
 * configuration exits 1 with the message naming the variable.
 */
import { pino, type Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.ts';

/** Past this, a shutdown that is still waiting (a long upload, a stuck connection) gives up: exit 1. */
const SHUTDOWN_TIMEOUT_MS = 25_000;

function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  // Config first, before TensorFlow.js and the rest load (seconds), so a typo fails at once.
  const config = configOrExit();
  const [{ buildApp }, { EngineUnavailableError, initEngine }, { composeApi }] = await Promise.all([
    import('./app.ts'),
    import('./ml/engine.ts'),
    import('./compose.ts'),
  ]);
  const log: Logger = pino({
    level: config.logLevel,
    base: { service: 'api', pid: process.pid },
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
  });

  let engine;
  try {
    engine = await initEngine(config.engine);
  } catch (err) {
    if (err instanceof EngineUnavailableError) {
      log.fatal(err.message);
      process.exit(1);
    }
    throw err;
  }
  log.info({ engine: engine.name, fallbackReason: engine.fallbackReason }, engine.description);

  const api = composeApi(config, engine, log);
  await api.start();
  const app = await buildApp(api.deps);

  let closing: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    if (closing) {
      log.warn({ signal }, 'second signal while closing: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'closing: no new connections; waiting for requests in flight');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'graceful close timed out; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    closing = (async () => {
      await app.close();
      await api.close();
      log.info('closed');
      log.flush();
    })();
    closing.then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

main().catch((err: unknown) => {
  process.stderr.write(`api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
