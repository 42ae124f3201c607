import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The Prometheus registry of one API process and the metric objects shared by its parts. Each
 * call makes a fresh registry (tests build many apps in one process); nothing uses prom-client's
 * global registry.
 *
 * Who writes what:
 * - httpDuration: the api's timing hook, once per response (route = the route template, never
 *   the raw URL, so ids do not explode the label set).
 * - predictions, batchSize: the prediction service.
 * - queueJobs, loadedModels, tensors: refreshed by GET /metrics on each scrape from
 *   deps.jobs.counts(), deps.predictions.loaded() and deps.predictions.tensorCount(), so their
 *   owners need not keep them in step; processRss reads the process itself at each scrape.
 * - predictRuntime, runtimeFallbacks: the composition root (the process's runtime) and the loaded
 *   versions (a version that cannot run on onnxruntime).
 */
export interface AppMetrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly predictions: Counter<'model' | 'version' | 'label'>;
  readonly batchSize: Histogram;
  readonly queueJobs: Gauge<'state'>;
  readonly loadedModels: Gauge<'model' | 'version'>;
  readonly predictRuntime: Gauge<'runtime' | 'requested'>;
  readonly runtimeFallbacks: Counter<'scope' | 'reason'>;
  readonly tensors: Gauge;
  readonly processRss: Gauge;
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event-loop lag, GC). Default true. */
  readonly defaultMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions = {}): AppMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency from arrival to the last byte sent, by route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers,
    }),
    predictions: new Counter({
      name: 'cxr_predictions_total',
      help: 'Images classified, by model, version and predicted label',
      labelNames: ['model', 'version', 'label'] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: 'cxr_prediction_batch_size',
      help: 'Images per forward pass of the server-side prediction batcher',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    queueJobs: new Gauge({
      name: 'cxr_training_jobs',
      help: 'Training jobs by state (read from the queue at scrape time)',
      labelNames: ['state'] as const,
      registers,
    }),
    loadedModels: new Gauge({
      name: 'cxr_loaded_model_versions',
      help: 'Model versions loaded in this API process (1 per loaded version)',
      labelNames: ['model', 'version'] as const,
      registers,
    }),
    predictRuntime: new Gauge({
      name: 'cxr_predict_runtime',
      help: 'What runs predictions in this process (1 on the runtime in use), and what PREDICT_RUNTIME asked for',
      labelNames: ['runtime', 'requested'] as const,
      registers,
    }),
    runtimeFallbacks: new Counter({
      name: 'cxr_predict_runtime_fallbacks_total',
      help: 'Times predictions fell back to TensorFlow.js: scope process (onnxruntime did not load) or version (its model.onnx is absent, broken or disagrees)',
      labelNames: ['scope', 'reason'] as const,
      registers,
    }),
    tensors: new Gauge({
      name: 'cxr_tfjs_tensors',
      help: 'TensorFlow.js tensors alive in this process (tf.memory().numTensors; grows only on a leak)',
      registers,
    }),
    processRss: new Gauge({
      name: 'cxr_process_resident_memory_bytes',
      help: 'Resident set size of this process (process.memoryUsage.rss()), with or without the default process metrics',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    }),
  };
}
