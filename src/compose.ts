/**
 * Wires the real stores, Redis connections and services into AppDeps. The api entrypoint, the
 * OpenAPI writer and full-stack tests all build the app this one way.
 */
import type { Logger } from 'pino';
import type { AppDeps } from './app.ts';
import type { Config } from './config.ts';
import { createMetrics } from './metrics.ts';
import type { EngineInfo } from './ml/engine.ts';
import type { PredictRuntime } from './onnx/runtime.ts';
import { closeRedis, createRedis, redisFactory } from './queue/connection.ts';
import { createEvaluationQueue } from './queue/evaluation-queue.ts';
import { createModelEventSubscriber } from './queue/model-event-subscriber.ts';
import { publishModelEvent } from './queue/model-events.ts';
import { createResultForwarder } from './queue/result-forward-queue.ts';
import { createTrainingQueue } from './queue/training-queue.ts';
import { createDatasetService } from './services/datasets.ts';
import { evaluationListerFrom } from './services/evaluation-records.ts';
import type { EvaluationRecord } from './services/evaluation-types.ts';
import { createEvaluationService } from './services/evaluations.ts';
import { createHealthService } from './services/health.ts';
import { createModelService } from './services/models.ts';
import { createPredictionService } from './services/predictions.ts';
import { classNamesOf, createResultService } from './services/results.ts';
import { createStowClient } from './services/stow-client.ts';
import { createTrainingJobService } from './services/training-jobs.ts';
import { dicomPolicyOf } from './imaging/decode.ts';
import { createDatasetStore } from './storage/dataset-store.ts';
import { createEvaluationStore, type StoredEvaluation } from './storage/evaluation-store.ts';
import { dicomKeySecret, resultsKeySecret } from './storage/kept-secrets.ts';
import { createModelFingerprints } from './storage/model-fingerprint.ts';
import { createModelRegistry } from './storage/model-registry.ts';
import { createResultStore } from './storage/result-store.ts';

export interface ComposedApi {
  readonly deps: AppDeps;
  /** Sweeps leftovers of interrupted publishes and subscribes to model events. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Predictions on TensorFlow.js: the runtime when none was chosen (OpenAPI generation, tests). */
const TFJS_RUNTIME: PredictRuntime = Object.freeze({ name: 'tfjs', requested: 'tfjs', description: 'TensorFlow.js' });

/** `runtime`: what src/onnx/runtime.ts choosePredictRuntime chose for PREDICT_RUNTIME (default: TensorFlow.js). */
export function composeApi(config: Config, engine: EngineInfo, log: Logger, runtime: PredictRuntime = TFJS_RUNTIME): ComposedApi {
  const redisFor = redisFactory(config.redisUrl, log.child({ part: 'redis' }));
  const redis = createRedis(config.redisUrl, 'producer', log.child({ part: 'redis' }));
  // DICOM keys stay the same across restarts and replicas: DICOM_KEY_SECRET, else the data dir's secret.
  const keySecret = dicomKeySecret(config.dicom.keySecret, config.dataDir);
  const store = createDatasetStore({
    dataDir: config.dataDir,
    limits: { maxImagePixels: config.limits.imagePixels },
    dicom: dicomPolicyOf(config.dicom, keySecret),
  });
  const registry = createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName });
  const metrics = createMetrics();
  const jobsLog = log.child({ part: 'training-jobs' });
  const queue = createTrainingQueue({
    redis: redisFor,
    prefix: config.queuePrefix,
    attempts: config.worker.attempts,
    backoffMs: 5000,
    logger: jobsLog,
  });
  const jobs = createTrainingJobService({ config, queue, datasets: store, logger: jobsLog });
  const evaluationsLog = log.child({ part: 'evaluations' });
  const evaluations = createEvaluationService({
    versions: registry,
    datasets: store,
    queue: createEvaluationQueue({
      redis: redisFor,
      prefix: config.queuePrefix,
      attempts: config.worker.attempts,
      backoffMs: 5000,
      logger: evaluationsLog,
    }),
    store: createEvaluationStore<EvaluationRecord>({ dataDir: config.dataDir }),
    logger: evaluationsLog,
  });
  const predictionsLog = log.child({ part: 'predictions' });
  const predictions = createPredictionService({
    config,
    registry,
    metrics,
    modelEvents: createModelEventSubscriber({ redis: redisFor, prefix: config.queuePrefix, logger: predictionsLog }),
    logger: predictionsLog,
    runtime,
    dicomKeySecret: keySecret,
  });
  // DICOM results: encrypted on DATA_DIR (RESULTS_KEY_SECRET, else the data dir's own secret); every
  // SR to the PACS of RESULTS_DICOMWEB_URL through the results-forward queue, whose worker runs here.
  const resultsLog = log.child({ part: 'results' });
  const { dicomwebUrl } = config.results;
  const resultsSecret = resultsKeySecret(config.results.keySecret, config.dataDir);
  const fingerprints = createModelFingerprints({ dataDir: config.dataDir });
  const forwarder = dicomwebUrl
    ? createResultForwarder({
        redis: redisFor,
        prefix: config.queuePrefix,
        attempts: config.results.forwardAttempts,
        backoffMs: config.results.forwardBackoffMs,
        logger: resultsLog,
      })
    : null;
  const results = createResultService({
    store: createResultStore({
      dataDir: config.dataDir,
      secret: resultsSecret,
      onUnreadable: (resultId, reason) => resultsLog.warn({ resultId, reason }, 'a result file does not open'),
    }),
    predictions,
    versionFacts: async (name, version) => {
      const [contentHash, info] = await Promise.all([fingerprints(name, version), registry.getVersion(name, version)]);
      return { contentHash, classNames: classNamesOf(info.metadata) };
    },
    forwarder,
    storeToPacs: forwarder && dicomwebUrl ? createStowClient({ root: dicomwebUrl }) : null,
    maxPixels: config.limits.imagePixels,
    retentionDays: config.results.retentionDays,
    logger: resultsLog,
  });
  const deps: AppDeps = {
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
      // The evaluation files beside each version (the evaluations resource writes them).
      evaluations: evaluationListerFrom(createEvaluationStore<StoredEvaluation>({ dataDir: config.dataDir })),
    }),
    predictions,
    jobs,
    evaluations,
    health: createHealthService({ ping: () => redis.ping(), workers: () => jobs.workers(), logger: log }),
    metrics,
    results,
  };
  return {
    deps,
    async start() {
      const removed = await registry.cleanupStaging().catch((err: unknown) => {
        log.warn({ err }, 'could not sweep leftovers of interrupted model publishes');
        return 0;
      });
      if (removed > 0) log.info({ removed }, 'removed leftovers of interrupted model publishes');
      await predictions.start();
      await results.start();
      forwarder?.startWorker((id) => results.forward(id), (err) => results.isPermanentForwardError(err));
    },
    async close() {
      const closed = await Promise.allSettled([predictions.close(), jobs.close(), evaluations.close(), results.close(), forwarder?.close()]);
      for (const c of closed) if (c.status === 'rejected') log.error({ err: c.reason as unknown }, 'error while closing a service');
      await closeRedis(redis);
    },
  };
}
