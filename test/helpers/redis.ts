import net from 'node:net';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function redisAnswers(url = TEST_REDIS_URL, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = net.connect({ host: hostname, port: Number(port || 6379) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/** A BullMQ prefix no other test file uses, so files never see each other's jobs. */
export function uniquePrefix(file: string): string {
  const base = file.split('/').pop()?.replace(/\W+/g, '-') ?? 'test';
  return `test-${base}-${process.pid}-${Date.now().toString(36)}`;
}
