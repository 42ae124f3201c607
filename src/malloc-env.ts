/**
 * glibc returns big activation buffers to the OS after every op unless these are set; tfjs-node
 * trains ~2x faster with them. glibc reads them at process start, so launchers (npm start, the
 * worker's sandbox fork, the CLI, vitest) put them in the environment of the processes they spawn.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: '4000000000',
  MALLOC_TRIM_THRESHOLD_: '4000000000',
});

export function hasMallocEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.entries(MALLOC_ENV).every(([k, v]) => env[k] === v);
}
