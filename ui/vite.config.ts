import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where `npm run api` listens during `npx vite ui` development. */
const api = process.env.API ?? 'http://127.0.0.1:3000';

/**
 * The dashboard bundle: Preact (TSX through esbuild's automatic JSX runtime) and uPlot, built to
 * ui/dist and served by the API under /ui/ (src/http/ui/routes.ts). Nothing is fetched at run time.
 */
export default defineConfig({
  root: here,
  base: '/ui/',
  cacheDir: path.join(here, '..', '.cache', 'vite'),
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: Object.fromEntries(['/v1', '/health', '/metrics', '/openapi.yaml'].map((p) => [p, api])),
  },
});
