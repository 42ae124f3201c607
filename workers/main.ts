/**
 * Training worker entrypoint (`npm run worker`): config -> engine (logged loudly) -> leftovers of
 * crashed publishes cleaned -> BullMQ worker with the sandboxed processor. Stopping follows the
 * one rule set of src/process/shutdown.ts: a signal interrupts the running job within one batch (it
 * fails as 'interrupted: worker shut down' and BullMQ retries it with backoff while attempts
 * remain, on any worker), the worker and Redis close, exit 0. Invalid configuration exits 1.
 */
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { initEngine } from '../src/ml/engine.ts';
import { exitOnStartFailure, installShutdown } from '../src/process/shutdown.ts';
import { createModelRegistry } from '../src/storage/model-registry.ts';
import { startTrainingWorker } from './worker.ts';

const SHUTDOWN_TIMEOUT_MS = 30_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    exitOnStartFailure('worker configuration', err);
  }
  const log = pino({ level: config.logLevel, base: { proc: 'worker', pid: process.pid } });
  const engine = await initEngine();
  const banner = `TRAINING ENGINE: ${engine.description}${engine.fallbackReason ? ` -- FALLBACK: ${engine.fallbackReason}` : ''}`;
  process.stderr.write(`\n${'='.repeat(banner.length + 4)}\n| ${banner} |\n${'='.repeat(banner.length + 4)}\n\n`);
  log.info({ engine: engine.name, tfjs: engine.tfjsVersion, fallbackReason: engine.fallbackReason }, 'engine');
  if (engine.name !== 'tensorflow') log.warn({ reason: engine.fallbackReason }, 'training on the wasm backend: about 3x slower than tfjs-node');

  const registry = createModelRegistry({ dataDir: config.dataDir });
  const cleaned = await registry.cleanupStaging().catch((err: unknown) => {
    log.warn({ err }, 'could not clean staging leftovers');
    return 0;
  });
  if (cleaned > 0) log.info({ cleaned }, 'removed leftovers of interrupted publishes');

  const trainer = startTrainingWorker({ config, logger: log });
  installShutdown({
    log,
    timeoutMs: SHUTDOWN_TIMEOUT_MS,
    close: async () => {
      log.info({}, 'shutting down: interrupting the current job (it is retried elsewhere)');
      await trainer.shutdown();
      log.info({}, 'worker stopped');
    },
    beforeExit: () => log.flush(),
  });
  await trainer.worker.waitUntilReady().catch((err: unknown) => log.warn({ err }, 'worker not connected yet; it keeps trying'));
  log.info(
    {
      queue: 'training',
      prefix: config.queuePrefix,
      dataDir: config.dataDir,
      lockDurationMs: config.worker.lockDurationMs,
      stalledIntervalMs: config.worker.stalledIntervalMs,
    },
    'worker ready',
  );
}

main().catch((err: unknown) => exitOnStartFailure('worker failed to start', err));
