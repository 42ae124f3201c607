import sharp from 'sharp';

/**
 * 8-bit grey pixels (width * height, row-major) as a PNG, so a decoded DICOM frame enters the one
 * preprocessing path (decodeXray -> standardize) exactly as an uploaded PNG does. Fast settings:
 * the PNG lives only for the time of one prediction.
 */
export async function greyToPng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  if (pixels.length !== width * height) throw new Error(`greyToPng: ${pixels.length} pixels for ${width}x${height}`);
  return sharp(pixels, { raw: { width, height, channels: 1 } }).png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
}
