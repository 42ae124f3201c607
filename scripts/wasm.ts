/**
 * Compiles src/ml/warp.wat into src/ml/warp-wasm.ts (`npm run wasm`), or with --check exits 1 when
 * the committed module differs from what the .wat compiles to.
 */
import { writeOrCheck } from './generated-file.ts';
import { generateWarpModule, MODULE_PATH } from './wasm/generate.ts';

await writeOrCheck(MODULE_PATH, await generateWarpModule(), process.argv.includes('--check'), 'npm run wasm');
