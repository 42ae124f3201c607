/**
 * Random truncations and byte flips of valid files in every encoding: the reader either decodes or
 * refuses with a 4xx AppError. No other exception, no crash, no hang (a bounded number of cases,
 * each timed out by the test runner), and no allocation beyond the pixel limit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../../src/errors.ts';
import { createRng } from '../../../../src/ml/random.ts';
import { decodeDicom } from '../../../../src/imaging/dicom/index.ts';
import { encapsulate, haveTool, openJpegCodestream, transcode, TS, xrayDicom } from '../../../helpers/dicom-files.ts';

const CASES_PER_FILE = 300;
const tools = await Promise.all(['dcmconv', 'dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'opj_compress'].map(haveTool));
const toolsMissing = tools.includes(false);
if (toolsMissing) console.warn('DICOM fuzz test of compressed encodings skipped: dcmtk or opj_compress not installed');

describe('fuzzing', () => {
  const files = new Map<string, Uint8Array>();

  beforeAll(async () => {
    // Small pictures keep 150 cases per encoding fast; the code paths are the same at any size.
    const src8 = xrayDicom({ width: 48, height: 40 });
    const src12 = xrayDicom({ width: 48, height: 40, bitsAllocated: 16, bitsStored: 12, signed: true });
    files.set('explicit 12-bit', src12.bytes);
    files.set('multi-frame', xrayDicom({ width: 48, height: 40, frames: 2 }).bytes);
    if (toolsMissing) return;
    files.set('implicit', await transcode(src12.bytes, 'dcmconv', ['+ti']));
    files.set('deflated', await transcode(src12.bytes, 'dcmconv', ['+td']));
    files.set('jpeg baseline', await transcode(src8.bytes, 'dcmcjpeg', ['+eb']));
    files.set('jpeg lossless', await transcode(src12.bytes, 'dcmcjpeg', ['+e1']));
    files.set('jpeg-ls', await transcode(src12.bytes, 'dcmcjpls', []));
    files.set('jpeg-ls near', await transcode(src8.bytes, 'dcmcjpls', ['+en']));
    files.set('rle', await transcode(src12.bytes, 'dcmcrle', []));
    const unsigned = xrayDicom({ width: 48, height: 40, bitsAllocated: 16, bitsStored: 12 });
    files.set('jpeg 2000', encapsulate(unsigned, TS.j2kLossless, [await openJpegCodestream(unsigned.stored, 48, 40, 12)]));
    files.set('jpeg 2000 lossy', encapsulate(unsigned, TS.j2k, [await openJpegCodestream(unsigned.stored, 48, 40, 12, 4)]));
  });

  it('every mutated file decodes or is refused with a 4xx AppError', { timeout: 300_000 }, async () => {
    const rand = createRng(20260401);
    const outcomes: Record<string, { ok: number; refused: Record<number, number> }> = {};
    for (const [name, original] of files) {
      await expect(decodeDicom(original, { keySecret: 'fuzz-secret-0123456' })).resolves.toBeTruthy();
      const tally: { ok: number; refused: Record<number, number> } = { ok: 0, refused: {} };
      outcomes[name] = tally;
      for (let i = 0; i < CASES_PER_FILE; i++) {
        let bytes: Uint8Array;
        // Truncations; a few or many flips anywhere; flips in the first 1200 bytes (meta and header attributes).
        const kind = i % 4;
        if (kind === 0) {
          bytes = original.subarray(0, Math.floor(rand() * original.length));
        } else {
          bytes = original.slice();
          const span = kind === 3 ? Math.min(1200, bytes.length) : bytes.length;
          const flips = 1 + Math.floor(rand() * (kind === 2 ? 40 : 4));
          for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * span)] = Math.floor(rand() * 256);
        }
        try {
          const img = await decodeDicom(bytes, { keySecret: 'fuzz-secret-0123456', maxPixels: 4_000_000, modalities: null });
          expect(img.pixels.length).toBe(img.width * img.height);
          tally.ok++;
        } catch (err) {
          if (!isAppError(err) || err.status < 400 || err.status >= 500) {
            throw new Error(`${name} case ${i}: ${isAppError(err) ? `${err.status} ${err.code}` : 'non-AppError'}: ${String(err)}`, {
              cause: err,
            });
          }
          tally.refused[err.status] = (tally.refused[err.status] ?? 0) + 1;
        }
      }
    }
    // The mutations did exercise refusals in every encoding (a reader that accepted anything would fail here).
    for (const [name, t] of Object.entries(outcomes)) expect(Object.keys(t.refused).length, name).toBeGreaterThan(0);
    expect(Object.keys(outcomes).length).toBe(files.size);
  });
});
