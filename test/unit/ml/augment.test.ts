import { describe, expect, it } from 'vitest';
import { augmentBatch, warpImage, type AffineParams } from '../../../src/ml/augment.ts';
import { createRng } from '../../../src/ml/random.ts';
import { NO_AUGMENTATION } from '../../../src/ml/types.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

const S = 64;
const IDENTITY: AffineParams = { angle: 0, scale: 1, shiftX: 0, shiftY: 0, flip: false };

function randomImage(seed: number, size = S): Uint8Array {
  const rand = createRng(seed);
  return Uint8Array.from({ length: size * size }, () => Math.floor(rand() * 256));
}

function mirrored(img: Uint8Array, size = S): Uint8Array {
  const out = new Uint8Array(img.length);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[y * size + x] = img[y * size + size - 1 - x]!;
  return out;
}

describe('augmentBatch', () => {
  it('returns the input itself when every option is off', () => {
    const px = randomImage(1);
    expect(augmentBatch(px, 1, S, NO_AUGMENTATION, createRng(1))).toBe(px);
  });

  it('flip only: every image is itself or its exact mirror, both occur', () => {
    const n = 20;
    const imgs = Array.from({ length: n }, (_, i) => randomImage(i + 10));
    const batch = new Uint8Array(n * S * S);
    imgs.forEach((img, i) => batch.set(img, i * S * S));
    const out = augmentBatch(batch, n, S, { ...NO_AUGMENTATION, horizontalFlip: true }, createRng(3));
    let flipped = 0;
    imgs.forEach((img, i) => {
      const got = out.subarray(i * S * S, (i + 1) * S * S);
      const isMirror = got.every((v, k) => v === mirrored(img)[k]);
      if (isMirror) flipped++;
      else expect(Array.from(got)).toEqual(Array.from(img));
    });
    expect(flipped).toBeGreaterThan(0);
    expect(flipped).toBeLessThan(n);
  });

  it('stays within the input range, and is deterministic for a seed', () => {
    const img = syntheticXray(S, true, 5);
    const opts = { rotation: 15, zoom: 0.15, shift: 0.1, horizontalFlip: true };
    const batch = new Uint8Array(8 * S * S);
    for (let i = 0; i < 8; i++) batch.set(img, i * S * S);
    const a = augmentBatch(batch, 8, S, opts, createRng(9));
    const b = augmentBatch(batch, 8, S, opts, createRng(9));
    expect(a).toEqual(b);
    expect(a).not.toEqual(batch);
    const lo = Math.min(...img);
    const hi = Math.max(...img);
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(lo);
      expect(v).toBeLessThanOrEqual(hi);
    }
  });

  it('is cheap: 16 images at 256x256 in well under a batch step', () => {
    const size = 256;
    const batch = new Uint8Array(16 * size * size);
    for (let i = 0; i < 16; i++) batch.set(randomImage(i, size), i * size * size);
    const opts = { rotation: 10, zoom: 0.1, shift: 0.05, horizontalFlip: true };
    augmentBatch(batch, 16, size, opts, createRng(1));
    const t0 = performance.now();
    for (let r = 0; r < 5; r++) augmentBatch(batch, 16, size, opts, createRng(r));
    const ms = (performance.now() - t0) / 5;
    console.log(`augment: 16 x 256x256 in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(60);
  });
});

describe('warpImage', () => {
  it('rotation 0, zoom 0, no shift is the identity', () => {
    const img = randomImage(2);
    expect(warpImage(img, S, IDENTITY)).toEqual(img);
    // the general (bilinear) path with an exactly identity matrix
    expect(warpImage(img, S, { ...IDENTITY, angle: 1e-12 })).toEqual(img);
  });

  it('flip is the exact mirror', () => {
    const img = randomImage(3);
    expect(warpImage(img, S, { ...IDENTITY, flip: true })).toEqual(mirrored(img));
  });

  it('a whole-pixel shift moves pixels and clamps at the edge', () => {
    const img = randomImage(4);
    const out = warpImage(img, S, { ...IDENTITY, shiftX: 1 });
    for (let y = 0; y < S; y++) {
      expect(out[y * S]).toBe(img[y * S]);
      for (let x = 1; x < S; x++) expect(out[y * S + x]).toBe(img[y * S + x - 1]);
    }
  });

  it('rotates by 90 degrees like a transpose and mirror', () => {
    const img = randomImage(5);
    const out = warpImage(img, S, { ...IDENTITY, angle: Math.PI / 2 });
    let maxDiff = 0;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) maxDiff = Math.max(maxDiff, Math.abs(out[y * S + x]! - img[(S - 1 - x) * S + y]!));
    }
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('matches a direct per-pixel bilinear reference for random transforms', () => {
    const img = randomImage(6);
    const rand = createRng(11);
    for (let t = 0; t < 30; t++) {
      const p: AffineParams = {
        angle: (rand() - 0.5) * 2,
        scale: 0.6 + rand() * 0.9,
        shiftX: (rand() - 0.5) * 30,
        shiftY: (rand() - 0.5) * 30,
        flip: rand() < 0.5,
      };
      const out = warpImage(img, S, p);
      const c = (S - 1) / 2;
      const clamp = (v: number) => Math.min(Math.max(v, 0), S - 1);
      const at = (x: number, y: number) => img[y * S + x]!;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const u = x - c - p.shiftX;
          const v = y - c - p.shiftY;
          const fx = (Math.cos(p.angle) * u + Math.sin(p.angle) * v) / p.scale;
          const sx = clamp(c + (p.flip ? -fx : fx));
          const sy = clamp(c + (-Math.sin(p.angle) * u + Math.cos(p.angle) * v) / p.scale);
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const x1 = Math.min(x0 + 1, S - 1);
          const y1 = Math.min(y0 + 1, S - 1);
          const ax = sx - x0;
          const ay = sy - y0;
          const want =
            (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x1, y0)) + ay * ((1 - ax) * at(x0, y1) + ax * at(x1, y1));
          expect(Math.abs(out[y * S + x]! - want)).toBeLessThanOrEqual(0.5 + 1e-6);
        }
      }
    }
  });

  it('zoom > 1 magnifies around the centre', () => {
    const img = new Uint8Array(S * S);
    for (let y = 28; y < 36; y++) for (let x = 28; x < 36; x++) img[y * S + x] = 200;
    const count = (a: Uint8Array) => a.filter((v) => v > 100).length;
    const out = warpImage(img, S, { ...IDENTITY, scale: 2 });
    expect(count(out)).toBeGreaterThan(3.5 * count(img));
  });
});
