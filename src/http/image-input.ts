import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { AppError } from '../errors.ts';
import { EXAMPLE_PNG_BASE64, EXAMPLE_PNG_PATCH_BASE64 } from './schemas/examples.ts';
import { withExample, withUsageExample } from './schemas/openapi.ts';

/**
 * The three ways a client sends images to predict/explain, parsed into encoded image bytes:
 * - multipart/form-data with one or more `image` file parts (PNG, JPEG or DICOM, whatever the
 *   part's declared type: the content is sniffed);
 * - a raw `image/png`, `image/jpeg` or `application/dicom` body (one image);
 * - JSON `{"images": ["<base64>", ...]}` (a `data:image/...;base64,` prefix is tolerated).
 * Decoding (and so every bad-image error) happens later, in the prediction service, which tells
 * the formats apart by their bytes.
 */

/** Content types of a raw single-image body (image/jpg is not registered but common in the wild). */
export const RAW_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/jpg', 'application/dicom'] as const;
const ACCEPTED =
  'multipart/form-data (image parts), image/png, image/jpeg, application/dicom or application/json {"images": [base64, ...]}';
/** Form field names taken as images (a client may pluralise). */
const IMAGE_FIELDS = new Set(['image', 'images']);

export interface ImageInputLimits {
  /** Most images one request may carry. */
  readonly maxImages: number;
  /** Most bytes of images (decoded from base64 for JSON) one request may carry. */
  readonly maxBytes: number;
  /** Explain: exactly one image; more is a 400 rather than a 413. */
  readonly exactlyOne?: boolean;
}

const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/**
 * Registers, in the calling (encapsulated) route plugin, what the raw form needs: a Buffer parser
 * for raw images with `bodyLimit`, and a catch-all that answers any other content type with 415.
 * Multipart and JSON come from the app (src/app.ts registers both, and removes text/plain).
 */
export async function registerImageInput(app: FastifyInstance, opts: { bodyLimit: number }): Promise<void> {
  for (const type of RAW_IMAGE_TYPES) {
    if (app.hasContentTypeParser(type)) continue;
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));
  }
  if (!app.hasContentTypeParser('*')) {
    app.addContentTypeParser('*', (request, _payload, done) => {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().slice(0, 100);
      done(new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type || '(none)'} is not accepted here; send ${ACCEPTED}`), undefined);
    });
  }
}

/**
 * Route `preValidation` hook: raw and multipart bodies are not JSON. A raw image is kept aside for
 * readImages and request.body emptied; a multipart request's body is {}. Only the JSON form has a
 * schema Fastify validates (imageJsonBody); the others are documented for OpenAPI only
 * (imageDocumentedForms).
 */
export function hideBinaryBody(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (Buffer.isBuffer(request.body)) {
    rawBodies.set(request, request.body);
    request.body = '';
  } else if (request.isMultipart()) {
    request.body = {};
  }
  done();
}

const base64Image = Type.String({
  description: 'A PNG, JPEG or DICOM file, base64 (standard or URL-safe alphabet); a data:image/...;base64, prefix is allowed',
});
const RAW_KINDS = {
  'image/png': ['PNG', 'PNG image', 'xray.png'],
  'image/jpeg': ['JPEG', 'JPEG image', 'xray.jpg'],
  'application/dicom': [
    'DICOM',
    'DICOM object (Part 10 file or bare little-endian data set; CR/DX by default, first frame of multi-frame objects)',
    'xray.dcm',
  ],
} as const;
const rawImage = (media: keyof typeof RAW_KINDS, path: string) => {
  const [kind, what, file] = RAW_KINDS[media];
  return withUsageExample(
    Type.String({ format: 'binary', contentMediaType: media, description: `One ${what} as the whole body` }),
    `One ${kind} as the body`,
    `\`curl -H 'content-type: ${media}' --data-binary @${file} $API${path}\``,
  );
};

/** The JSON form `{"images": [base64, ...]}`: the route's `schema.body`, validated by Fastify. */
export function imageJsonBody(maxImages: number) {
  const many = maxImages > 1;
  const schema = withExample(
    Type.Object(
      // No maxItems when many: more than maxImages is the handler's 413 "too many images", not a 400.
      { images: Type.Array(base64Image, { minItems: 1, ...(many ? {} : { maxItems: 1 }) }) },
      {
        additionalProperties: false,
        description: many
          ? `One or more chest X-ray images (PNG, JPEG or DICOM) in base64, at most ${maxImages} per request; answers come in this order.`
          : 'Exactly one chest X-ray image (PNG, JPEG or DICOM) in base64.',
      },
    ),
    { images: many ? [EXAMPLE_PNG_BASE64, EXAMPLE_PNG_PATCH_BASE64] : [EXAMPLE_PNG_PATCH_BASE64] },
  );
  return { content: { 'application/json': { schema } } };
}

/**
 * The multipart and raw forms, documented for OpenAPI only (see documentedBody): the handler reads
 * them. `path` is the route the usage examples post to.
 */
export function imageDocumentedForms(maxImages: number, path: string) {
  const many = maxImages > 1;
  const form = Type.Object(
    {
      // A client may also name the parts `images`; `image` is the documented name.
      image: many
        ? Type.Array(Type.String({ format: 'binary' }), { description: 'One file part per image, in order (required)' })
        : Type.String({ format: 'binary', description: 'The image file (required)' }),
    },
    {
      description: many
        ? `One \`image\` file part per chest X-ray (PNG, JPEG or DICOM, e.g. .dcm with Content-Type application/dicom), at most ${maxImages}; answers come in the order of the parts`
        : 'Exactly one `image` file part (PNG, JPEG or DICOM)',
    },
  );
  return {
    'multipart/form-data': many
      ? withUsageExample(form, 'Two X-rays as image parts', `\`curl -F image=@xray-1.png -F image=@xray-2.jpg $API${path}\``)
      : withUsageExample(form, 'One X-ray as an image part', `\`curl -F image=@xray.png $API${path}\``),
    'image/png': rawImage('image/png', path),
    'image/jpeg': rawImage('image/jpeg', path),
    'application/dicom': rawImage('application/dicom', path),
  };
}

/** Longest `data:<media type>;<params>;base64,` header taken before the base64 text. */
const DATA_URL_HEADER_MAX = 256;
/** The header between `data:` and the comma: a media type, parameters, `;base64` last (a bounded input: linear anyway). */
const DATA_URL_HEADER = /^[\w!#$&^.+-]*(?:\/[\w!#$&^.+-]*)?(?:;[\w-]+=[^;,]*)*;base64$/i;
/** A character that is neither base64 (either alphabet, padding) nor a line break or space. */
const NOT_BASE64 = /[^\w\t\n\r +/=-]/;
const WHITESPACE = /[\t\n\r ]/;
const WHITESPACE_ALL = /[\t\n\r ]/g;

/**
 * The base64 text of a `data:...;base64,` URL, or null when it is not one. The comma is looked for
 * only in the first DATA_URL_HEADER_MAX characters, so a hostile string of any length costs that
 * much here.
 */
function dataUrlPayload(text: string): string | null {
  const comma = text.slice(0, DATA_URL_HEADER_MAX).indexOf(',');
  if (comma === -1 || !DATA_URL_HEADER.test(text.slice('data:'.length, comma))) return null;
  return text.slice(comma + 1);
}

/**
 * Strict base64 (standard or URL-safe alphabet, padding optional, line breaks ignored) -> bytes;
 * null when invalid. Linear in the length of `text`, with no backtracking: a bounded prefix check,
 * a search for any foreign character, and a whitespace pass only when there is whitespace.
 */
export function decodeBase64(text: string): Buffer | null {
  const payload = text.startsWith('data:') ? dataUrlPayload(text) : text;
  if (payload === null || NOT_BASE64.test(payload)) return null;
  const s = WHITESPACE.test(payload) ? payload.replace(WHITESPACE_ALL, '') : payload;
  if (s.length % 4 === 1) return null;
  // Padding: at most two `=`, only at the end, and only completing the last group of four.
  const pad = s.indexOf('=');
  if (pad !== -1) {
    if (pad < s.length - 2 || s.charCodeAt(s.length - 1) !== 0x3d || s.length % 4 !== 0) return null;
  }
  return Buffer.from(s, 'base64');
}

function tooMany(limits: ImageInputLimits, got?: number): AppError {
  const count = got === undefined ? 'more' : String(got);
  if (limits.exactlyOne) return new AppError('BAD_REQUEST', `send exactly one image (got ${count})`);
  return new AppError('PAYLOAD_TOO_LARGE', `too many images: at most ${limits.maxImages} per request (got ${count})`, {
    maxImages: limits.maxImages,
  });
}

function tooLarge(limits: ImageInputLimits): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `images exceed ${limits.maxBytes} bytes per request`, { maxBytes: limits.maxBytes });
}

const noImage = () => new AppError('BAD_REQUEST', `no image in the request; send ${ACCEPTED}`);

async function readMultipart(request: FastifyRequest, limits: ImageInputLimits): Promise<Buffer[]> {
  const images: Buffer[] = [];
  let total = 0;
  try {
    const parts = request.parts({
      limits: {
        fileSize: limits.maxBytes,
        files: limits.maxImages,
        fields: 20,
        fieldSize: 64 * 1024,
        parts: limits.maxImages + 20,
        headerPairs: 100,
      },
    });
    for await (const part of parts) {
      if (part.type !== 'file') continue;
      if (!IMAGE_FIELDS.has(part.fieldname)) {
        part.file.resume();
        throw new AppError('BAD_REQUEST', `unexpected file field "${part.fieldname.slice(0, 64)}"; send images as "image" parts`);
      }
      const chunks: Buffer[] = [];
      for await (const chunk of part.file) {
        total += (chunk as Buffer).length;
        if (total > limits.maxBytes) throw tooLarge(limits);
        chunks.push(chunk as Buffer);
      }
      // throwFileSizeLimit: a file cut at fileSize throws FST_REQ_FILE_TOO_LARGE (caught below).
      images.push(Buffer.concat(chunks));
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'FST_FILES_LIMIT') throw tooMany(limits);
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(limits);
    throw err; // AppErrors, and framework errors the app's error handler maps (parts limit, malformed body)
  }
  return images;
}

/**
 * The request's images as encoded bytes, in the order sent. Errors: 400 no image / bad base64 /
 * unexpected form field; 413 too many or too large; 415 any other body type.
 */
export async function readImages(request: FastifyRequest, limits: ImageInputLimits): Promise<Buffer[]> {
  let images: Buffer[];
  const raw = rawBodies.get(request);
  if (raw) {
    if (raw.length > limits.maxBytes) throw tooLarge(limits);
    images = [raw];
  } else if (request.isMultipart()) {
    // More files than maxImages stop at the parser's file limit (tooMany) before they are read.
    images = await readMultipart(request, limits);
  } else if (typeof request.body === 'object' && request.body !== null) {
    // The JSON form, already validated against imageJsonBody: `images` is a non-empty array of strings.
    const list = (request.body as { images: readonly string[] }).images;
    if (list.length > limits.maxImages) throw tooMany(limits, list.length);
    images = [];
    let total = 0;
    list.forEach((item, index) => {
      const bytes = decodeBase64(item);
      if (!bytes) throw new AppError('BAD_REQUEST', `images[${index}] is not valid base64`, { index });
      total += bytes.length;
      if (total > limits.maxBytes) throw tooLarge(limits);
      images.push(bytes);
    });
  } else {
    // No body at all (any other content type is refused by the parsers with 415).
    throw noImage();
  }
  if (images.length === 0) throw noImage();
  return images;
}
