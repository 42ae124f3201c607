/**
 * Writes openapi.yaml from the route schemas of the real app (`npm run openapi`), or with --check
 * exits 1 when the committed file differs from what the app serves.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { generateOpenApiYaml } from './openapi/generate.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'openapi.yaml');

const dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-openapi-'));
try {
  const yaml = await generateOpenApiYaml(dataDir, pino({ level: 'silent' }));
  if (process.argv.includes('--check')) {
    const committed = await readFile(target, 'utf8').catch(() => '');
    if (committed !== yaml) {
      console.error('openapi.yaml differs from the routes: run npm run openapi and commit the result');
      process.exitCode = 1;
    } else {
      console.log('openapi.yaml matches the routes');
    }
  } else {
    await writeFile(target, yaml);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
process.exit();
