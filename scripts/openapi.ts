/**
 * Writes openapi.yaml from the route schemas of the real app (`npm run openapi`), or with --check
 * exits 1 when the committed file differs from what the app serves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { writeOrCheck } from './generated-file.ts';
import { generateOpenApiYaml } from './openapi/generate.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'openapi.yaml');

const dataDir = await mkdtemp(path.join(tmpdir(), 'cxr-openapi-'));
try {
  const yaml = await generateOpenApiYaml(dataDir, pino({ level: 'silent' }));
  await writeOrCheck(target, yaml, process.argv.includes('--check'), 'npm run openapi');
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
process.exit();
