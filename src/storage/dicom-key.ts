/**
 * The secret of the keyed hashes that stand in for PatientID and the study/instance UIDs of DICOM
 * input (src/imaging/dicom/deidentify.ts). DICOM_KEY_SECRET wins; without it the secret is
 * generated once and kept in DATA_DIR/secrets/dicom-key-secret (mode 0600, folder 0700), so a
 * patient's key is the same after a restart and in every process sharing the data dir (the api
 * replicas, the CLI). Created exclusively (written aside, then hard-linked into place), so two
 * processes starting together end up with the same secret.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { fsErrorCode } from './atomic-file.ts';

export const DICOM_KEY_FILE = path.join('secrets', 'dicom-key-secret');
/** Bytes of a generated secret (hex in the file). */
const GENERATED_BYTES = 32;

function readSecret(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (fsErrorCode(err) === 'ENOENT') return undefined;
    throw new AppError('INTERNAL', `cannot read the DICOM key secret file ${file}`, undefined, { cause: err });
  }
  if (Buffer.byteLength(text, 'utf8') < 16) {
    throw new AppError('INTERNAL', `the DICOM key secret file ${file} holds fewer than 16 bytes; remove it to have a new one generated (keys then change)`);
  }
  return text;
}

/** The configured secret, else the one kept in the data dir (created on first use). Synchronous: start-up only. */
export function dicomKeySecret(configured: string | undefined, dataDir: string): string {
  if (configured !== undefined) return configured;
  const file = path.join(dataDir, DICOM_KEY_FILE);
  const existing = readSecret(file);
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
  const kept = readSecret(file);
  if (kept === undefined) throw new AppError('INTERNAL', `the DICOM key secret file ${file} vanished while it was created`);
  return kept;
}
