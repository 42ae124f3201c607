/**
 * What decoding an image costs in memory, estimated from its header, and the process-wide gate
 * every decode passes through: a few decodes at a time, within a memory budget.
 *
 * libvips streams a plain PNG or a baseline JPEG through its pipeline a band of rows at a time,
 * so the cost grows with the row width. An interlaced PNG is decoded whole before the first row
 * comes out, and a JPEG in several scans (progressive) keeps every DCT coefficient of the image,
 * so their cost grows with the whole area. The constants below were measured with libvips 8.18
 * (bench/memory/) and round up.
 */
import { AppError } from '../errors.ts';
import type { ImageFormat, ImageShape } from './image-header.ts';

const MiB = 1024 * 1024;

/** Most memory one image may take to decode. */
export const DEFAULT_MAX_DECODE_BYTES = 256 * MiB;
/**
 * Decodes running at once in this process, whoever asks (predict, explain, dataset import): the
 * size of libuv's thread pool, where sharp runs them. Fewer would hold back the decodes of
 * concurrent requests that the prediction batcher gathers; the memory is bounded by the budget.
 */
export const DECODE_CONCURRENCY = 4;
/** Estimated decode memory of all decodes running at once; one decode may always run alone. */
export const DECODE_BUDGET_BYTES = 320 * MiB;

/** Fixed overhead of one decode (libvips operations, the input copy, the output). */
const BASE_BYTES = 16 * MiB;
/** Rows of the widest stage the pipeline holds at once (at least the output's rows). */
const PIPELINE_ROWS = 1024;
/** Bytes per input byte in those rows: the stages (alpha flattening, colour conversion) widen them. */
const PIPELINE_FACTOR = 2;
const PIPELINE_FIXED_PER_PIXEL = 1;
/** Headroom on the whole-image buffer of interlaced and multi-scan images. */
const LAYERED_FACTOR = 1.125;

/** libjpeg's shrink-on-load (1, 2, 4 or 8), taken no larger than what the resize leaves room for. */
function jpegShrink(shape: ImageShape, size: number): number {
  const room = Math.min(shape.width, shape.height) / (2 * size);
  for (const s of [8, 4, 2]) if (room >= s) return s;
  return 1;
}

/** Estimated peak memory, in bytes, of decoding `shape` to size x size. */
export function decodeCostBytes(shape: ImageShape, format: ImageFormat, size: number): number {
  const bytesPerPixel = shape.channels * shape.bytesPerSample;
  const shrink = format === 'jpeg' ? jpegShrink(shape, size) : 1;
  const width = Math.ceil(shape.width / shrink);
  const height = Math.ceil(shape.height / shrink);
  const rows = Math.max(Math.min(height, PIPELINE_ROWS), size);
  const pipeline = width * rows * (PIPELINE_FACTOR * bytesPerPixel + PIPELINE_FIXED_PER_PIXEL);
  let whole = 0;
  if (shape.layered) {
    const buffered =
      format === 'png'
        ? shape.width * shape.height * bytesPerPixel
        : (shape.coefficientBytes ?? shape.width * shape.height * shape.channels * 2);
    whole = buffered * LAYERED_FACTOR;
  }
  return Math.ceil(BASE_BYTES + pipeline + whole);
}

function mib(bytes: number): string {
  return `${Math.ceil(bytes / MiB)} MiB`;
}

/** IMAGE_TOO_COSTLY unless the estimate fits under maxBytes; returns the estimate. */
export function checkDecodeCost(shape: ImageShape, format: ImageFormat, size: number, maxBytes: number): number {
  const cost = decodeCostBytes(shape, format, size);
  if (cost > maxBytes) {
    throw new AppError(
      'IMAGE_TOO_COSTLY',
      `decoding this ${shape.width}x${shape.height} ${shape.description} would take about ${mib(cost)} of memory; ` +
        `the limit is ${mib(maxBytes)} per image (a non-interlaced, baseline or smaller image costs less)`,
      { estimatedBytes: cost, limitBytes: maxBytes },
    );
  }
  return cost;
}

export interface DecodeActivity {
  /** Decodes running now, and the most that ever ran at once. */
  running: number;
  peakRunning: number;
  /** Decodes waiting for a turn now. */
  waiting: number;
  /** Estimated bytes of the decodes running now, and the most ever at once. */
  reservedBytes: number;
  peakReservedBytes: number;
  /** Decodes that got a turn since the process started. */
  started: number;
}

/** A FIFO gate: at most `width` holders, and their costs within `budget` unless one runs alone. */
export class DecodeGate {
  private readonly queue: { cost: number; start: () => void }[] = [];
  private readonly activity: DecodeActivity = {
    running: 0,
    peakRunning: 0,
    waiting: 0,
    reservedBytes: 0,
    peakReservedBytes: 0,
    started: 0,
  };

  constructor(
    readonly width: number,
    readonly budgetBytes: number,
  ) {}

  snapshot(): DecodeActivity {
    return { ...this.activity, waiting: this.queue.length };
  }

  async run<T>(cost: number, work: () => Promise<T>): Promise<T> {
    await this.acquire(cost);
    try {
      return await work();
    } finally {
      this.release(cost);
    }
  }

  private fits(cost: number): boolean {
    const a = this.activity;
    return a.running < this.width && (a.running === 0 || a.reservedBytes + cost <= this.budgetBytes);
  }

  private take(cost: number): void {
    const a = this.activity;
    a.running++;
    a.reservedBytes += cost;
    a.started++;
    a.peakRunning = Math.max(a.peakRunning, a.running);
    a.peakReservedBytes = Math.max(a.peakReservedBytes, a.reservedBytes);
  }

  private acquire(cost: number): Promise<void> {
    if (this.queue.length === 0 && this.fits(cost)) {
      this.take(cost);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.queue.push({
        cost,
        start: () => {
          this.take(cost);
          resolve();
        },
      });
    });
  }

  private release(cost: number): void {
    this.activity.running--;
    this.activity.reservedBytes -= cost;
    while (this.queue.length > 0 && this.fits(this.queue[0]!.cost)) this.queue.shift()!.start();
  }
}

/** What a DICOM decode involves, from its header (src/imaging/dicom DicomShape). */
export interface DicomCostShape {
  rows: number;
  columns: number;
  frames: number;
  bitsAllocated: 8 | 16;
  codec: 'native' | 'rle' | 'jpeg' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg2000';
  deflated: boolean;
  fileBytes: number;
}

/**
 * Bytes per pixel a codec keeps beside its output while it decodes: OpenJPEG a 32-bit sample per
 * pixel, the JPEG family and RLE about one more output buffer, native pixel data none.
 */
const DICOM_CODEC_BYTES_PER_PIXEL: Readonly<Record<DicomCostShape['codec'], number>> = {
  native: 0,
  rle: 2,
  jpeg: 2,
  'jpeg-lossless': 2,
  'jpeg-ls': 2,
  jpeg2000: 4,
};

/**
 * Estimated peak memory, in bytes, of decoding a DICOM object's first frame to size x size, in the
 * decoding thread and then here: the file copied to the thread (and, encapsulated, its frame
 * copied out of the fragments); a deflated data set inflated whole; the codec's own buffers and
 * output (in WebAssembly memory) and its copy out; the samples, the stored values (32-bit) and the
 * 8-bit picture; then the same resize pipeline as a grey PNG of that picture.
 */
export function dicomDecodeCostBytes(shape: DicomCostShape, size: number): number {
  const pixels = shape.rows * shape.columns;
  const sample = shape.bitsAllocated / 8;
  const encapsulated = shape.codec !== 'native';
  const file = shape.fileBytes * (encapsulated ? 3 : 1);
  const inflated = shape.deflated ? pixels * shape.frames * sample : 0;
  const codec = encapsulated ? pixels * (sample * 2 + DICOM_CODEC_BYTES_PER_PIXEL[shape.codec]) : 0;
  const pipeline = pixels * (sample + 4 + 1);
  const resize = shape.columns * Math.max(Math.min(shape.rows, PIPELINE_ROWS), size) * (PIPELINE_FACTOR + PIPELINE_FIXED_PER_PIXEL);
  return Math.ceil(BASE_BYTES + file + inflated + codec + pipeline + resize);
}

/** IMAGE_TOO_COSTLY unless the DICOM estimate fits under maxBytes; returns the estimate. */
export function checkDicomDecodeCost(shape: DicomCostShape, size: number, maxBytes: number): number {
  const cost = dicomDecodeCostBytes(shape, size);
  if (cost > maxBytes) {
    throw new AppError(
      'IMAGE_TOO_COSTLY',
      `decoding this ${shape.columns}x${shape.rows} ${shape.bitsAllocated}-bit DICOM image (${shape.codec}${shape.deflated ? ', deflated' : ''}) ` +
        `would take about ${mib(cost)} of memory; the limit is ${mib(maxBytes)} per image`,
      { estimatedBytes: cost, limitBytes: maxBytes },
    );
  }
  return cost;
}
