/**
 * glibc returns big activation buffers to the OS after every op unless these are set; tfjs-node
 * trains ~2x faster with them. The price is that freed memory is never given back, so only the
 * processes that train get them: glibc reads them at process start, so the launchers of training
 * (the worker's sandbox fork, the training CLI, vitest) put them in the environment of the process
 * they spawn, and `npm start` keeps them away from the API and the worker's parent.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: '4000000000',
  MALLOC_TRIM_THRESHOLD_: '4000000000',
});

export function hasMallocEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.entries(MALLOC_ENV).every(([k, v]) => env[k] === v);
}

/** `env` without the training malloc setting (values a user set differently are kept). */
export function withoutMallocEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [k, v] of Object.entries(MALLOC_ENV)) if (out[k] === v) delete out[k];
  return out;
}
