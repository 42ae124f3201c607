import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { TrainingJobData, TrainingJobProgress, TrainingJobResult } from './names.ts';
import { randomId } from '../domain/random-id.ts';

/**
 * Training jobs read out of BullMQ as plain records, each in ONE atomic step: a Lua script reads
 * the job's hash and the state set that holds it together, so a record can never pair a state with
 * the fields of an earlier moment (e.g. "failed" without its failure reason).
 */

export type QueueState = 'waiting' | 'delayed' | 'prioritized' | 'waiting-children' | 'active' | 'completed' | 'failed' | 'unknown';
/** The BullMQ sets a listing can read: lists (wait, active) and sorted sets (the rest). */
export type ListableState = 'waiting' | 'delayed' | 'prioritized' | 'waiting-children' | 'active' | 'completed' | 'failed';

export const QUEUED_STATES: readonly ListableState[] = ['waiting', 'delayed', 'prioritized', 'waiting-children'];

export interface JobRecord {
  readonly id: string;
  /** The BullMQ job name: 'train' (TRAIN_JOB_NAME) or 'evaluate' (EVALUATE_JOB_NAME); absent means 'train'. */
  readonly name?: string;
  readonly state: QueueState;
  readonly data: TrainingJobData;
  readonly progress: TrainingJobProgress | null;
  readonly result: TrainingJobResult | null;
  readonly failedReason: string | null;
  readonly attemptsMade: number;
  readonly attemptsStarted: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  readonly processedOn: number | null;
  readonly finishedOn: number | null;
}

/** A fresh job id, `job_` + 16 base32 characters (80 random bits); see JOB_ID_PATTERN. */
export function newJobId(): string {
  return randomId('job_');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function json(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

const int = (text: string | undefined): number | null => {
  const n = text === undefined ? NaN : Number.parseInt(text, 10);
  return Number.isFinite(n) ? n : null;
};

/**
 * A record from the fields of a BullMQ job hash (as HGETALL returns them; BullMQ stores data,
 * opts, progress and returnvalue as JSON, attempts as atm/ats).
 */
export function recordFromHash(id: string, hash: Readonly<Record<string, string>>, state: QueueState): JobRecord {
  const progress = json(hash.progress);
  const result = json(hash.returnvalue);
  const opts = json(hash.opts);
  const attempts = isObject(opts) && Number.isSafeInteger(opts.attempts) ? (opts.attempts as number) : 1;
  return {
    id,
    ...(hash.name !== undefined ? { name: hash.name } : {}),
    state,
    data: (json(hash.data) ?? {}) as TrainingJobData,
    progress: isObject(progress) ? (progress as unknown as TrainingJobProgress) : null,
    result: isObject(result) ? (result as unknown as TrainingJobResult) : null,
    failedReason: hash.failedReason || null,
    attemptsMade: int(hash.atm ?? hash.attemptsMade) ?? 0,
    attemptsStarted: int(hash.ats) ?? 0,
    maxAttempts: attempts,
    createdAt: int(hash.timestamp) ?? 0,
    processedOn: int(hash.processedOn) || null,
    finishedOn: int(hash.finishedOn) || null,
  };
}

// KEYS: the job hash, then completed, failed, delayed, prioritized, waiting-children (sorted sets),
// active, wait, paused (lists). ARGV[1]: the job id. Returns false, or {state, HGETALL}.
const READ_JOB = `
local rcall = redis.call
if rcall('TYPE', KEYS[1]).ok ~= 'hash' then return false end
local id = ARGV[1]
local state = 'unknown'
if rcall('ZSCORE', KEYS[2], id) then state = 'completed'
elseif rcall('ZSCORE', KEYS[3], id) then state = 'failed'
elseif rcall('ZSCORE', KEYS[4], id) then state = 'delayed'
elseif rcall('ZSCORE', KEYS[5], id) then state = 'prioritized'
elseif rcall('ZSCORE', KEYS[6], id) then state = 'waiting-children'
elseif rcall('LPOS', KEYS[7], id) then state = 'active'
elseif rcall('LPOS', KEYS[8], id) or rcall('LPOS', KEYS[9], id) then state = 'waiting'
end
return {state, rcall('HGETALL', KEYS[1])}
`;

// KEYS[1]: a state's list or sorted set. ARGV: the job key prefix, 'list' or 'zset', start, end.
// Returns {id1, HGETALL1, id2, HGETALL2, ...}, newest first, skipping ids whose hash is gone.
const LIST_JOBS = `
local rcall = redis.call
local ids
if ARGV[2] == 'list' then ids = rcall('LRANGE', KEYS[1], ARGV[3], ARGV[4])
else ids = rcall('ZRANGE', KEYS[1], ARGV[3], ARGV[4], 'REV') end
local out = {}
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  if rcall('TYPE', key).ok == 'hash' then
    out[#out + 1] = id
    out[#out + 1] = rcall('HGETALL', key)
  end
end
return out
`;

interface RecordCommands {
  cxrReadJob(...args: string[]): Promise<[string, string[]] | null>;
  cxrListJobs(...args: string[]): Promise<(string | string[])[]>;
}

const STATE_KEY: Record<ListableState, string> = {
  waiting: 'wait',
  active: 'active',
  delayed: 'delayed',
  prioritized: 'prioritized',
  'waiting-children': 'waiting-children',
  completed: 'completed',
  failed: 'failed',
};

function fields(flat: readonly string[]): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

const QUEUE_STATES = new Set<string>(['waiting', 'delayed', 'prioritized', 'waiting-children', 'active', 'completed', 'failed']);

export interface JobRecordReader {
  /** The job's record, or null when no job hash has that id. One atomic read. */
  get(id: string): Promise<JobRecord | null>;
  /** Jobs in one state, newest first, positions start..end (inclusive, -1 = the last). Atomic. */
  list(state: ListableState, start: number, end: number): Promise<JobRecord[]>;
}

export function createJobRecordReader(redis: Redis, queue: Queue): JobRecordReader {
  const r = redis as Redis & RecordCommands;
  if (!(r as Partial<RecordCommands>).cxrReadJob) {
    redis.defineCommand('cxrReadJob', { numberOfKeys: 9, lua: READ_JOB });
    redis.defineCommand('cxrListJobs', { numberOfKeys: 1, lua: LIST_JOBS });
  }
  const k = queue.keys;
  return {
    async get(id) {
      const reply = await r.cxrReadJob(
        queue.toKey(id),
        k.completed!, k.failed!, k.delayed!, k.prioritized!, k['waiting-children']!, k.active!, k.wait!, k.paused!,
        id,
      );
      if (!reply) return null;
      const [state, flat] = reply;
      return recordFromHash(id, fields(flat), QUEUE_STATES.has(state) ? (state as QueueState) : 'unknown');
    },
    async list(state, start, end) {
      const kind = state === 'waiting' || state === 'active' ? 'list' : 'zset';
      const reply = await r.cxrListJobs(k[STATE_KEY[state]]!, queue.toKey(''), kind, String(start), String(end));
      const out: JobRecord[] = [];
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const id = reply[i] as string;
        out.push(recordFromHash(id, fields(reply[i + 1] as string[]), state));
      }
      return out;
    },
  };
}
