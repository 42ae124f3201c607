/**
 * A DICOM decoding thread (started by src/imaging/dicom-pool.ts through dicom-thread-boot.mjs):
 * one job at a time, decodeDicom with the decode-memory check before any pixel is decoded, the
 * 8-bit picture handed back without a copy. Errors go back as their catalogue code and message
 * only; nothing here logs.
 */
import { parentPort } from 'node:worker_threads';
import { isAppError } from '../errors.ts';
import { checkDicomDecodeCost } from './decode-budget.ts';
import { decodeDicom } from './dicom/index.ts';
import type { ThreadReply, ThreadRequest } from './dicom-pool.ts';

const port = parentPort;
if (!port) throw new Error('dicom-thread.ts runs in a worker thread only');

async function run(req: ThreadRequest): Promise<{ reply: ThreadReply; transfer: ArrayBuffer[] }> {
  try {
    const image = await decodeDicom(req.bytes, {
      ...req.options,
      beforeDecode: (shape) => void checkDicomDecodeCost(shape, req.size, req.maxDecodeBytes),
    });
    const reply: ThreadReply = {
      id: req.id,
      ok: true,
      width: image.width,
      height: image.height,
      pixels: image.pixels,
      header: image.header,
      patientKey: image.patientKey,
      studyKey: image.studyKey,
      instanceKey: image.instanceKey,
      uids: image.resultOnly.values(),
    };
    return { reply, transfer: [image.pixels.buffer as ArrayBuffer] };
  } catch (err) {
    const error = isAppError(err)
      ? { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }
      : { code: 'INTERNAL' as const, message: 'the DICOM decoder failed unexpectedly' };
    return { reply: { id: req.id, ok: false, error }, transfer: [] };
  }
}

port.on('message', (req: ThreadRequest) => {
  void run(req).then(({ reply, transfer }) => port.postMessage(reply, transfer));
});
