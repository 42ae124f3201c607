/**
 * The event-stream route's own behaviour, against a scripted job service: frames, heartbeats,
 * the end of the stream, and that a client disconnect or a server close stops reading the job.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { errorHandlerPlugin } from '../../src/http/plugins/error-handler.ts';
import trainingJobsRoutes from '../../src/http/training-jobs/routes.ts';
import type { TrainingJobEvent, TrainingJobService, TrainingJobView } from '../../src/services/training-jobs.ts';

const ID = 'job_bbbbbbbbbbbbbbbb';
const view = { id: ID, status: 'running' } as unknown as TrainingJobView;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(events: (signal: AbortSignal) => AsyncIterable<TrainingJobEvent>, heartbeatMs = 100) {
  const jobs = {
    get: async (id: string) => {
      if (id !== ID) throw new AppError('JOB_NOT_FOUND', 'no such job');
      return view;
    },
    events: (_id: string, signal: AbortSignal) => events(signal),
  } as unknown as TrainingJobService;
  // undici (fetch) may open a spare connection that never sends a request; Node's close waits for it.
  app = Fastify({ forceCloseConnections: true });
  await app.register(errorHandlerPlugin);
  await app.register(trainingJobsRoutes, { deps: { jobs }, sseHeartbeatMs: heartbeatMs });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

async function readAll(res: Response): Promise<string> {
  return new TextDecoder().decode(await res.arrayBuffer());
}

describe('GET /v1/training-jobs/:id/events', () => {
  it('sends SSE frames with event names and JSON data, heartbeats while idle, and ends with the job', async () => {
    const base = await start(async function* () {
      yield { type: 'status', data: view };
      await new Promise((r) => setTimeout(r, 350));
      yield { type: 'progress', data: { jobId: ID, epoch: 1 } as never };
      yield { type: 'completed', data: { ...view, status: 'completed' } };
    });
    const res = await fetch(`${base}/v1/training-jobs/${ID}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toMatch(/no-cache/);
    const text = await readAll(res);
    expect(text).toMatch(/^retry: 2000\n\n/);
    expect(text).toContain(`event: status\nid: 1\ndata: ${JSON.stringify(view)}\n\n`);
    expect(text).toContain('event: progress\nid: 2\ndata: {"jobId"');
    expect(text).toMatch(/event: completed\nid: 3\ndata: \{.*"status":"completed".*\}\n\n$/);
    expect(text).toContain(': heartbeat\n\n');
  });

  it('answers 404 as JSON before streaming for an unknown job', async () => {
    const base = await start(async function* () {});
    const res = await fetch(`${base}/v1/training-jobs/job_zzzzzzzzzzzzzzzz/events`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
  });

  it('stops reading the job when the client disconnects', async () => {
    let aborted!: () => void;
    const stopped = new Promise<void>((r) => (aborted = r));
    const base = await start(async function* (signal) {
      yield { type: 'status', data: view };
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted();
    });
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/training-jobs/${ID}/events`, { signal: ac.signal });
    await res.body!.getReader().read();
    ac.abort();
    await stopped; // the service's signal fired
  });

  it('does not hold up server close', async () => {
    const base = await start(async function* (signal) {
      yield { type: 'status', data: view };
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    });
    const res = await fetch(`${base}/v1/training-jobs/${ID}/events`);
    const reader = res.body!.getReader();
    await reader.read();
    const t0 = Date.now();
    await app!.close();
    app = undefined;
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
