import type { ImageSource } from '../../src/ml/types.ts';
import { syntheticSet } from './synthetic-xray.ts';

/** An ImageSource over images held in memory; readBatch resolves asynchronously like disk I/O. */
export function memorySource(pixels: readonly Uint8Array[], labels: Uint8Array, size: number): ImageSource & { reads: number } {
  const n = size * size;
  pixels.forEach((p, i) => {
    if (p.length !== n) throw new RangeError(`image ${i} has ${p.length} bytes, expected ${n}`);
  });
  const source = {
    size,
    count: pixels.length,
    labels,
    reads: 0,
    async readBatch(indices: readonly number[]): Promise<Uint8Array> {
      source.reads++;
      await new Promise((resolve) => setImmediate(resolve));
      const out = new Uint8Array(indices.length * n);
      indices.forEach((i, k) => {
        const img = pixels[i];
        if (!img) throw new RangeError(`no image ${i}`);
        out.set(img, k * n);
      });
      return out;
    },
  };
  return source;
}

/** A memory source of generated X-ray-like images (half positive unless said otherwise). */
export function syntheticSource(count: number, size: number, seed = 1, positiveFraction = 0.5): ImageSource & { reads: number } {
  const { pixels, labels } = syntheticSet(count, size, seed, positiveFraction);
  return memorySource(pixels, labels, size);
}
