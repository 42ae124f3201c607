import { spawnSync } from 'node:child_process';
import { redisAnswers, TEST_REDIS_URL } from './redis.ts';

/** Runs once before the suite: says loudly which engine the tests use, and checks Redis. */
export default async function setup(): Promise<void> {
  let engine = 'wasm (tfjs-node not loadable)';
  if (process.env.ENGINE === 'wasm') {
    engine = 'wasm (forced by ENGINE=wasm)';
  } else {
    const r = spawnSync(process.execPath, ['-e', "require('@tensorflow/tfjs-node')"], {
      cwd: process.cwd(),
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    });
    if (r.status === 0) engine = 'tensorflow (tfjs-node on libtensorflow)';
  }
  const line = `TEST ENGINE: ${engine}`;
  console.log(`\n${'='.repeat(line.length + 4)}\n| ${line} |\n${'='.repeat(line.length + 4)}\n`);
  if (!(await redisAnswers())) {
    throw new Error(`No Redis answers at ${TEST_REDIS_URL}; start one (.ci/run does) or set REDIS_URL`);
  }
}
