/**
 * The Cornerstone WebAssembly codecs (libjpeg-turbo, CharLS, OpenJPEG), loaded once per process on
 * first use. A decoder that fails may leave its module's memory in any state, so the module is
 * dropped and the next decode starts a fresh instance.
 */
import { createRequire } from 'node:module';
import { AppError } from '../../../errors.ts';

export interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  delete(): void;
}

type WasmModule = Record<string, new () => WasmDecoder>;

/** Emscripten module settings: the codecs' own diagnostics go nowhere (the reader never logs). */
const SILENT = Object.freeze({ print: () => undefined, printErr: () => undefined });

const require = createRequire(import.meta.url);

export interface Decoded {
  info: FrameInfo;
  /** Copied out of the module's memory: little-endian samples, 1 or 2 bytes each. */
  bytes: Uint8Array;
}

export class WasmCodec {
  private instance: Promise<WasmModule> | undefined;

  constructor(
    private readonly specifier: string,
    private readonly className: string,
    readonly label: string,
  ) {}

  private load(): Promise<WasmModule> {
    this.instance ??= (async () => {
      const factory = require(this.specifier) as (settings: typeof SILENT) => Promise<WasmModule>;
      return factory({ ...SILENT });
    })();
    return this.instance;
  }

  async decode(encoded: Uint8Array): Promise<Decoded> {
    let module: WasmModule;
    try {
      module = await this.load();
    } catch (err) {
      this.instance = undefined;
      throw new AppError('ENGINE_UNAVAILABLE', `${this.label} codec failed to load`, undefined, { cause: err });
    }
    const Decoder = module[this.className];
    if (!Decoder) throw new AppError('ENGINE_UNAVAILABLE', `${this.label} codec has no ${this.className}`);
    let decoder: WasmDecoder | undefined;
    try {
      decoder = new Decoder();
      decoder.getEncodedBuffer(encoded.length).set(encoded);
      decoder.decode();
      const info = { ...decoder.getFrameInfo() };
      const bytes = decoder.getDecodedBuffer().slice();
      return { info, bytes };
    } catch (err) {
      this.instance = undefined;
      decoder = undefined;
      const reason = err instanceof Error ? err.message : typeof err === 'number' ? `error ${err}` : String(err);
      throw new AppError('IMAGE_CORRUPT', `${this.label} codestream does not decode (${reason.slice(0, 120)})`, undefined, {
        cause: err,
      });
    } finally {
      try {
        decoder?.delete();
      } catch {
        this.instance = undefined;
      }
    }
  }
}

export const LIBJPEG_TURBO = new WasmCodec('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder', 'JPEG');
export const CHARLS = new WasmCodec('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', 'JPEG-LS');
export const OPENJPEG = new WasmCodec('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', 'JPEG 2000');
