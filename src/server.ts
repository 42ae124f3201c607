/**
 * The API process: config -> engine -> stores, Redis, services -> buildApp -> listen. Stopping
 * follows the one rule set of src/process/shutdown.ts: a signal closes it gracefully (stop
 * accepting connections, let requests in flight finish while new requests on kept-alive
 * connections get 503, close the services and Redis, exit 0); invalid configuration exits 1 with
 * the message naming the variable.
 */
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from './config.ts';
import { exitOnStartFailure, installShutdown } from './process/shutdown.ts';

/** Past this, a close that is still waiting (a long upload, a stuck connection) gives up: exit 1. */
const SHUTDOWN_TIMEOUT_MS = 25_000;

function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    exitOnStartFailure('api configuration', err);
  }
}

async function main(): Promise<void> {
  // Config first, before TensorFlow.js and the rest load (seconds), so a typo fails at once.
  const config = configOrExit();
  const [{ buildApp }, { EngineUnavailableError, initEngine }, { composeApi }, { choosePredictRuntime, OnnxRuntimeUnavailableError }] = await Promise.all([
    import('./app.ts'),
    import('./ml/engine.ts'),
    import('./compose.ts'),
    import('./onnx/runtime.ts'),
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

  let runtime;
  try {
    runtime = await choosePredictRuntime(config.predictRuntime, { threads: config.onnxThreads });
  } catch (err) {
    if (err instanceof OnnxRuntimeUnavailableError) {
      log.fatal(`PREDICT_RUNTIME=onnxruntime was requested but ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  if (runtime.fallbackReason !== undefined) {
    log.warn(
      { runtime: runtime.name, requested: runtime.requested, fallbackReason: runtime.fallbackReason },
      `predictions run on TensorFlow.js, not onnxruntime: ${runtime.fallbackReason} (set PREDICT_RUNTIME=tfjs to silence this, or onnxruntime to make it fatal)`,
    );
  } else {
    log.info({ runtime: runtime.name, requested: runtime.requested }, `predictions run on ${runtime.description}`);
  }

  const api = composeApi(config, engine, log, runtime);
  await api.start();
  const app = await buildApp(api.deps);

  installShutdown({
    log,
    timeoutMs: SHUTDOWN_TIMEOUT_MS,
    close: async () => {
      log.info('closing: no new connections; waiting for requests in flight');
      await app.close();
      await api.close();
      log.info('closed');
    },
    beforeExit: () => log.flush(),
  });

  await app.listen({ port: config.port, host: config.host });
}

process.on('unhandledRejection', (err) => exitOnStartFailure('unhandled rejection', err));

main().catch((err: unknown) => exitOnStartFailure('api failed to start', err));
