/**
 * Compiles src/ml/warp.wat into src/ml/warp-wasm.ts (`npm run wasm`), or with --check exits 1 when
 * the committed module differs from what the .wat compiles to.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateWarpModule, MODULE_PATH } from './wasm/generate.ts';

const source = await generateWarpModule();
if (process.argv.includes('--check')) {
  const committed = await readFile(MODULE_PATH, 'utf8').catch(() => '');
  if (committed !== source) {
    console.error('src/ml/warp-wasm.ts differs from src/ml/warp.wat: run npm run wasm and commit the result');
    process.exitCode = 1;
  } else {
    console.log('src/ml/warp-wasm.ts matches src/ml/warp.wat');
  }
} else {
  await writeFile(MODULE_PATH, source);
  console.log(`wrote ${path.relative(process.cwd(), MODULE_PATH)}`);
}
