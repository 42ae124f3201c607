import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../app.ts';
import type { TrainingJobEvent } from '../../services/training-jobs.ts';
import { errorResponses } from '../schemas/error.ts';
import { typeboxValidator } from '../schemas/validator.ts';
import { CreateJobBody, JobList, JobParams, JobView, ListQuery } from './schemas.ts';

const tags = ['training-jobs'];

export interface TrainingJobRoutesOptions {
  deps: AppDeps;
  /** SSE comment lines keep proxies from closing an idle stream; default 15 s. */
  sseHeartbeatMs?: number;
}

function sseFrame(event: TrainingJobEvent, seq: number): string {
  return `event: ${event.type}\nid: ${seq}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** Training jobs: submit, list, inspect, follow (Server-Sent Events), cancel. Admin only. */
export default async function trainingJobsRoutes(app: FastifyInstance, opts: TrainingJobRoutesOptions): Promise<void> {
  const { jobs } = opts.deps;
  const heartbeatMs = opts.sseHeartbeatMs ?? 15_000;
  app.setValidatorCompiler(typeboxValidator);

  // Open event streams end when the server closes, so close() does not wait for them.
  const streams = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort();
  });

  app.post('/v1/training-jobs', {
    config: { auth: 'admin' },
    // The body is checked by the service with the shared parameter schema (every problem named,
    // unknown fields refused, no type coercion); the schema here documents it.
    validatorCompiler: () => () => true,
    schema: {
      tags,
      summary: 'Submit a training job',
      description:
        'Validates every parameter (types, ranges, unknown fields) and that the dataset exists, then queues the job ' +
        '(payload: ids and parameters only). Answers 202 with the job and its Location. 503 QUEUE_UNAVAILABLE at once ' +
        'when Redis is down.',
      operationId: 'createTrainingJob',
      body: CreateJobBody,
      response: { 202: JobView, ...errorResponses(400, 404, 415, 503) },
    },
    handler: async (request, reply) => {
      const view = await jobs.submit(request.body);
      request.log.info({ jobId: view.id, datasetId: view.datasetId, model: view.model.name }, 'training job queued');
      return reply.code(202).header('location', `/v1/training-jobs/${view.id}`).send(view);
    },
  });

  app.get<{ Querystring: ListQuery }>('/v1/training-jobs', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'List training jobs',
      description: 'Newest first; filter by status.',
      operationId: 'listTrainingJobs',
      querystring: ListQuery,
      response: { 200: JobList, ...errorResponses(400, 503) },
    },
    handler: async (request) => ({
      jobs: await jobs.list({
        ...(request.query.status ? { status: request.query.status } : {}),
        ...(request.query.limit ? { limit: request.query.limit } : {}),
      }),
    }),
  });

  app.get<{ Params: JobParams }>('/v1/training-jobs/:id', {
    config: { auth: 'admin' },
    schema: {
      tags,
      summary: 'Get a training job',
      description: 'Status, progress (epoch, batch, loss and accuracy so far, images/s, ETA), history per epoch, and the result or error.',
      operationId: 'getTrainingJob',
      params: JobParams,
      response: { 200: JobView, ...errorResponses(400, 404, 503) },
    },
    handler: async (request) => jobs.get(request.params.id),
  });

  app.get<{ Params: JobParams }>('/v1/training-jobs/:id/events', {
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
      produces: ['text/event-stream'],
      response: {
        200: { description: 'Event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        ...errorResponses(400, 404, 503),
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

  app.post<{ Params: JobParams }>('/v1/training-jobs/:id/cancel', {
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
      response: { 200: JobView, 202: JobView, ...errorResponses(400, 404, 409, 503) },
    },
    handler: async (request, reply) => {
      const view = await jobs.cancel(request.params.id);
      request.log.info({ jobId: view.id, status: view.status }, 'training job cancel requested');
      return reply.code(view.status === 'cancelled' ? 200 : 202).send(view);
    },
  });
}
