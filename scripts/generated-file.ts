import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a generated file, or with `check` sets exit code 1 when the committed file differs from
 * `content` (the drift checks of npm run openapi:check and npm run wasm:check).
 */
export async function writeOrCheck(target: string, content: string, check: boolean, regenerate: string): Promise<void> {
  const name = path.relative(process.cwd(), target);
  if (check) {
    const committed = await readFile(target, 'utf8').catch(() => '');
    if (committed !== content) {
      console.error(`${name} is stale: run ${regenerate} and commit the result`);
      process.exitCode = 1;
    } else {
      console.log(`${name} is up to date`);
    }
  } else {
    await writeFile(target, content);
    console.log(`wrote ${name}`);
  }
}
