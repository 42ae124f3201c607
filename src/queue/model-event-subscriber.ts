import type { Redis } from 'ioredis';
import { silentLogger, type Logger } from '../domain/logger.ts';
import { withTimeout } from '../domain/with-timeout.ts';
import { closeRedis, type RedisFactory } from './connection.ts';
import { modelEventsChannel, parseModelEvent, type ModelEvent } from './model-events.ts';

/**
 * The model-events subscription, behind the small interface the prediction service takes. It owns
 * one subscriber connection; ioredis re-subscribes by itself after an outage, and `onResync` then
 * tells the listener that events may have been missed meanwhile.
 */
export interface ModelEventHandlers {
  onEvent(event: ModelEvent): void;
  /** The connection came back after a loss: re-check everything. */
  onResync(): void;
}

export interface ModelEventSource {
  /** Subscribes; resolves once subscribed, or after a timeout while Redis is down (it keeps trying). */
  start(handlers: ModelEventHandlers): Promise<void>;
  close(): Promise<void>;
}

const SUBSCRIBE_TIMEOUT_MS = 2000;

export function createModelEventSubscriber(opts: { redis: RedisFactory; prefix: string; logger?: Logger }): ModelEventSource {
  const log = opts.logger ?? silentLogger;
  const channel = modelEventsChannel(opts.prefix);
  let sub: Redis | undefined;
  let closed = false;
  return {
    async start(handlers) {
      if (sub || closed) return;
      const conn = opts.redis('subscriber');
      sub = conn;
      conn.on('message', (ch: string, message: string) => {
        if (ch !== channel) return;
        const event = parseModelEvent(message);
        if (event) handlers.onEvent(event);
        else log.warn({ channel }, 'ignored a malformed model event');
      });
      let connectedBefore = false;
      conn.on('ready', () => {
        if (connectedBefore) handlers.onResync();
        connectedBefore = true;
      });
      try {
        await withTimeout(conn.subscribe(channel), SUBSCRIBE_TIMEOUT_MS, () => new Error('subscribe timed out'));
      } catch (err) {
        // The offline queue holds the SUBSCRIBE; ioredis sends it when Redis is back.
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'model events unavailable (Redis down?); relying on the periodic re-check');
      }
    },
    async close() {
      closed = true;
      if (sub) await closeRedis(sub);
      sub = undefined;
    },
  };
}
