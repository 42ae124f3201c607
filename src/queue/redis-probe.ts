import net from 'node:net';

/**
 * What answers a PING at a redis:// URL's host and port, over a bare socket (no client library, no
 * retries): 'pong', 'error-reply' (a Redis that refuses us, e.g. -NOAUTH), or 'none' (nothing
 * listening, not speaking Redis, or no answer within the timeout).
 */
export type RedisProbe = 'pong' | 'error-reply' | 'none';

export function probeRedis(url: string | URL, timeoutMs = 1000): Promise<RedisProbe> {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol !== 'redis:') return Promise.resolve('none');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const sock = net.connect({ host, port: Number(u.port || 6379) });
    const done = (result: RedisProbe) => {
      sock.destroy();
      resolve(result);
    };
    sock.setTimeout(timeoutMs, () => done('none'));
    sock.once('error', () => done('none'));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => {
      const text = d.toString('latin1');
      done(text.startsWith('+PONG') ? 'pong' : text.startsWith('-') ? 'error-reply' : 'none');
    });
  });
}
