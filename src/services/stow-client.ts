/**
 * Stores DICOM instances to a PACS over DICOMweb STOW-RS (PS3.18 10.5): one POST of
 * multipart/related; type="application/dicom" to `${root}/studies`. Credentials in the root URL
 * (https://user:pass@pacs/dicom-web) are sent as HTTP Basic and never shown. A failure says whether
 * retrying can help: refusals of the object itself (400, 409, 413, 415, 422, or a FailedSOPSequence
 * in the answer) are permanent; timeouts, connection errors, 5xx, 429 and auth answers (which an
 * operator can fix) are not. Messages hold status codes and failure reasons only, never UIDs or
 * the PACS's own text, since they end up in logs and in the queue.
 */
import { randomBytes } from 'node:crypto';

export type StoreInstance = (part10: Uint8Array) => Promise<void>;

export class StowError extends Error {
  override readonly name = 'StowError';
  constructor(
    message: string,
    /** Retrying the same object cannot succeed. */
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export interface StowClientOptions {
  /** DICOMweb root, e.g. http://pacs:8042/dicom-web (no trailing slash). */
  readonly root: string;
  readonly timeoutMs?: number;
}

const PERMANENT_STATUSES = new Set([400, 409, 413, 415, 422]);
/** Most bytes of the PACS's answer read (a store response is small). */
const MAX_ANSWER_BYTES = 1 << 20;

/** The root without credentials, and the Authorization header they make (if any). */
export function splitCredentials(root: string): { url: string; authorization: string | null } {
  const u = new URL(root);
  if (!u.username && !u.password) return { url: root, authorization: null };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.href.endsWith('/') ? u.href.slice(0, -1) : u.href, authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

/** Failure reasons (0008,1197) of a DICOM JSON store response's FailedSOPSequence (00081198). */
export function failureReasons(answer: unknown): number[] {
  const failed = (answer as Record<string, { Value?: unknown[] }> | null)?.['00081198']?.Value;
  if (!Array.isArray(failed)) return [];
  return failed.map((item) => {
    const reason = (item as Record<string, { Value?: unknown[] }> | null)?.['00081197']?.Value?.[0];
    return typeof reason === 'number' ? reason : 0;
  });
}

const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

export function createStowClient(opts: StowClientOptions): StoreInstance {
  const { url, authorization } = splitCredentials(opts.root);
  const endpoint = `${url}/studies`;
  const timeoutMs = opts.timeoutMs ?? 30_000;

  return async (part10) => {
    const boundary = `cxr-${randomBytes(12).toString('hex')}`;
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${part10.length}\r\n\r\n`, 'latin1'),
      part10,
      Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
    ]);
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          accept: 'application/dicom+json',
          ...(authorization ? { authorization } : {}),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const reason = err instanceof Error ? (err.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err.cause as Error | undefined)?.message ?? err.message) : 'request failed';
      throw new StowError(`PACS not reachable (${reason.slice(0, 120)})`, false);
    }
    const text = await readBounded(res);
    let answer: unknown = null;
    try {
      answer = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      // Not JSON: judged by the status alone.
    }
    const reasons = failureReasons(answer);
    if (res.status >= 200 && res.status < 300 && reasons.length === 0) return;
    if (reasons.length > 0) {
      throw new StowError(`PACS answered ${res.status}: instance failed (failure reason ${reasons.map(hex).join(', ')})`, true);
    }
    throw new StowError(`PACS answered ${res.status}`, PERMANENT_STATUSES.has(res.status));
  };
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Uint8Array).length;
    // Leaving the loop cancels the rest of the body.
    if (total > MAX_ANSWER_BYTES) break;
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks).toString('utf8');
}
