/**
 * DICOM decode milliseconds per image for every supported transfer syntax at 2000x2500 (Columns x
 * Rows), against sharp decoding the same picture as PNG and JPEG in the same run. The picture is a
 * real chest X-ray from ../shared/data/kermany-train-224.zip upscaled (lanczos3), or a synthetic one
 * when that file is missing; 12 bits stored for the lossless and 16-bit-capable syntaxes, 8 bits for
 * JPEG baseline/extended. Files are made with dcmtk and OpenJPEG as in the tests.
 *
 *   flock /tmp/cpu.lock npx tsx bench/dicom/bench-decode.ts [--runs 7] [--zip path]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp, { type Sharp } from 'sharp';
import yauzl from 'yauzl';
import { decodeDicom } from '../../src/imaging/dicom/index.ts';
import { encapsulate, openJpegCodestream, transcode, TS, xrayDicom, type XrayDicom } from '../../test/helpers/dicom-files.ts';
import { cpuLine } from '../cpu.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, zip: { type: 'string', default: '/work/shared/data/kermany-train-224.zip' } },
});
const RUNS = Math.max(5, Number(values.runs));
const WIDTH = 2000;
const HEIGHT = 2500;

function firstJpeg(zip: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.open(zip, { lazyEntries: true }, (err, archive) => {
      if (err) return reject(err);
      archive.on('entry', (entry: yauzl.Entry) => {
        if (!/\.jpe?g$/i.test(entry.fileName)) return archive.readEntry();
        archive.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            archive.close();
            resolve(Buffer.concat(chunks));
          });
        });
      });
      archive.on('end', () => reject(new Error('no JPEG in the archive')));
      archive.readEntry();
    });
  });
}

/** The picture at 2000x2500 as 16-bit grey (from which 12- and 8-bit versions are cut). */
async function picture16(): Promise<{ source: string; grey16: Uint16Array }> {
  let input: Sharp;
  let source: string;
  if (existsSync(values.zip)) {
    input = sharp(await firstJpeg(values.zip));
    source = `real X-ray (first JPEG of ${values.zip}, 224x224) upscaled`;
  } else {
    const synthetic = xrayDicom({ width: 512, height: 512 }).picture;
    input = sharp(Buffer.from(synthetic), { raw: { width: 512, height: 512, channels: 1 } });
    source = 'synthetic X-ray (kermany zip not found) upscaled';
  }
  const { data } = await input
    .toColourspace('grey16')
    .resize(WIDTH, HEIGHT, { fit: 'fill', kernel: 'lanczos3' })
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const grey16 = new Uint16Array(data.buffer, data.byteOffset, WIDTH * HEIGHT).slice();
  return { source, grey16 };
}

/** A Part 10 file with the given stored values (via xrayDicom's layout, pixel data replaced). */
function fileWith(stored: Int32Array, bits: 8 | 12): XrayDicom {
  const base = xrayDicom({ width: WIDTH, height: HEIGHT, bitsAllocated: bits === 8 ? 8 : 16, bitsStored: bits });
  const bytes = base.bytes.slice();
  const n = WIDTH * HEIGHT;
  const bytesPer = bits === 8 ? 1 : 2;
  const start = bytes.length - n * bytesPer;
  for (let i = 0; i < n; i++) {
    if (bytesPer === 1) bytes[start + i] = stored[i]!;
    else {
      bytes[start + 2 * i] = stored[i]! & 0xff;
      bytes[start + 2 * i + 1] = stored[i]! >> 8;
    }
  }
  return { ...base, bytes, stored };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function timeIt(fn: () => Promise<unknown>): Promise<{ median: number; min: number; max: number }> {
  await fn(); // warm-up: codec modules load, JIT
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return { median: median(times), min: Math.min(...times), max: Math.max(...times) };
}

const { source, grey16 } = await picture16();
const stored12 = Int32Array.from(grey16, (v) => v >> 4);
const stored8 = Int32Array.from(grey16, (v) => v >> 8);
const f12 = fileWith(stored12, 12);
const f8 = fileWith(stored8, 8);

const cases: [string, string, () => Promise<Uint8Array>][] = [
  ['Explicit VR LE', '12', async () => f12.bytes],
  ['Implicit VR LE', '12', () => transcode(f12.bytes, 'dcmconv', ['+ti'])],
  ['Deflated explicit VR LE', '12', () => transcode(f12.bytes, 'dcmconv', ['+td'])],
  ['RLE Lossless', '12', () => transcode(f12.bytes, 'dcmcrle', [])],
  ['JPEG Lossless SV1 (.70)', '12', () => transcode(f12.bytes, 'dcmcjpeg', ['+e1'])],
  ['JPEG Lossless SV7 (.57)', '12', () => transcode(f12.bytes, 'dcmcjpeg', ['+el', '+sv', '7'])],
  ['JPEG-LS Lossless', '12', () => transcode(f12.bytes, 'dcmcjpls', [])],
  ['JPEG-LS Near-Lossless (NEAR 2)', '12', () => transcode(f12.bytes, 'dcmcjpls', ['+en'])],
  ['JPEG 2000 Lossless', '12', async () => encapsulate(f12, TS.j2kLossless, [await openJpegCodestream(stored12, WIDTH, HEIGHT, 12)])],
  ['JPEG 2000 lossy (rate 10)', '12', async () => encapsulate(f12, TS.j2k, [await openJpegCodestream(stored12, WIDTH, HEIGHT, 12, 10)])],
  ['JPEG Baseline q90', '8', () => transcode(f8.bytes, 'dcmcjpeg', ['+eb'])],
  ['JPEG Extended 8-bit q90', '8', () => transcode(f8.bytes, 'dcmcjpeg', ['+ee'])],
];

const grey8 = Buffer.from(Uint8Array.from(stored8));
const raw = { raw: { width: WIDTH, height: HEIGHT, channels: 1 as const } };
const png8 = await sharp(grey8, raw).png().toBuffer();
const png16 = await sharp(Buffer.from(Uint16Array.from(grey16, (v) => (v >> 4) << 4).buffer), raw).toColourspace('grey16').png().toBuffer();
const jpeg = await sharp(grey8, raw).jpeg({ quality: 90 }).toBuffer();
const decodeSharp = (b: Buffer) => () => sharp(b).raw().toBuffer();

console.log(cpuLine());
console.log(`picture: ${source} to ${WIDTH}x${HEIGHT}; median of ${RUNS} runs after one warm-up`);
const pngTime = await timeIt(decodeSharp(png8));
const png16Time = await timeIt(decodeSharp(png16));
const jpegTime = await timeIt(decodeSharp(jpeg));
console.log('\n| input | bits | file MB | decode ms (median) | min..max | vs sharp PNG 8-bit |');
console.log('|---|---|---|---|---|---|');
const row = (name: string, bits: string, size: number, t: { median: number; min: number; max: number }) =>
  console.log(
    `| ${name} | ${bits} | ${(size / 1e6).toFixed(2)} | ${t.median.toFixed(1)} | ${t.min.toFixed(1)}..${t.max.toFixed(1)} | ${(t.median / pngTime.median).toFixed(2)}x |`,
  );
row('sharp PNG (reference)', '8', png8.length, pngTime);
row('sharp PNG 16-bit', '16', png16.length, png16Time);
row('sharp JPEG q90', '8', jpeg.length, jpegTime);
for (const [name, bits, make] of cases) {
  const file = await make();
  const t = await timeIt(() => decodeDicom(file, { keySecret: 'bench-secret-0123456789' }));
  row(`DICOM ${name}`, bits, file.length, t);
}
