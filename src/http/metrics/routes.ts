import type { FastifyInstance } from 'fastify';
import type { AppMetrics } from '../../metrics.ts';
import type { PredictionService } from '../../services/predictions.ts';
import type { TrainingJobService } from '../../services/training-jobs.ts';
import { errorResponses } from '../schemas/error.ts';

const SCRAPE_REFRESH_MS = 1000;

const histogram = (name: string, labels: string, buckets: readonly [string, number][], sum: number) => {
  const l = labels ? `,${labels}` : '';
  const total = buckets[buckets.length - 1]![1];
  return [
    ...buckets.map(([le, n]) => `${name}_bucket{le="${le}"${l}} ${n}`),
    `${name}_sum${labels ? `{${labels}}` : ''} ${sum}`,
    `${name}_count${labels ? `{${labels}}` : ''} ${total}`,
  ];
};

/** An excerpt of a scrape of an API replica serving version 3 (the openapi test checks every metric named here exists). */
const METRICS_EXAMPLE = [
  '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
  '# TYPE process_cpu_seconds_total counter',
  'process_cpu_seconds_total 1843.27',
  '# HELP process_resident_memory_bytes Resident memory size in bytes.',
  '# TYPE process_resident_memory_bytes gauge',
  'process_resident_memory_bytes 612696064',
  '# HELP http_request_duration_seconds HTTP request latency from arrival to the last byte sent, by route template and status',
  '# TYPE http_request_duration_seconds histogram',
  ...histogram(
    'http_request_duration_seconds',
    'method="POST",route="/v1/predict",status="200"',
    [
      ['0.002', 0],
      ['0.005', 0],
      ['0.01', 0],
      ['0.025', 1174],
      ['0.05', 8902],
      ['0.1', 11630],
      ['0.25', 12021],
      ['0.5', 12040],
      ['1', 12043],
      ['2.5', 12043],
      ['5', 12043],
      ['10', 12043],
      ['30', 12043],
      ['120', 12043],
      ['+Inf', 12043],
    ],
    548.913,
  ),
  '# HELP cxr_predictions_total Images classified, by model, version and predicted label',
  '# TYPE cxr_predictions_total counter',
  'cxr_predictions_total{model="chestxraynet",version="3",label="NORMAL"} 9127',
  'cxr_predictions_total{model="chestxraynet",version="3",label="PNEUMONIA"} 6581',
  '# HELP cxr_prediction_batch_size Images per forward pass of the server-side prediction batcher',
  '# TYPE cxr_prediction_batch_size histogram',
  ...histogram(
    'cxr_prediction_batch_size',
    '',
    [
      ['1', 2210],
      ['2', 3391],
      ['4', 5087],
      ['8', 6012],
      ['16', 6245],
      ['32', 6245],
      ['64', 6245],
      ['128', 6245],
      ['256', 6245],
      ['+Inf', 6245],
    ],
    15708,
  ),
  '# HELP cxr_training_jobs Training jobs by state (read from the queue at scrape time)',
  '# TYPE cxr_training_jobs gauge',
  'cxr_training_jobs{state="queued"} 0',
  'cxr_training_jobs{state="running"} 1',
  'cxr_training_jobs{state="completed"} 3',
  'cxr_training_jobs{state="failed"} 0',
  'cxr_training_jobs{state="cancelled"} 1',
  '# HELP cxr_loaded_model_versions Model versions loaded in this API process (1 per loaded version)',
  '# TYPE cxr_loaded_model_versions gauge',
  'cxr_loaded_model_versions{model="chestxraynet",version="3"} 1',
  '# HELP cxr_predict_runtime What runs predictions in this process (1 on the runtime in use), and what PREDICT_RUNTIME asked for',
  '# TYPE cxr_predict_runtime gauge',
  'cxr_predict_runtime{runtime="onnxruntime",requested="auto"} 1',
  '# HELP cxr_predict_runtime_fallbacks_total Times predictions fell back to TensorFlow.js: scope process (onnxruntime did not load) or version (its model.onnx is absent, broken or disagrees)',
  '# TYPE cxr_predict_runtime_fallbacks_total counter',
  'cxr_predict_runtime_fallbacks_total{scope="version",reason="no-model-onnx"} 1',
  '# HELP cxr_tfjs_tensors TensorFlow.js tensors alive in this process (tf.memory().numTensors; grows only on a leak)',
  '# TYPE cxr_tfjs_tensors gauge',
  'cxr_tfjs_tensors 118',
  '# HELP cxr_process_resident_memory_bytes Resident set size of this process (process.memoryUsage.rss()), with or without the default process metrics',
  '# TYPE cxr_process_resident_memory_bytes gauge',
  'cxr_process_resident_memory_bytes 612696064',
  '',
].join('\n');

/** What the scrape reads: the registry, the versions loaded here and the queue's job counts. */
export interface MetricsRouteDeps {
  readonly metrics: AppMetrics;
  readonly predictions: Pick<PredictionService, 'loaded' | 'tensorCount'>;
  readonly jobs: Pick<TrainingJobService, 'counts'>;
}

/** GET /metrics: Prometheus text exposition of this process's registry. */
export default async function metricsRoutes(app: FastifyInstance, opts: { deps: MetricsRouteDeps }): Promise<void> {
  const { metrics, jobs, predictions } = opts.deps;

  /** Gauges read from their sources at scrape time; a slow or absent Redis only leaves the job gauge stale. */
  async function refresh(): Promise<void> {
    metrics.loadedModels.reset();
    for (const m of predictions.loaded()) metrics.loadedModels.set({ model: m.name, version: String(m.version) }, 1);
    metrics.tensors.set(predictions.tensorCount());
    let timer: NodeJS.Timeout | undefined;
    try {
      const counts = await Promise.race([
        jobs.counts(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), SCRAPE_REFRESH_MS);
        }),
      ]);
      for (const [state, n] of Object.entries(counts)) metrics.queueJobs.set({ state }, n);
    } catch (err) {
      app.log.debug({ err }, 'job counts unavailable for this scrape');
    } finally {
      clearTimeout(timer);
    }
  }

  app.get('/metrics', {
    config: { auth: 'operational' },
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description:
        'Request latency per route, predictions by label, batch sizes, training jobs by state, loaded model versions, the predict ' +
        'runtime and its fallbacks, TensorFlow.js tensors alive, resident memory, process metrics.',
      operationId: 'getMetrics',
      // Only the 200 is text (its content below); errors are JSON like everywhere else.
      response: {
        200: {
          description: 'Prometheus text format 0.0.4 (Content-Type: text/plain; version=0.0.4; charset=utf-8)',
          content: { 'text/plain': { schema: { type: 'string' }, example: METRICS_EXAMPLE } },
        },
        ...errorResponses(),
      },
    },
    handler: async (_request, reply) => {
      await refresh();
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  });
}
