import type { Redis } from 'ioredis';
import type { Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';

/**
 * Model events on Redis pub/sub: every API replica subscribes and (re)loads models when an alias
 * moves or a version appears or goes. Published by the models service (alias moves, deletes) and
 * by training (a new version).
 */
export const modelEventsChannel = (prefix: string): string => `${prefix}:model-events`;

export type ModelEvent =
  | { type: 'alias-moved'; name: string; alias: string; version: number | null; previous: number | null }
  | { type: 'version-published'; name: string; version: number }
  | { type: 'version-deleted'; name: string; version: number };

/** Publishes an event; never throws (a Redis outage must not fail the change itself): logs and returns. */
export async function publishModelEvent(
  redis: Redis,
  prefix: string,
  event: ModelEvent,
  log?: Pick<Logger, 'warn'>,
): Promise<void> {
  try {
    await withTimeout(redis.publish(modelEventsChannel(prefix), JSON.stringify(event)), 2000, () => new Error('publish timed out'));
  } catch (err) {
    log?.warn({ err, event }, 'could not publish model event (Redis unavailable?)');
  }
}

/** Parses a message from the channel; null for anything that is not a well-formed event. */
export function parseModelEvent(message: string): ModelEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const e = v as Record<string, unknown>;
  if (typeof e.name !== 'string') return null;
  const version = (x: unknown) => x === null || (Number.isSafeInteger(x) && (x as number) >= 1);
  switch (e.type) {
    case 'alias-moved':
      return typeof e.alias === 'string' && version(e.version) && version(e.previous ?? null)
        ? { type: 'alias-moved', name: e.name, alias: e.alias, version: e.version as number | null, previous: (e.previous ?? null) as number | null }
        : null;
    case 'version-published':
    case 'version-deleted':
      return Number.isSafeInteger(e.version) ? { type: e.type, name: e.name, version: e.version as number } : null;
    default:
      return null;
  }
}
