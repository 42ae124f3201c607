import { describe, expect, it } from 'vitest';
import { enableOneDnn, initEngine } from '../../../src/ml/engine.ts';

describe('TF_ENABLE_ONEDNN_OPTS before tfjs-node loads', () => {
  it('turns oneDNN on when the environment does not say', () => {
    const env: NodeJS.ProcessEnv = {};
    enableOneDnn(env);
    expect(env.TF_ENABLE_ONEDNN_OPTS).toBe('1');
    const empty: NodeJS.ProcessEnv = { TF_ENABLE_ONEDNN_OPTS: '' };
    enableOneDnn(empty);
    expect(empty.TF_ENABLE_ONEDNN_OPTS).toBe('1');
  });

  it('keeps an explicit value, including 0', () => {
    const off: NodeJS.ProcessEnv = { TF_ENABLE_ONEDNN_OPTS: '0' };
    enableOneDnn(off);
    expect(off.TF_ENABLE_ONEDNN_OPTS).toBe('0');
  });

  it('is in the environment once the tensorflow engine is up', async () => {
    const before = process.env.TF_ENABLE_ONEDNN_OPTS;
    const engine = await initEngine();
    if (engine.name !== 'tensorflow') return; // wasm never loads libtensorflow
    expect(process.env.TF_ENABLE_ONEDNN_OPTS).toBe(before === undefined || before === '' ? '1' : before);
  });
});
