/** JPEG 2000 (OpenJPEG), lossless and lossy; the SIZ segment is checked before decoding. */
import { AppError } from '../../../errors.ts';
import type { ImagePixel } from '../image-pixel.ts';
import { j2kCodestream, j2kSize } from './codestream.ts';
import { checkDecodedSize, samplesFromBytes, type Samples } from './samples.ts';
import { OPENJPEG } from './wasm.ts';

export async function decodeJpeg2000(frame: Uint8Array, image: ImagePixel): Promise<Samples> {
  const stream = j2kCodestream(frame);
  const header = j2kSize(stream);
  if (!header) throw new AppError('IMAGE_CORRUPT', 'JPEG 2000 frame has no readable SIZ header');
  checkDecodedSize('JPEG 2000', header, image);
  if (header.precision > 16) throw new AppError('IMAGE_CORRUPT', `JPEG 2000 codestream declares ${header.precision}-bit samples`);
  const { info, bytes } = await OPENJPEG.decode(stream);
  checkDecodedSize('JPEG 2000', { width: info.width, height: info.height, components: info.componentCount }, image);
  return samplesFromBytes(bytes, info.bitsPerSample > 8 ? 2 : 1, image.rows * image.columns);
}
