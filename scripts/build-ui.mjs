/**
 * Builds the web dashboard (ui/) into ui/dist with Vite; the API serves it under /ui/.
 * Run by `npm ci` (postinstall) and `npm run build:ui`. Vite is a devDependency: where it is not
 * installed (npm ci --omit=dev) this says so and leaves the API answering 503 on /ui/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = path.join(root, 'ui', 'vite.config.ts');

let vite;
try {
  vite = await import('vite');
} catch {
  console.warn('build-ui: vite is not installed (a production-only install?): the dashboard is not built and /ui/ will answer 503.');
  process.exit(0);
}

const started = Date.now();
await vite.build({ configFile: config, logLevel: 'warn' });
console.log(`build-ui: dashboard built into ui/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
