import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { generateWarpModule, MODULE_PATH } from '../../../scripts/wasm/generate.ts';

describe('src/ml/warp-wasm.ts (the compiled warp kernel)', () => {
  it('is what src/ml/warp.wat compiles to: after editing the .wat, npm run wasm', async () => {
    expect(await readFile(MODULE_PATH, 'utf8')).toBe(await generateWarpModule());
  });
});
