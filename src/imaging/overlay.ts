import sharp from 'sharp';
import { AppError } from '../errors.ts';

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** The 'jet' colour map: blue (0) -> cyan -> yellow -> red (1); channels in [0,1]. */
export function jet(t: number): [number, number, number] {
  const x = clamp01(t);
  return [
    clamp01(1.5 - Math.abs(4 * x - 3)),
    clamp01(1.5 - Math.abs(4 * x - 2)),
    clamp01(1.5 - Math.abs(4 * x - 1)),
  ];
}

/**
 * PNG (RGB) of the grey X-ray with a jet heat map blended over it. The blend weight grows with the
 * heat (alpha/2 where cold, alpha*1.5 where hottest, capped at 1), so cold areas stay readable.
 */
export async function heatmapOverlayPng(
  grey: Uint8Array,
  heat: Float32Array,
  size: number,
  opts?: { alpha?: number },
): Promise<Buffer> {
  const n = size * size;
  if (!Number.isInteger(size) || size < 1 || grey.length !== n || heat.length !== n) {
    throw new AppError(
      'INTERNAL',
      `heatmapOverlayPng: need ${size}x${size} inputs, got ${grey.length} grey and ${heat.length} heat values`,
    );
  }
  const alpha = clamp01(opts?.alpha ?? 0.45);
  const rgb = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const h = Number.isFinite(heat[i]) ? clamp01(heat[i]!) : 0;
    const [r, g, b] = jet(h);
    const w = Math.min(1, alpha * (0.5 + h));
    const base = grey[i]! * (1 - w);
    rgb[i * 3] = Math.round(base + 255 * r * w);
    rgb[i * 3 + 1] = Math.round(base + 255 * g * w);
    rgb[i * 3 + 2] = Math.round(base + 255 * b * w);
  }
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}
