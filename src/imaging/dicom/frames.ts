/** The bytes of one frame of PixelData (7FE0,0010), native or encapsulated (PS3.5 A.4), decoded to samples. */
import { createRequire } from 'node:module';
import type * as DicomParserModule from 'dicom-parser';
import { AppError, isAppError } from '../../errors.ts';
import { decodeJpegFamily } from './codecs/jpeg-family.ts';
import { decodeJpeg2000 } from './codecs/jpeg2000.ts';
import { decodeRle } from './codecs/rle.ts';
import { samplesFromBytes, type Samples } from './codecs/samples.ts';
import type { ImagePixel } from './image-pixel.ts';
import { parseFailure, type DataSet, type Element } from './parse.ts';
import { TAGS } from './tags.ts';
import type { TransferSyntax } from './transfer-syntax.ts';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParserModule;

function nativeFrame(ds: DataSet, el: Element, image: ImagePixel, index: number): Samples {
  if (el.encapsulatedPixelData) {
    throw new AppError('IMAGE_CORRUPT', `${TAGS.pixelData.label} is encapsulated but the transfer syntax is not`);
  }
  const bytesPerSample = image.bitsAllocated / 8;
  const count = image.rows * image.columns;
  const frameBytes = count * bytesPerSample;
  const start = el.dataOffset + index * frameBytes;
  const available = Math.min(el.dataOffset + el.length, ds.byteArray.length) - start;
  if (available < frameBytes) {
    throw new AppError(
      'IMAGE_TRUNCATED',
      `${TAGS.pixelData.label} holds ${Math.max(0, available)} bytes for frame ${index + 1}; ` +
        `${image.columns}x${image.rows} at ${image.bitsAllocated} bits needs ${frameBytes}`,
    );
  }
  return samplesFromBytes(ds.byteArray.subarray(start, start + frameBytes), bytesPerSample as 1 | 2, count);
}

/** Ends with a JPEG EOI / JPEG 2000 EOC marker (allowing one byte of padding). */
function endsFrame(bytes: Uint8Array, position: number, length: number): boolean {
  const end = position + length;
  const at = bytes[end - 1] === 0 ? end - 3 : end - 2;
  return at >= position && bytes[at] === 0xff && bytes[at + 1] === 0xd9;
}

function encapsulatedFrame(ds: DataSet, el: Element, image: ImagePixel, index: number): Uint8Array {
  const fragments = el.fragments ?? [];
  if (fragments.length === 0) throw new AppError('IMAGE_TRUNCATED', `encapsulated ${TAGS.pixelData.label} has no fragments`);
  for (const f of fragments) {
    if (f.position + f.length > ds.byteArray.length) {
      throw new AppError('IMAGE_TRUNCATED', `a fragment of ${TAGS.pixelData.label} runs past the end of the file`);
    }
  }
  try {
    if (image.frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
    if ((el.basicOffsetTable ?? []).length > 0) return dicomParser.readEncapsulatedImageFrame(ds, el, index);
    if (fragments.length === image.frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, index, 1);
  } catch (err) {
    throw parseFailure(err, 'encapsulated pixel data');
  }
  // No offset table and several fragments per frame: frames end at their end-of-image marker.
  let first = 0;
  for (let frame = 0, i = 0; i < fragments.length; i++) {
    const f = fragments[i]!;
    if (!endsFrame(ds.byteArray, f.position, f.length)) continue;
    if (frame === index) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, first, i - first + 1);
    frame++;
    first = i + 1;
  }
  throw new AppError('IMAGE_CORRUPT', `frame ${index + 1} cannot be located in encapsulated ${TAGS.pixelData.label} (no offset table)`);
}

/** Decodes frame `index` (0-based) to raw samples, Rows x Columns of them. */
export async function decodeFrame(ds: DataSet, image: ImagePixel, syntax: TransferSyntax, index: number): Promise<Samples> {
  const el = ds.elements[TAGS.pixelData.key];
  if (!el) throw new AppError('DICOM_NOT_AN_IMAGE', `DICOM object has no ${TAGS.pixelData.label}`);
  if (syntax.codec === 'native') return nativeFrame(ds, el, image, index);
  if (!el.encapsulatedPixelData) {
    throw new AppError('IMAGE_CORRUPT', `${TAGS.pixelData.label} is not encapsulated but ${syntax.name} requires it`);
  }
  const frame = encapsulatedFrame(ds, el, image, index);
  try {
    if (syntax.codec === 'rle') return decodeRle(frame, image);
    if (syntax.codec === 'jpeg2000') return await decodeJpeg2000(frame, image);
    return await decodeJpegFamily(frame, image, syntax);
  } catch (err) {
    if (isAppError(err)) throw err;
    throw new AppError('IMAGE_CORRUPT', `${syntax.name} frame does not decode`, undefined, { cause: err });
  }
}
