/**
 * Small generated X-ray-like pictures with a learnable difference: a dark chest field with two
 * lighter lung lobes and noise; the positive class adds a soft bright patch (an "opacity") in a
 * random lobe. Deterministic for a seed. Generated pictures for tests and the example dataset
 * (`npm run example-dataset`), never medical images. test/helpers/synthetic-xray.ts re-exports this.
 */
import { createRng } from '../ml/random.ts';

export function syntheticXray(size: number, positive: boolean, seed: number): Uint8Array {
  const rand = createRng(seed);
  const px = new Uint8Array(size * size);
  const lobes = [
    { cx: 0.32 + (rand() - 0.5) * 0.04, cy: 0.5, rx: 0.16, ry: 0.3 },
    { cx: 0.68 + (rand() - 0.5) * 0.04, cy: 0.5, rx: 0.16, ry: 0.3 },
  ];
  const lobe = lobes[rand() < 0.5 ? 0 : 1]!;
  const patch = {
    cx: lobe.cx + (rand() - 0.5) * 0.12,
    cy: lobe.cy + (rand() - 0.5) * 0.3,
    r: 0.09 + rand() * 0.05,
  };
  const brightness = 0.85 + rand() * 0.3;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      let val = 40;
      for (const l of lobes) {
        const d = ((u - l.cx) / l.rx) ** 2 + ((v - l.cy) / l.ry) ** 2;
        if (d < 1) val += 70 * (1 - d);
      }
      if (positive) {
        const d2 = ((u - patch.cx) ** 2 + (v - patch.cy) ** 2) / patch.r ** 2;
        val += 110 * Math.exp(-d2);
      }
      val = val * brightness + (rand() - 0.5) * 30;
      px[y * size + x] = Math.max(0, Math.min(255, Math.round(val)));
    }
  }
  return px;
}

/** n images, alternating classes unless ratio says otherwise; labels 1 = positive. */
export function syntheticSet(
  n: number,
  size: number,
  seed = 1,
  positiveFraction = 0.5,
): { pixels: Uint8Array[]; labels: Uint8Array } {
  const rand = createRng(seed);
  const pixels: Uint8Array[] = [];
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const positive = positiveFraction === 0.5 ? i % 2 === 1 : rand() < positiveFraction;
    labels[i] = positive ? 1 : 0;
    pixels.push(syntheticXray(size, positive, seed * 100_003 + i));
  }
  return { pixels, labels };
}
