import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { decodeOverlayBase, heatLayerPng, heatmapOverlayPng, jet, overlayBaseFromGrey, overlaySize } from '../../../src/imaging/overlay.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

const LIMITS = { maxPixels: 100_000_000 };

describe('heatmapOverlayPng', () => {
  const size = 32;

  it('returns an RGB PNG of the X-ray size: red where hot, the grey untouched where there is no heat', async () => {
    const grey = new Uint8Array(size * size).fill(128);
    const heat = new Float32Array(size * size);
    for (let y = 0; y < size; y++) for (let x = 0; x < size / 2; x++) heat[y * size + x] = 1;
    const png = await heatmapOverlayPng(grey, heat, size);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([size, size, 3]);
    const at = (x: number, y: number) => [...data.subarray((y * size + x) * 3, (y * size + x) * 3 + 3)];
    const [r, , b] = at(4, 4);
    expect(r! - b!).toBeGreaterThan(50);
    expect(at(28, 4)).toEqual([128, 128, 128]);
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

  it('draws non-square images at their own width and height', async () => {
    const [w, h] = [40, 24];
    const png = await heatmapOverlayPng(new Uint8Array(w * h).fill(60), new Float32Array(w * h).fill(0.3), w, h);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([w, h]);
  });

  it('maps cold to blue and hot to red', () => {
    expect(jet(0)[2]).toBeGreaterThan(jet(0)[0]);
    expect(jet(1)[0]).toBeGreaterThan(jet(1)[2]);
  });

  it('refuses inputs of the wrong length', async () => {
    await expect(heatmapOverlayPng(new Uint8Array(10), new Float32Array(size * size), size)).rejects.toBeInstanceOf(AppError);
    await expect(heatmapOverlayPng(new Uint8Array(40 * 24), new Float32Array(40 * 24), 24, 40 * 2)).rejects.toBeInstanceOf(AppError);
    await expect(heatLayerPng(new Float32Array(5), 2, 2)).rejects.toBeInstanceOf(AppError);
  });
});

describe('heatLayerPng', () => {
  it('is an RGBA layer: transparent without heat, most opaque where hottest; over the grey it gives the overlay', async () => {
    const [w, h] = [20, 10];
    const heat = new Float32Array(w * h);
    for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) heat[y * w + x] = x / (w - 1);
    const layer = await heatLayerPng(heat, w, h);
    const { data, info } = await sharp(layer).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([w, h, 4]);
    const alpha = (x: number) => data[(3 * w + x) * 4 + 3]!;
    expect(alpha(0)).toBe(0);
    for (let x = 1; x < w; x++) expect(alpha(x)).toBeGreaterThanOrEqual(alpha(x - 1));
    expect(alpha(w - 1)).toBeGreaterThan(150);
    // Composited over the grey by sharp, it matches the blended PNG within rounding.
    const grey = new Uint8Array(w * h).fill(90);
    const composed = await sharp(Buffer.from(grey), { raw: { width: w, height: h, channels: 1 } })
      .toColourspace('srgb')
      .composite([{ input: layer }])
      .removeAlpha()
      .raw()
      .toBuffer();
    const blended = await sharp(await heatmapOverlayPng(grey, heat, w, h)).raw().toBuffer();
    let worst = 0;
    for (let i = 0; i < blended.length; i++) worst = Math.max(worst, Math.abs(blended[i]! - composed[i]!));
    expect(worst).toBeLessThanOrEqual(3);
  });
});

describe('overlay geometry', () => {
  it('keeps the aspect, caps the long side, never enlarges', () => {
    expect(overlaySize(2000, 1500, 1024)).toEqual({ width: 1024, height: 768 });
    expect(overlaySize(1500, 2000, 1024)).toEqual({ width: 768, height: 1024 });
    expect(overlaySize(300, 200, 1024)).toEqual({ width: 300, height: 200 });
    expect(overlaySize(5000, 3, 1024)).toEqual({ width: 1024, height: 1 });
  });

  it('decodes a PNG or JPEG again in its own aspect, capped', async () => {
    const [w, h] = [300, 180];
    const grey = Buffer.alloc(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) grey[y * w + x] = x < w / 2 ? 30 : 220;
    const raw = sharp(grey, { raw: { width: w, height: h, channels: 1 } });
    for (const bytes of [await raw.clone().png().toBuffer(), await raw.clone().jpeg({ quality: 95 }).toBuffer()]) {
      const base = (await decodeOverlayBase(bytes, 200, LIMITS))!;
      expect(base.source).toEqual({ width: w, height: h });
      expect([base.width, base.height]).toEqual([200, 120]);
      expect(base.grey).toHaveLength(200 * 120);
      // Dark left half, bright right half: the picture is not mirrored or squashed out of place.
      expect(base.grey[60 * 200 + 20]!).toBeLessThan(80);
      expect(base.grey[60 * 200 + 180]!).toBeGreaterThan(170);
    }
  });

  it('applies the EXIF orientation, as the model input does', async () => {
    // Stored 300 wide x 180 high, tagged "rotate 90° clockwise" (orientation 6): shown 180 x 300.
    const [w, h] = [300, 180];
    const grey = Buffer.alloc(w * h, 200);
    for (let y = 0; y < h; y++) for (let x = 0; x < 40; x++) grey[y * w + x] = 10; // dark stripe on the stored left
    const jpeg = await sharp(grey, { raw: { width: w, height: h, channels: 1 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const base = (await decodeOverlayBase(jpeg, 1024, LIMITS))!;
    expect(base.source).toEqual({ width: 180, height: 300 });
    expect([base.width, base.height]).toEqual([180, 300]);
    // Rotated clockwise, the stored left edge is the top.
    expect(base.grey[10 * 180 + 90]!).toBeLessThan(60);
    expect(base.grey[290 * 180 + 90]!).toBeGreaterThan(150);
  });

  it('answers null for bytes it does not draw, and scales decoded grey pixels itself', async () => {
    const dicomLike = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.alloc(64)]);
    expect(await decodeOverlayBase(dicomLike, 1024, LIMITS)).toBeNull();
    const pixels = new Uint8Array(400 * 100).fill(77);
    const base = await overlayBaseFromGrey(pixels, 400, 100, 200);
    expect([base.width, base.height, base.grey.length]).toEqual([200, 50, 200 * 50]);
    expect(base.source).toEqual({ width: 400, height: 100 });
    expect(base.grey[1234]).toBe(77);
    await expect(overlayBaseFromGrey(pixels, 300, 100, 200)).rejects.toBeInstanceOf(AppError);
  });
});
