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
  const [
    { buildApp },
    { createMetrics },
    { EngineUnavailableError, initEngine },
    { closeRedis, createRedis, redisFactory },
    { publishModelEvent },
    { createDatasetService },
    { createHealthService },
    { createModelService },
    { createPredictionService },
    { createTrainingJobService },
    { createDatasetStore },
    { createModelRegistry },
  ] = await Promise.all([
    import('./app.ts'),
    import('./metrics.ts'),
    import('./ml/engine.ts'),
    import('./queue/connection.ts'),
    import('./queue/model-events.ts'),
    import('./services/datasets.ts'),
    import('./services/health.ts'),
    import('./services/models.ts'),
    import('./services/predictions.ts'),
    import('./services/training-jobs.ts'),
    import('./storage/dataset-store.ts'),
    import('./storage/model-registry.ts'),
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

  const redisFor = redisFactory(config.redisUrl);
  const redis = createRedis(config.redisUrl, 'producer');
  const store = createDatasetStore({ dataDir: config.dataDir, limits: { maxImagePixels: config.limits.imagePixels } });
  const registry = createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName });
  const removed = await registry.cleanupStaging().catch((err: unknown) => {
    log.warn({ err }, 'could not sweep leftovers of interrupted model publishes');
    return 0;
  });
  if (removed > 0) log.info({ removed }, 'removed leftovers of interrupted model publishes');

  const metrics = createMetrics();
  const jobs = createTrainingJobService({ config, redis: redisFor, datasets: store });
  const predictions = createPredictionService({ config, registry, metrics, redis: redisFor, logger: log.child({ part: 'predictions' }) });
  await predictions.start();

  const app = await buildApp({
    config,
    engine,
    logger: log,
    datasets: createDatasetService({
      store,
      uploadLimitBytes: config.limits.uploadBytes,
      datasetInUse: (id) => jobs.datasetInUse(id),
    }),
    models: createModelService({
      registry,
      publishEvent: (event) => publishModelEvent(redis, config.queuePrefix, event, log),
    }),
    predictions,
    jobs,
    health: createHealthService({ ping: () => redis.ping(), workers: () => jobs.workers() }),
    metrics,
  });

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
      await Promise.allSettled([predictions.close(), jobs.close()]);
      await closeRedis(redis);
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
