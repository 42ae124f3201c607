/**
 * Rejects with `onTimeout()` unless `p` settles within `ms`, so no caller waits on a peer that
 * stopped answering. The timer never keeps the process alive.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error = () => new Error(`timed out after ${ms} ms`)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
