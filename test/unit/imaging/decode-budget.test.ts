import { describe, expect, it } from 'vitest';
import { decodeCostBytes, DecodeGate } from '../../../src/imaging/decode-budget.ts';
import { readHeader } from '../../../src/imaging/image-header.ts';
import { flatJpeg, pngHeaderOnly } from '../../helpers/image-files.ts';

const MB = 1024 * 1024;

/** SOI, a 3-component SOF0 of width x height, then a scan of `scanComponents` components. */
function jpegFrame(width: number, height: number, scanComponents: number): Buffer {
  const sof = Buffer.from([0xff, 0xc0, 0, 17, 8, height >> 8, height & 255, width >> 8, width & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  const sosLength = 6 + 2 * scanComponents;
  const sos = Buffer.from([0xff, 0xda, 0, sosLength, scanComponents, ...Array.from({ length: scanComponents }, (_, i) => [i + 1, 0]).flat(), 0, 63, 0]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), sof, sos]);
}

describe('image headers', () => {
  it('read PNG bit depth, colour type and interlacing', () => {
    expect(readHeader(pngHeaderOnly(300, 200, { bitDepth: 16, colourType: 6, interlaced: true }), 'png')).toMatchObject({
      kind: 'ok',
      width: 300,
      height: 200,
      channels: 4,
      bytesPerSample: 2,
      layered: true,
      description: 'interlaced 16-bit RGBA PNG',
    });
    expect(readHeader(pngHeaderOnly(300, 200), 'png')).toMatchObject({ channels: 1, bytesPerSample: 1, layered: false });
  });

  it('tell progressive and multi-scan JPEGs from baseline ones, with their coefficient bytes', async () => {
    const progressive = readHeader(await flatJpeg(64, 48, { progressive: true }), 'jpeg');
    expect(progressive).toMatchObject({ kind: 'ok', width: 64, height: 48, channels: 3, layered: true });
    expect(progressive.kind === 'ok' && progressive.coefficientBytes).toBe(3 * 64 * 48 * 2);
    expect(readHeader(await flatJpeg(64, 48), 'jpeg')).toMatchObject({ kind: 'ok', layered: false });
    // 4:2:0 sampling: luma 16x16 per MCU, chroma one block each.
    const interleaved = readHeader(jpegFrame(64, 48, 3), 'jpeg');
    expect(interleaved).toMatchObject({ kind: 'ok', layered: false, coefficientBytes: (4 * 3 * 4 + 2 * 4 * 3) * 128 });
    expect(readHeader(jpegFrame(64, 48, 1), 'jpeg')).toMatchObject({ kind: 'ok', layered: true, description: 'multi-scan 3-component JPEG' });
    // A frame whose scans are out of sight is taken as multi-scan.
    expect(readHeader(jpegFrame(64, 48, 3).subarray(0, 21), 'jpeg')).toMatchObject({ kind: 'ok', layered: true });
  });
});

describe('decodeCostBytes', () => {
  const png = (w: number, h: number, channels: number, bytesPerSample: 1 | 2, layered: boolean) =>
    decodeCostBytes({ width: w, height: h, channels, bytesPerSample, layered, description: '' }, 'png', 256);

  it('grows with the area for interlaced PNGs and with the row width otherwise', () => {
    const interlaced = png(10000, 10000, 4, 2, true);
    const plain = png(10000, 10000, 4, 2, false);
    expect(interlaced).toBeGreaterThan(800 * MB); // the whole 16-bit RGBA image: 800 MB
    expect(plain).toBeLessThan(256 * MB);
    expect(png(10000, 40000, 4, 2, false)).toBe(plain); // taller: same rows in flight
    expect(png(40000, 2500, 4, 2, false)).toBeGreaterThan(3 * plain); // wider: wider rows
    expect(png(2000, 2000, 1, 1, false)).toBeLessThan(32 * MB); // an ordinary X-ray
  });

  it('counts the DCT coefficients of multi-scan JPEGs', () => {
    const shape = { width: 10000, height: 10000, channels: 3, bytesPerSample: 1 as const, description: '' };
    const progressive = decodeCostBytes({ ...shape, layered: true, coefficientBytes: 600e6 }, 'jpeg', 256);
    expect(progressive).toBeGreaterThan(600e6);
    expect(decodeCostBytes({ ...shape, layered: false, coefficientBytes: 600e6 }, 'jpeg', 256)).toBeLessThan(64 * MB);
  });
});

describe('DecodeGate', () => {
  async function runAll(gate: DecodeGate, costs: number[]) {
    let running = 0;
    let peak = 0;
    let peakCost = 0;
    let cost = 0;
    const order: number[] = [];
    await Promise.all(
      costs.map((c, i) =>
        gate.run(c, async () => {
          running++;
          cost += c;
          peak = Math.max(peak, running);
          peakCost = Math.max(peakCost, cost);
          order.push(i);
          await new Promise((r) => setImmediate(r));
          running--;
          cost -= c;
        }),
      ),
    );
    return { peak, peakCost, order };
  }

  it('lets at most `width` holders in, in arrival order', async () => {
    const gate = new DecodeGate(2, 1000);
    const { peak, order } = await runAll(gate, Array.from({ length: 10 }, () => 1));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(gate.snapshot()).toMatchObject({ running: 0, waiting: 0, reservedBytes: 0, peakRunning: 2, started: 10 });
  });

  it('keeps the costs of holders within the budget, but lets a costly one run alone', async () => {
    const gate = new DecodeGate(4, 100);
    const { peakCost, peak } = await runAll(gate, [60, 60, 30, 30, 250, 10, 10]);
    expect(peakCost).toBe(250); // the 250 ran, alone
    expect(gate.snapshot().peakReservedBytes).toBe(250);
    expect(peak).toBeLessThanOrEqual(4);
    const small = await runAll(new DecodeGate(4, 100), [60, 60, 30, 30]);
    expect(small.peakCost).toBeLessThanOrEqual(100);
  });

  it('frees the turn of a holder that throws', async () => {
    const gate = new DecodeGate(1, 100);
    await expect(gate.run(1, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(gate.run(1, async () => 'next')).resolves.toBe('next');
  });
});
