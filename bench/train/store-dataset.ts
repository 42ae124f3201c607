/**
 * Builds a dataset of n generated 256x256 grey PNGs the way a user would: a folder of
 * NORMAL/ and PNEUMONIA/ images imported through the project's dataset store
 * (createDatasetStore(...).importDirectory), which decodes each once into its uint8 cache.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { fillXray } from './common.ts';

interface StoreLike {
  importDirectory(dir: string, opts: { name: string; size?: number }): Promise<{ id: string; counts?: { images: number } }>;
}

async function writePngs(dir: string, n: number, size: number): Promise<void> {
  for (const cls of ['NORMAL', 'PNEUMONIA']) fs.mkdirSync(path.join(dir, cls), { recursive: true });
  const parallel = 4;
  let next = 0;
  const worker = async () => {
    const px = new Uint8Array(size * size);
    for (let i = next++; i < n; i = next++) {
      const positive = i % 2 === 1;
      fillXray(px, size, positive, 2_000_003 + i);
      const file = path.join(dir, positive ? 'PNEUMONIA' : 'NORMAL', `img-${String(i).padStart(6, '0')}.png`);
      await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 1 } })
        .png({ compressionLevel: 1 })
        .toFile(file);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

export async function buildStoreDataset(
  storeModule: Record<string, unknown>,
  dir: string,
  n: number,
  size: number,
): Promise<{ dataDir: string; datasetId: string; pngSeconds: number; importSeconds: number }> {
  const pngDir = path.join(dir, 'pngs');
  const dataDir = path.join(dir, 'data');
  const t0 = performance.now();
  await writePngs(pngDir, n, size);
  const t1 = performance.now();
  const create = storeModule.createDatasetStore as (o: { dataDir: string }) => StoreLike;
  const manifest = await create({ dataDir }).importDirectory(pngDir, { name: `bench-${n}`, size });
  const t2 = performance.now();
  fs.rmSync(pngDir, { recursive: true, force: true });
  if (manifest.counts && manifest.counts.images !== n) {
    throw new Error(`dataset store kept ${manifest.counts.images} of ${n} generated images`);
  }
  return { dataDir, datasetId: manifest.id, pngSeconds: (t1 - t0) / 1000, importSeconds: (t2 - t1) / 1000 };
}
