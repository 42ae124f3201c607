/** The Image Pixel module (PS3.3 C.7.6.3): what the stored values look like, checked before decoding. */
import { AppError } from '../../errors.ts';
import { decimal, required, shown, text, uint16, type DataSet } from './parse.ts';
import { TAGS } from './tags.ts';

export type Photometric = 'MONOCHROME1' | 'MONOCHROME2';

export interface ImagePixel {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  photometric: Photometric;
  frames: number;
}

function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(1)} megapixels`;
}

export function readImagePixel(ds: DataSet, maxPixels: number): ImagePixel {
  const photometric = text(ds, TAGS.photometricInterpretation);
  if (!photometric) throw new AppError('IMAGE_CORRUPT', `DICOM image has no ${TAGS.photometricInterpretation.label}`);
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
    throw new AppError(
      'UNSUPPORTED_IMAGE_FORMAT',
      `${TAGS.photometricInterpretation.label} is ${shown(photometric, 32)}; only greyscale (MONOCHROME1, MONOCHROME2) is read`,
    );
  }
  const samples = uint16(ds, TAGS.samplesPerPixel) ?? 1;
  if (samples !== 1) {
    throw new AppError('UNSUPPORTED_IMAGE_FORMAT', `${TAGS.samplesPerPixel.label} is ${samples}; greyscale images have 1`);
  }
  const rows = required(ds, TAGS.rows);
  const columns = required(ds, TAGS.columns);
  if (rows === 0 || columns === 0) {
    throw new AppError('IMAGE_ZERO_SIZE', `DICOM image has a zero-pixel side (${TAGS.rows.label} ${rows}, ${TAGS.columns.label} ${columns})`);
  }
  const bitsAllocated = required(ds, TAGS.bitsAllocated);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new AppError('UNSUPPORTED_IMAGE_FORMAT', `${TAGS.bitsAllocated.label} is ${bitsAllocated}; 8 and 16 are read`);
  }
  const bitsStored = required(ds, TAGS.bitsStored);
  const highBit = uint16(ds, TAGS.highBit) ?? bitsStored - 1;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit < bitsStored - 1 || highBit >= bitsAllocated) {
    throw new AppError(
      'IMAGE_CORRUPT',
      `${TAGS.bitsStored.label} ${bitsStored} and ${TAGS.highBit.label} ${highBit} do not fit ${TAGS.bitsAllocated.label} ${bitsAllocated}`,
    );
  }
  const representation = uint16(ds, TAGS.pixelRepresentation) ?? 0;
  if (representation > 1) throw new AppError('IMAGE_CORRUPT', `${TAGS.pixelRepresentation.label} is ${representation}; 0 or 1 expected`);
  const framesValue = decimal(ds, TAGS.numberOfFrames) ?? 1;
  if (!Number.isInteger(framesValue) || framesValue < 1) {
    throw new AppError('IMAGE_CORRUPT', `${TAGS.numberOfFrames.label} is ${framesValue}; a positive integer expected`);
  }
  // Decompression bombs: the declared size is refused before any byte is decoded.
  const pixels = rows * columns * framesValue;
  if (pixels > maxPixels) {
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `${TAGS.rows.label} x ${TAGS.columns.label} x ${TAGS.numberOfFrames.label} = ${rows} x ${columns} x ${framesValue} ` +
        `(${megapixels(pixels)}, ${pixels * (bitsAllocated / 8)} bytes decoded); the limit is ${megapixels(maxPixels)}`,
    );
  }
  return {
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    highBit,
    signed: representation === 1,
    photometric,
    frames: framesValue,
  };
}
