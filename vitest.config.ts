import { defineConfig } from 'vitest/config';
import { MALLOC_ENV } from './src/malloc-env.ts';

// Test worker processes are forked after this runs, so they start with the faster malloc setting.
Object.assign(process.env, MALLOC_ENV);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: files run one at a time so CPU-bound training tests don't starve each other.
    fileParallelism: false,
    pool: 'forks',
  },
});
