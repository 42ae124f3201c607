import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.ts';
import { DECODE_CONCURRENCY } from '../../../src/imaging/decode-budget.ts';
import { decodeActivity, decodeXray, PREPROCESSING, type DecodeLimits } from '../../../src/imaging/decode.ts';
import { blankPng, encodeGrey, flatJpeg, pngHeaderOnly, withJpegDimensions, xrayFile } from '../../helpers/image-files.ts';
import { syntheticXray } from '../../helpers/synthetic-xray.ts';

const SIZE = 32;
const grey = syntheticXray(SIZE, true, 7);

async function decodeError(bytes: Uint8Array, size = SIZE, limits?: DecodeLimits): Promise<AppError> {
  const err = await decodeXray(bytes, size, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function meanDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/** A PNG whose IHDR claims width x height, followed by a tiny IDAT and IEND. */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('decodeXray', () => {
  it('returns size*size grey bytes, identical to the pixels of a lossless grey PNG', async () => {
    const out = await decodeXray(await encodeGrey(grey, SIZE, 'png'), SIZE);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(out.length).toBe(SIZE * SIZE);
    expect(maxDiff(out, grey)).toBe(0);
  });

  it.each(['png-rgb', 'png-rgba', 'png-16'] as const)('reads %s as the same grey pixels', async (encoding) => {
    const out = await decodeXray(await encodeGrey(grey, SIZE, encoding), SIZE);
    expect(out.length).toBe(SIZE * SIZE);
    expect(maxDiff(out, grey)).toBeLessThanOrEqual(1);
  });

  it.each(['jpeg', 'jpeg-rgb'] as const)('reads %s close to the original', async (encoding) => {
    const out = await decodeXray(await encodeGrey(grey, SIZE, encoding), SIZE);
    expect(meanDiff(out, grey)).toBeLessThan(3);
  });

  it('flattens transparent pixels on black', async () => {
    const out = await decodeXray(await encodeGrey(grey, SIZE, 'png-rgba', { alpha: 0 }), SIZE);
    expect(maxDiff(out, new Uint8Array(SIZE * SIZE))).toBe(0);
  });

  it('resizes to exactly size x size, aspect not kept', async () => {
    const wide = new Uint8Array(40 * 20).fill(90);
    const out = await decodeXray(await encodeGrey(wide, 0, 'png', { width: 40, height: 20 }), 16);
    expect(out.length).toBe(16 * 16);
    expect(maxDiff(out, new Uint8Array(256).fill(90))).toBeLessThanOrEqual(1);
    expect((await decodeXray(await xrayFile(1, false, 64), 24)).length).toBe(24 * 24);
  });

  it('applies the EXIF orientation', async () => {
    // 32 wide, 16 high, a bright block in the top-left corner.
    const px = new Uint8Array(32 * 16);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) px[y * 32 + x] = 255;
    const shape = { width: 32, height: 16 };
    const mean = (img: Uint8Array, x0: number, y0: number) => {
      let s = 0;
      for (let y = y0; y < y0 + 4; y++) for (let x = x0; x < x0 + 4; x++) s += img[y * 32 + x]!;
      return s / 16;
    };
    const plain = await decodeXray(await encodeGrey(px, 0, 'png', shape), 32);
    expect(mean(plain, 0, 0)).toBeGreaterThan(200);
    expect(mean(plain, 28, 0)).toBeLessThan(50);
    // Orientation 6: shown rotated 90 degrees clockwise, so the block is at the top right.
    for (const encoding of ['png', 'jpeg'] as const) {
      const turned = await decodeXray(await encodeGrey(px, 0, encoding, { ...shape, orientation: 6 }), 32);
      expect(mean(turned, 28, 0)).toBeGreaterThan(200);
      expect(mean(turned, 0, 0)).toBeLessThan(50);
    }
  });

  it('refuses empty input', async () => {
    const err = await decodeError(new Uint8Array(0));
    expect(err.code).toBe('IMAGE_EMPTY');
    expect(err.status).toBe(422);
  });

  it('refuses what is not PNG or JPEG, naming common formats', async () => {
    expect((await decodeError(Buffer.from('just some text, not an image'))).code).toBe('UNSUPPORTED_IMAGE_FORMAT');
    const gif = await decodeError(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00', 'latin1'));
    expect(gif.code).toBe('UNSUPPORTED_IMAGE_FORMAT');
    expect(gif.message).toMatch(/GIF/);
  });

  it('refuses truncated PNG and JPEG files', async () => {
    for (const encoding of ['png', 'jpeg'] as const) {
      const file = await encodeGrey(grey, SIZE, encoding);
      for (const keep of [0.5, 0.9]) {
        const err = await decodeError(file.subarray(0, Math.floor(file.length * keep)));
        expect([encoding, keep, err.code]).toEqual([encoding, keep, 'IMAGE_TRUNCATED']);
      }
    }
    expect((await decodeError(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]))).code).toBe(
      'IMAGE_TRUNCATED',
    );
  });

  it('refuses random bytes behind a PNG or JPEG signature as corrupt', async () => {
    const noise = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919 + 13) % 251));
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), noise]);
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), noise]);
    expect((await decodeError(png)).code).toBe('IMAGE_CORRUPT');
    expect((await decodeError(jpeg)).code).toBe('IMAGE_CORRUPT');
    // A valid header with garbage pixel data.
    const valid = await encodeGrey(grey, SIZE, 'png');
    const garbled = Buffer.from(valid);
    for (let i = 60; i < garbled.length - 20; i++) garbled[i] = (garbled[i]! * 31 + i) & 0xff;
    expect(['IMAGE_CORRUPT', 'IMAGE_TRUNCATED']).toContain((await decodeError(garbled)).code);
  });

  it('refuses images with a zero-pixel side', async () => {
    expect((await decodeError(pngClaiming(0, 16))).code).toBe('IMAGE_ZERO_SIZE');
    const jpeg = Buffer.from(await encodeGrey(grey, SIZE, 'jpeg'));
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    jpeg.writeUInt16BE(0, sof + 5); // height
    const err = await decodeError(jpeg);
    expect(err.code).toBe('IMAGE_ZERO_SIZE');
    expect(err.message).toMatch(/32x0/);
  });

  it('refuses a header claiming 20000x20000 at once, without decoding it', async () => {
    const started = decodeActivity().started;
    const err = await decodeError(pngClaiming(20000, 20000));
    expect(decodeActivity().started).toBe(started); // never handed to libvips
    expect(err.code).toBe('IMAGE_TOO_LARGE');
    expect(err.status).toBe(413);
    expect(err.message).toMatch(/20000x20000/);
  });

  it('honours a lower maxPixels', async () => {
    const file = await xrayFile(3, true, 64);
    expect((await decodeError(file, 16, { maxPixels: 64 * 64 - 1 })).code).toBe('IMAGE_TOO_LARGE');
    expect((await decodeXray(file, 16, { maxPixels: 64 * 64 })).length).toBe(256);
  });

  it('refuses images whose decode would take too much memory before decoding them (IMAGE_TOO_COSTLY, 413)', async () => {
    const started = decodeActivity().started;
    const costly = [
      pngHeaderOnly(10000, 10000, { bitDepth: 16, colourType: 6, interlaced: true }),
      pngHeaderOnly(10_000_000, 10, { bitDepth: 16, colourType: 6 }),
      pngHeaderOnly(100_000, 1000),
      withJpegDimensions(await flatJpeg(64, 64, { progressive: true }), 10000, 10000),
    ];
    for (const file of costly) {
      const err = await decodeError(file, 256);
      expect(err.code).toBe('IMAGE_TOO_COSTLY');
      expect(err.status).toBe(413);
      expect(err.message).toMatch(/about \d+ MiB of memory; the limit is 256 MiB per image/);
      expect(err.details).toMatchObject({ estimatedBytes: expect.any(Number), limitBytes: 256 * 1024 * 1024 });
    }
    expect(decodeActivity().started).toBe(started);
    // The same area without interlacing or progressive scans is within the budget.
    const outcome = (file: Buffer) => decodeXray(file, 256).then(() => 'decoded', (e: AppError) => e.code);
    expect(await outcome(pngHeaderOnly(10000, 10000, { bitDepth: 16, colourType: 6 }))).not.toBe('IMAGE_TOO_COSTLY');
    expect(await outcome(withJpegDimensions(await flatJpeg(64, 64), 10000, 10000))).not.toBe('IMAGE_TOO_COSTLY');
  });

  it('checks the cost from what libvips reads when the header walk gives up (junk between JPEG segments)', async () => {
    const withJunk = (jpeg: Buffer) => {
      const app0 = 4 + jpeg.readUInt16BE(4);
      return Buffer.concat([jpeg.subarray(0, app0), Buffer.from([1, 2, 3]), jpeg.subarray(app0)]);
    };
    const small = withJunk(await flatJpeg(64, 64, { progressive: true }));
    expect((await decodeXray(small, 32)).length).toBe(32 * 32); // libjpeg skips the junk
    const huge = withJunk(withJpegDimensions(await flatJpeg(64, 64, { progressive: true }), 10000, 10000));
    expect((await decodeError(huge, 32)).code).toBe('IMAGE_TOO_COSTLY');
  });

  it('decodes big images that stream (a 10000x10000 grey PNG) and honours a lower maxDecodeBytes', async () => {
    const big = await blankPng(10000, 10000);
    expect(maxDiff(await decodeXray(big, 64), new Uint8Array(64 * 64))).toBe(0);
    const err = await decodeError(big, 64, { maxDecodeBytes: 8 * 1024 * 1024 });
    expect(err.code).toBe('IMAGE_TOO_COSTLY');
    const progressive = await flatJpeg(512, 512, { progressive: true, grey: true });
    expect((await decodeXray(progressive, 32)).length).toBe(32 * 32);
  });

  it(`runs at most ${DECODE_CONCURRENCY} decodes at once in the process, however many are asked for`, async () => {
    const files = await Promise.all(Array.from({ length: 12 }, (_, i) => xrayFile(100 + i, i % 2 === 0, 512)));
    const before = decodeActivity().started;
    const out = await Promise.all(files.map((f) => decodeXray(f, 64)));
    expect(out.every((px) => px.length === 64 * 64)).toBe(true);
    const activity = decodeActivity();
    expect(activity.started - before).toBe(12);
    expect(activity.peakRunning).toBeLessThanOrEqual(DECODE_CONCURRENCY);
    expect(activity.peakRunning).toBeGreaterThanOrEqual(1);
    expect(activity).toMatchObject({ running: 0, waiting: 0, reservedBytes: 0 });
  });

  it('describes the preprocessing for model metadata', () => {
    expect(PREPROCESSING).toMatchObject({ colour: 'grey', resize: 'fill', standardisation: 'per-image' });
    expect(Object.isFrozen(PREPROCESSING)).toBe(true);
  });
});
