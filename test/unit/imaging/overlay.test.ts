import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { heatmapOverlayPng, jet } from '../../../src/imaging/overlay.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

describe('heatmapOverlayPng', () => {
  const size = 32;

  it('returns an RGB PNG of the X-ray size where hot pixels are redder than cold ones', async () => {
    const grey = new Uint8Array(size * size).fill(128);
    const heat = new Float32Array(size * size);
    for (let y = 0; y < size; y++) for (let x = 0; x < size / 2; x++) heat[y * size + x] = 1;
    const png = await heatmapOverlayPng(grey, heat, size);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([size, size, 3]);
    const redness = (x: number, y: number) => {
      const i = (y * size + x) * 3;
      return data[i]! - data[i + 2]!;
    };
    expect(redness(4, 4)).toBeGreaterThan(50);
    expect(redness(28, 4)).toBeLessThan(0);
  });

  it('keeps the X-ray visible under the heat', async () => {
    const grey = syntheticXray(size, true, 3);
    const png = await heatmapOverlayPng(grey, new Float32Array(size * size).fill(0.5), size);
    const { data } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    let corr = 0;
    const mean = grey.reduce((a, b) => a + b, 0) / grey.length;
    const meanOut = data.reduce((a, b) => a + b, 0) / data.length;
    for (let i = 0; i < grey.length; i++) corr += (grey[i]! - mean) * (data[i]! - meanOut);
    expect(corr).toBeGreaterThan(0);
  });

  it('maps cold to blue and hot to red', () => {
    expect(jet(0)[2]).toBeGreaterThan(jet(0)[0]);
    expect(jet(1)[0]).toBeGreaterThan(jet(1)[2]);
  });

  it('refuses inputs of the wrong length', async () => {
    await expect(heatmapOverlayPng(new Uint8Array(10), new Float32Array(size * size), size)).rejects.toBeInstanceOf(
      AppError,
    );
  });
});
