import { PassThrough } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TrainingJobEvent, TrainingJobService } from '../../services/training-jobs.ts';
import { BODY_TOO_LARGE, errorResponses, JSON_TOO_DEEP, type ErrorExample } from '../schemas/error.ts';
import { EXAMPLE_DATASET_ID, EXAMPLE_JOB_ID } from '../schemas/examples.ts';
import { formatValidationErrors } from '../schemas/validator.ts';
import {
  CreateJobBody,
  EVENTS_EXAMPLE,
  JobCancelled,
  JobFound,
  JobParams,
  JobQueued,
  JobsListed,
  JobStopping,
  ListQuery,
} from './schemas.ts';

const tags = ['training-jobs'];

const BAD_JOB_ID: ErrorExample = { code: 'VALIDATION_FAILED', message: 'params/id: must match ^job_[a-z2-7]{16}$ (got "job 7")', details: { errors: ['params/id: must match ^job_[a-z2-7]{16}$ (got "job 7")'] } };
const JOB_NOT_FOUND: ErrorExample = { code: 'JOB_NOT_FOUND', message: `Training job "${EXAMPLE_JOB_ID}" not found` };
const QUEUE_DOWN: ErrorExample = { code: 'QUEUE_UNAVAILABLE', message: 'The job queue (Redis) is unavailable; try again shortly' };

/** What these routes use of the training-job service. */
export interface TrainingJobRouteDeps {
  readonly jobs: Pick<TrainingJobService, 'submit' | 'get' | 'list' | 'cancel' | 'events'>;
}

export interface TrainingJobRoutesOptions {
  deps: TrainingJobRouteDeps;
  /** SSE comment lines keep proxies from closing an idle stream; default 15 s. */
  sseHeartbeatMs?: number;
}

function sseFrame(event: TrainingJobEvent, seq: number): string {
  return `event: ${event.type}\nid: ${seq}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** Training jobs: submit, list, inspect, follow (Server-Sent Events), cancel. Admin only. */
export default async function trainingJobsRoutes(fastify: FastifyInstance, opts: TrainingJobRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { jobs } = opts.deps;
  const heartbeatMs = opts.sseHeartbeatMs ?? 15_000;

  // Open event streams end when the server closes, so close() does not wait for them.
  const streams = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort();
  });

  app.post('/v1/training-jobs', {
    config: { auth: 'admin' },
    // The shared parameter schema: every problem named, unknown fields refused, no type coercion.
    schemaErrorFormatter: (errors, dataVar) => formatValidationErrors(errors, dataVar, 'Invalid training job: '),
    schema: {
      tags,
      summary: 'Submit a training job',
      description:
        'Validates every parameter (types, ranges, unknown fields) and that the dataset exists, then queues the job ' +
        '(payload: ids and parameters only). Answers 202 with the job and its Location. 503 QUEUE_UNAVAILABLE at once ' +
        'when Redis is down.',
      operationId: 'createTrainingJob',
      body: CreateJobBody,
      response: {
        202: { ...JobQueued, headers: { location: Type.String({ examples: [`/v1/training-jobs/${EXAMPLE_JOB_ID}`] }) } },
        ...errorResponses({
          400: [
            {
              code: 'VALIDATION_FAILED',
              message: 'Invalid training job: body/epochs: must be an integer >= 1 and <= 200 (got 500)',
              details: { errors: ['body/epochs: must be an integer >= 1 and <= 200 (got 500)'] },
            },
            JSON_TOO_DEEP,
          ],
          413: BODY_TOO_LARGE,
          404: { code: 'DATASET_NOT_FOUND', message: `dataset "${EXAMPLE_DATASET_ID}" not found` },
          415: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Unsupported Media Type' },
          422: {
            code: 'TRAINING_TOO_LARGE',
            message:
              'Training with inputSize 512, filterMultiplier 8, batchSize 256 needs about 155.0 GB, more than the 8.6 GB training memory ' +
              'budget (TRAINING_MEMORY_BUDGET); use a smaller batchSize, inputSize or filterMultiplier',
            details: { estimatedBytes: 155_045_914_896, budgetBytes: 8_600_000_000 },
          },
          503: QUEUE_DOWN,
        }),
      },
    },
    handler: async (request, reply) => {
      const view = await jobs.submit(request.body);
      request.log.info({ jobId: view.id, datasetId: view.datasetId, model: view.model.name }, 'training job queued');
      return reply.code(202).header('location', `/v1/training-jobs/${view.id}`).send(view);
    },
  });

  app.get('/v1/training-jobs', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'List training jobs',
      description: 'Newest first; filter by status.',
      operationId: 'listTrainingJobs',
      querystring: ListQuery,
      response: {
        200: JobsListed,
        ...errorResponses({ 400: { code: 'VALIDATION_FAILED', message: 'querystring/status: must be one of "queued", "running", "completed", "failed", "cancelled" (got "done")', details: { errors: ['querystring/status: must be one of "queued", "running", "completed", "failed", "cancelled" (got "done")'] } }, 503: QUEUE_DOWN }),
      },
    },
    handler: async (request) => ({
      jobs: await jobs.list({
        ...(request.query.status ? { status: request.query.status } : {}),
        ...(request.query.limit ? { limit: request.query.limit } : {}),
      }),
    }),
  });

  app.get('/v1/training-jobs/:id', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Get a training job',
      description: 'Status, progress (epoch, batch, loss and accuracy so far, images/s, ETA), history per epoch, and the result or error.',
      operationId: 'getTrainingJob',
      params: JobParams,
      response: { 200: JobFound, ...errorResponses({ 400: BAD_JOB_ID, 404: JOB_NOT_FOUND, 503: QUEUE_DOWN }) },
    },
    handler: async (request) => jobs.get(request.params.id),
  });

  app.get('/v1/training-jobs/:id/events', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Follow a training job (Server-Sent Events)',
      description:
        'text/event-stream of `status` (first, with the whole job, and on every status change), `progress` (throttled ' +
        'to a few per second; `epochMetrics` when an epoch finished) and finally one of `completed`, `failed`, ' +
        '`cancelled` with the whole job, after which the stream ends. Comment lines every 15 s keep it alive.',
      operationId: 'followTrainingJob',
      params: JobParams,
      // Only the 200 is an event stream (its content below); errors before the stream starts are JSON.
      response: {
        200: {
          description:
            'Event stream. Each event has `event:` (status, progress, completed, failed, cancelled), `id:` and one `data:` line of ' +
            'JSON: the whole job for status and the final event (as GET /v1/training-jobs/{id}), the progress object plus `jobId` ' +
            '(and `epochMetrics` when an epoch finished) for progress.',
          content: { 'text/event-stream': { schema: { type: 'string' }, example: EVENTS_EXAMPLE } },
        },
        ...errorResponses({ 400: BAD_JOB_ID, 404: JOB_NOT_FOUND, 503: QUEUE_DOWN }),
      },
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      await jobs.get(id); // 404 / 503 as JSON before the stream starts
      const abort = new AbortController();
      streams.add(abort);
      const out = new PassThrough();
      // The client went away (or the server is closing): stop reading the job.
      out.on('close', () => abort.abort());
      const heartbeat = setInterval(() => out.write(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();
      void (async () => {
        let seq = 0;
        try {
          out.write('retry: 2000\n\n');
          for await (const event of jobs.events(id, abort.signal)) {
            if (abort.signal.aborted) break;
            out.write(sseFrame(event, ++seq));
          }
        } catch (err) {
          request.log.warn({ err, jobId: id }, 'training job event stream failed');
          out.write(`event: error\ndata: ${JSON.stringify({ error: { code: 'QUEUE_UNAVAILABLE', message: 'The job queue became unavailable' } })}\n\n`);
        } finally {
          clearInterval(heartbeat);
          streams.delete(abort);
          out.end();
        }
      })();
      return reply
        .code(200)
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .send(out);
    },
  });

  app.post('/v1/training-jobs/:id/cancel', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Cancel a training job',
      description:
        'A queued job is removed and answered as cancelled (200). A running job stops within one batch and publishes ' +
        'nothing: 200 once it has stopped, or 202 with cancelRequested=true if it is still stopping after a few seconds. ' +
        'A finished job: 409 JOB_FINISHED.',
      operationId: 'cancelTrainingJob',
      params: JobParams,
      response: {
        200: JobCancelled,
        202: JobStopping,
        ...errorResponses({
          400: BAD_JOB_ID,
          404: JOB_NOT_FOUND,
          409: { code: 'JOB_FINISHED', message: `Training job ${EXAMPLE_JOB_ID} has already completed`, details: { status: 'completed' } },
          503: QUEUE_DOWN,
        }),
      },
    },
    handler: async (request, reply) => {
      const view = await jobs.cancel(request.params.id);
      request.log.info({ jobId: view.id, status: view.status }, 'training job cancel requested');
      return reply.code(view.status === 'cancelled' ? 200 : 202).send(view);
    },
  });
}
