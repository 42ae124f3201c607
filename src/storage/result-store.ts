/**
 * Results on disk, `${dataDir}/results/{id}.json`, one file each, written atomically. A result has
 * a clear part (what renders it: probability, label, model, time, de-identified header fields) and
 * a sealed part (the source's UIDs and the patient and study attributes its DICOM SR copies),
 * encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from RESULTS_KEY_SECRET. The
 * authenticated data is the id and the clear part, so a file cannot be edited, or its sealed part
 * moved to another result, without failing to open. Nothing patient-identifying is ever on disk in
 * clear. Files older than the retention are deleted by sweep().
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { isResultId } from '../domain/ids.ts';
import { ATOMIC_TEMP_SUFFIX, fsErrorCode, writeFileAtomic } from './atomic-file.ts';

export interface StoredResult {
  readonly clear: Readonly<Record<string, unknown>>;
  readonly sealed: Readonly<Record<string, unknown>>;
}

export interface ResultStore {
  put(id: string, result: StoredResult): Promise<void>;
  /** null when there is no such result (or its file does not open with this key: tampered, or another key). */
  get(id: string): Promise<StoredResult | null>;
  delete(id: string): Promise<void>;
  /** Deletes results saved more than maxAgeMs ago; returns how many. */
  sweep(maxAgeMs: number, now?: number): Promise<number>;
}

export interface ResultStoreOptions {
  readonly dataDir: string;
  /** RESULTS_KEY_SECRET (at least 32 characters). */
  readonly secret: string;
  /** Told about files that do not open (never their content). */
  readonly onUnreadable?: (id: string, reason: string) => void;
}

const FORMAT = 'cxr-result-v1';
const IV_BYTES = 12;
const SUFFIX = '.json';
const LEFTOVER_MS = 60 * 60 * 1000;

/** The AES-256 key for results, derived from the secret so the secret itself is never the key. */
export function resultKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), 'cxr results at rest: aes-256-gcm v1', 32));
}

function additionalData(id: string, clearText: string): Buffer {
  return Buffer.from(`${FORMAT}\0${id}\0${clearText}`, 'utf8');
}

export function createResultStore(opts: ResultStoreOptions): ResultStore {
  const dir = path.join(opts.dataDir, 'results');
  const key = resultKey(opts.secret);
  const fileOf = (id: string): string => {
    if (!isResultId(id)) throw new Error('result store: not a result id');
    return path.join(dir, `${id}${SUFFIX}`);
  };
  const unreadable = (id: string, reason: string) => {
    opts.onUnreadable?.(id, reason);
    return null;
  };

  return {
    async put(id, result) {
      const file = fileOf(id);
      const clearText = JSON.stringify(result.clear);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(additionalData(id, clearText));
      const data = Buffer.concat([cipher.update(JSON.stringify(result.sealed), 'utf8'), cipher.final()]);
      const body = {
        format: FORMAT,
        id,
        clear: clearText,
        sealed: { alg: 'A256GCM', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') },
      };
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(file, JSON.stringify(body));
    },

    async get(id) {
      if (!isResultId(id)) return null;
      let text: string;
      try {
        text = await readFile(fileOf(id), 'utf8');
      } catch (err) {
        if (fsErrorCode(err) === 'ENOENT') return null;
        throw err;
      }
      let body: { format?: unknown; id?: unknown; clear?: unknown; sealed?: { iv?: unknown; tag?: unknown; data?: unknown } };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        return unreadable(id, 'not JSON');
      }
      const sealed = body.sealed;
      if (body.format !== FORMAT || body.id !== id || typeof body.clear !== 'string' || !sealed) return unreadable(id, 'not a result file');
      if (typeof sealed.iv !== 'string' || typeof sealed.tag !== 'string' || typeof sealed.data !== 'string') {
        return unreadable(id, 'sealed part malformed');
      }
      let plain: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
        decipher.setAAD(additionalData(id, body.clear));
        decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
        plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
      } catch {
        return unreadable(id, 'does not authenticate (edited, or sealed with another RESULTS_KEY_SECRET)');
      }
      const clear = JSON.parse(body.clear) as unknown;
      const open = JSON.parse(plain) as unknown;
      if (!isRecord(clear) || !isRecord(open)) return unreadable(id, 'parts are not objects');
      return { clear, sealed: open };
    },

    async delete(id) {
      if (!isResultId(id)) return;
      await rm(fileOf(id), { force: true });
    },

    async sweep(maxAgeMs, now = Date.now()) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (fsErrorCode(err) === 'ENOENT') return 0;
        throw err;
      }
      let removed = 0;
      for (const name of names) {
        const result = name.endsWith(SUFFIX) && isResultId(name.slice(0, -SUFFIX.length));
        // Temporary files of writes a crash interrupted are swept after an hour, whatever the retention.
        const leftover = name.startsWith('.') && name.endsWith(ATOMIC_TEMP_SUFFIX);
        if (!result && !leftover) continue;
        const file = path.join(dir, name);
        const info = await stat(file).catch(() => null);
        if (info && now - info.mtimeMs > (result ? maxAgeMs : Math.min(maxAgeMs, LEFTOVER_MS))) {
          await rm(file, { force: true });
          removed++;
        }
      }
      return removed;
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
