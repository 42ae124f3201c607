import { defineConfig } from 'vitest/config';

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
