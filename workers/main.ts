/**
 * Training worker entrypoint (`npm run worker`): config -> engine (logged loudly) -> leftovers of
 * crashed publishes cleaned -> BullMQ worker with the sandboxed processor. SIGTERM/SIGINT: the
 * running job stops within one batch and fails as 'interrupted: worker shut down' (BullMQ retries
 * it with backoff while attempts remain, on any worker), the worker closes, Redis closes, exit 0.
 * A second signal (more than a second after the first), or a shutdown longer than 30 s, exits 1.
 */
import pino from 'pino';
import { ConfigError, loadConfig } from '../src/config.ts';
import { hasMallocEnv } from '../src/malloc-env.ts';
import { initEngine } from '../src/ml/engine.ts';
import { createModelRegistry } from '../src/storage/model-registry.ts';
import { startTrainingWorker } from './worker.ts';

const SHUTDOWN_DEADLINE_MS = 30_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.logLevel, base: { proc: 'worker', pid: process.pid } });
  const engine = await initEngine();
  const banner = `TRAINING ENGINE: ${engine.description}${engine.fallbackReason ? ` -- FALLBACK: ${engine.fallbackReason}` : ''}`;
  process.stderr.write(`\n${'='.repeat(banner.length + 4)}\n| ${banner} |\n${'='.repeat(banner.length + 4)}\n\n`);
  log.info({ engine: engine.name, tfjs: engine.tfjsVersion, fallbackReason: engine.fallbackReason, mallocSetting: hasMallocEnv() }, 'engine');
  if (engine.name !== 'tensorflow') log.warn({ reason: engine.fallbackReason }, 'training on the wasm backend: about 3x slower than tfjs-node');

  const registry = createModelRegistry({ dataDir: config.dataDir });
  const cleaned = await registry.cleanupStaging().catch((err: unknown) => {
    log.warn({ err }, 'could not clean staging leftovers');
    return 0;
  });
  if (cleaned > 0) log.info({ cleaned }, 'removed leftovers of interrupted publishes');

  const trainer = startTrainingWorker({ config, logger: log });
  await trainer.worker.waitUntilReady().catch(() => {});
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

  let stoppingSince = 0;
  const stop = (signal: NodeJS.Signals) => {
    if (stoppingSince > 0) {
      // npm and tsx pass a terminal's Ctrl-C on as well: copies within a second are the same press.
      if (Date.now() - stoppingSince < 1000) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'shutting down: interrupting the current job (it is retried elsewhere)');
    setTimeout(() => {
      log.error({}, `shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms: exiting`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    trainer.shutdown().then(
      () => {
        log.info({}, 'worker stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
