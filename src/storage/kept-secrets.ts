/**
 * Secrets the service generates for itself when the configuration names none, kept in
 * DATA_DIR/secrets/ (files mode 0600, folder 0700), so they are the same after a restart and in
 * every process sharing the data dir (the api replicas, the CLI). Each is created exclusively
 * (written aside, then hard-linked into place), so two processes starting together end up with the
 * same secret.
 * - dicom-key-secret: the keyed hashes that stand in for PatientID and the study/instance UIDs of
 *   DICOM input (src/imaging/dicom/deidentify.ts); DICOM_KEY_SECRET wins.
 * - results-key-secret: the key material of the results' encryption at rest
 *   (src/storage/result-store.ts); RESULTS_KEY_SECRET wins.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { fsErrorCode } from './atomic-file.ts';

export const DICOM_KEY_FILE = path.join('secrets', 'dicom-key-secret');
export const RESULTS_KEY_FILE = path.join('secrets', 'results-key-secret');
/** Bytes of a generated secret (hex in the file). */
const GENERATED_BYTES = 32;

interface KeptSecret {
  /** Path under the data dir. */
  readonly file: string;
  /** What it is, for error messages. */
  readonly what: string;
  readonly minBytes: number;
}

const DICOM_KEY: KeptSecret = { file: DICOM_KEY_FILE, what: 'DICOM key secret', minBytes: 16 };
const RESULTS_KEY: KeptSecret = { file: RESULTS_KEY_FILE, what: 'results key secret', minBytes: 32 };

function readSecret(file: string, kind: KeptSecret): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return undefined;
    throw new AppError('INTERNAL', `cannot read the ${kind.what} file ${file}`, undefined, { cause: err });
  }
  if (Buffer.byteLength(text, 'utf8') < kind.minBytes) {
    throw new AppError('INTERNAL', `the ${kind.what} file ${file} holds fewer than ${kind.minBytes} bytes; remove it to have a new one generated (what it protects then changes)`);
  }
  return text;
}

/** The DICOM key secret: DICOM_KEY_SECRET, else the one kept in the data dir (created on first use). Synchronous: start-up only. */
export function dicomKeySecret(configured: string | undefined, dataDir: string): string {
  return configured ?? keptSecret(dataDir, DICOM_KEY);
}

/** The results key material: RESULTS_KEY_SECRET, else the one kept in the data dir (created on first use). Synchronous: start-up only. */
export function resultsKeySecret(configured: string | null, dataDir: string): string {
  return configured ?? keptSecret(dataDir, RESULTS_KEY);
}

function keptSecret(dataDir: string, kind: KeptSecret): string {
  const file = path.join(dataDir, kind.file);
  const existing = readSecret(file, kind);
  if (existing !== undefined) return existing;
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const secret = randomBytes(GENERATED_BYTES).toString('hex');
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
  } catch (err) {
    // Another process created it first: everyone uses that one.
    if (fsErrorCode(err) !== 'EEXIST') throw err;
  } finally {
    rmSync(temp, { force: true });
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  const kept = readSecret(file, kind);
  if (kept === undefined) throw new AppError('INTERNAL', `the ${kind.what} file ${file} vanished while it was created`);
  return kept;
}
