/**
 * DICOM decodes run off the event loop: a small pool of worker threads (dicom-thread.ts), because
 * the codecs are synchronous (a 2000x2500 JPEG 2000 frame takes about 0.44 s of WebAssembly, see
 * bench/dicom/README.md) and would stall every request of the process meanwhile. Every DICOM
 * decode goes through here, not only the slow syntaxes: parsing, the LUT passes and the codecs all
 * run on the calling thread otherwise.
 *
 * - Bounded: at most `threads` decodes run at once; further jobs wait in FIFO order. (The memory
 *   of what runs is bounded before that, by the process-wide decode gate in decode.ts.)
 * - Threads start on first use and end after `idleMs` without work, which also returns the
 *   memory their WebAssembly codecs grew to (it never shrinks while a thread lives). An idle
 *   thread does not keep the process alive.
 * - A decode running longer than `timeoutMs` ends its thread (413 IMAGE_TOO_COSTLY); a thread that
 *   dies fails its job with INTERNAL and is replaced on the next job.
 * - The bytes are copied to the thread (the caller keeps its buffer); the 8-bit picture comes back
 *   transferred, without a copy. The UIDs come back as plain values inside this process only and
 *   are wrapped in ResultOnlyUids again at once.
 */
import { Worker } from 'node:worker_threads';
import { AppError, ERROR_CATALOGUE, type ErrorCode } from '../errors.ts';
import { ResultOnlyUids, type DicomDecodeOptions, type DicomHeader, type DicomImage, type ResultUidValues } from './dicom/index.ts';

export type ThreadOptions = Omit<DicomDecodeOptions, 'beforeDecode'>;

export interface ThreadRequest {
  id: number;
  bytes: Uint8Array;
  options: ThreadOptions;
  /** The output side (for the memory estimate of the resize that follows). */
  size: number;
  maxDecodeBytes: number;
}

export type ThreadReply =
  | {
      id: number;
      ok: true;
      width: number;
      height: number;
      pixels: Uint8Array;
      header: DicomHeader;
      patientKey: string | null;
      studyKey: string | null;
      instanceKey: string | null;
      uids: ResultUidValues;
    }
  | { id: number; ok: false; error: { code: ErrorCode; message: string; details?: Readonly<Record<string, unknown>> } };

export interface DicomPoolOptions {
  threads: number;
  idleMs: number;
  timeoutMs: number;
}

export interface DicomPoolActivity {
  /** Threads alive now, and decodes running / waiting for a thread. */
  threads: number;
  running: number;
  waiting: number;
  /** Threads started since the process started (restarts after a failure or an idle end included). */
  started: number;
}

const BOOT = new URL('./dicom-thread-boot.mjs', import.meta.url);
const ENTRY = new URL('./dicom-thread.ts', import.meta.url).href;

interface Job {
  request: Omit<ThreadRequest, 'id'>;
  resolve: (image: DicomImage) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  job?: { id: number; job: Job; timer: NodeJS.Timeout };
  idle?: NodeJS.Timeout;
}

function errorFrom(reply: Extract<ThreadReply, { ok: false }>): AppError {
  const code: ErrorCode = reply.error.code in ERROR_CATALOGUE ? reply.error.code : 'INTERNAL';
  return new AppError(code, reply.error.message, reply.error.details);
}

export class DicomDecodePool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private started = 0;

  constructor(readonly options: DicomPoolOptions) {}

  activity(): DicomPoolActivity {
    let running = 0;
    for (const s of this.slots) if (s.job) running++;
    return { threads: this.slots.size, running, waiting: this.queue.length, started: this.started };
  }

  /** Decodes in a thread; rejects with the reader's AppError (4xx) or INTERNAL when the thread fails. */
  decode(bytes: Uint8Array, options: ThreadOptions, size: number, maxDecodeBytes: number): Promise<DicomImage> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { bytes, options, size, maxDecodeBytes }, resolve, reject });
      this.dispatch();
    });
  }

  /** Ends every thread; jobs running or waiting fail with INTERNAL. */
  async close(): Promise<void> {
    const closing = new AppError('INTERNAL', 'the DICOM decoding pool is closing');
    for (const job of this.queue.splice(0)) job.reject(closing);
    await Promise.all([...this.slots].map((s) => this.retire(s, closing)));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = [...this.slots].find((s) => !s.job);
      if (!slot) {
        if (this.slots.size >= this.options.threads) return;
        slot = this.spawn();
      }
      this.assign(slot, this.queue.shift()!);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(BOOT, { workerData: { entry: ENTRY }, stdout: true, stderr: true });
    // The codecs are silenced; anything a thread still prints is dropped, never mixed into the logs.
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker };
    this.started++;
    this.slots.add(slot);
    worker.on('message', (reply: ThreadReply) => this.settle(slot, reply));
    worker.on('error', () => void this.retire(slot, new AppError('INTERNAL', 'a DICOM decoding thread failed')));
    worker.on('exit', () => void this.retire(slot, new AppError('INTERNAL', 'a DICOM decoding thread exited')));
    return slot;
  }

  private assign(slot: Slot, job: Job): void {
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = undefined;
    const id = this.nextId++;
    const timer = setTimeout(() => {
      const ms = this.options.timeoutMs;
      void this.retire(slot, new AppError('IMAGE_TOO_COSTLY', `decoding this DICOM image took longer than ${ms} ms; it was stopped`));
    }, this.options.timeoutMs);
    slot.job = { id, job, timer };
    slot.worker.ref();
    // A copy the thread owns: the caller's buffer stays usable (the import hashes and keeps it).
    const bytes = new Uint8Array(job.request.bytes);
    const request: ThreadRequest = { id, ...job.request, bytes };
    slot.worker.postMessage(request, [bytes.buffer]);
  }

  private settle(slot: Slot, reply: ThreadReply): void {
    const current = slot.job;
    if (!current || current.id !== reply.id) return;
    clearTimeout(current.timer);
    slot.job = undefined;
    slot.worker.unref();
    slot.idle = setTimeout(() => void this.retire(slot), this.options.idleMs);
    slot.idle.unref();
    if (reply.ok) {
      current.job.resolve({
        width: reply.width,
        height: reply.height,
        pixels: reply.pixels,
        header: reply.header,
        patientKey: reply.patientKey,
        studyKey: reply.studyKey,
        instanceKey: reply.instanceKey,
        resultOnly: new ResultOnlyUids(reply.uids),
      });
    } else {
      current.job.reject(errorFrom(reply));
    }
    this.dispatch();
  }

  /** Removes a thread (idle end, failure, timeout, close); its job, if any, fails with `reason`. */
  private async retire(slot: Slot, reason?: AppError): Promise<void> {
    if (!this.slots.delete(slot)) return;
    if (slot.idle) clearTimeout(slot.idle);
    const current = slot.job;
    slot.job = undefined;
    if (current) {
      clearTimeout(current.timer);
      current.job.reject(reason ?? new AppError('INTERNAL', 'a DICOM decoding thread ended'));
    }
    await slot.worker.terminate().catch(() => undefined);
    this.dispatch();
  }
}

/** Threads of the process-wide pool: decodes beside the event loop, never more than two at once. */
export const DICOM_THREADS = 2;
export const DICOM_THREAD_IDLE_MS = 120_000;
export const DICOM_DECODE_TIMEOUT_MS = 60_000;

/** The pool every DICOM decode of this process uses (decode.ts). */
export const dicomPool = new DicomDecodePool({
  threads: DICOM_THREADS,
  idleMs: DICOM_THREAD_IDLE_MS,
  timeoutMs: DICOM_DECODE_TIMEOUT_MS,
});
