import os from 'node:os';
import path from 'node:path';

export type Role = 'admin' | 'predict';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly redisUrl: string;
  /** BullMQ prefix and pub/sub channel namespace; tests use a unique one per file. */
  readonly queuePrefix: string;
  /** API key -> role. Empty map = auth off. */
  readonly apiKeys: ReadonlyMap<string, Role>;
  /** Whether /health/* and /metrics stay open when API keys are set. */
  readonly openOperationalRoutes: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly engine: 'auto' | 'tensorflow' | 'wasm';
  /**
   * What runs /predict: 'auto' (onnxruntime when it loads, else TensorFlow.js, said loudly),
   * 'onnxruntime' (required: a start-up error without it), 'tfjs'. Grad-CAM is always TensorFlow.js.
   */
  readonly predictRuntime: 'auto' | 'onnxruntime' | 'tfjs';
  /** Intra-op threads of each onnxruntime session. */
  readonly onnxThreads: number;
  readonly defaultModelName: string;
  readonly limits: {
    /** Dataset upload (multipart zip) limit in bytes. */
    readonly uploadBytes: number;
    /** Predict/explain request body limit in bytes. */
    readonly requestBytes: number;
    readonly imagesPerRequest: number;
    readonly imagePixels: number;
  };
  readonly batching: {
    readonly maxBatchSize: number;
    readonly maxWaitMs: number;
  };
  /** How many model versions an API process keeps loaded. */
  readonly modelCacheSize: number;
  readonly worker: {
    /** Stalled-job detection: a killed worker's job is retried or failed after about this long. */
    readonly lockDurationMs: number;
    readonly stalledIntervalMs: number;
    readonly attempts: number;
    /** Jobs whose estimated peak training memory exceeds this are refused at submit. */
    readonly memoryBudgetBytes: number;
  };
  /** DICOM input (src/imaging/dicom): what is accepted, and the secret of the keyed patient/study hashes. */
  readonly dicom: {
    /** Accepted Modality (0008,0060) values; null accepts any (DICOM_MODALITIES=*). */
    readonly modalities: readonly string[] | null;
    /** Refuse lateral views (ViewPosition LL, RL, ...). */
    readonly refuseLateral: boolean;
    /** Refuse multi-frame objects instead of reading their first frame. */
    readonly strictSingleFrame: boolean;
    /**
     * HMAC secret for the patient, study and instance keys; undefined: the one generated and kept in
     * DATA_DIR/secrets/dicom-key-secret (src/storage/kept-secrets.ts). Never logged.
     */
    readonly keySecret: string | undefined;
  };
  /** Results of DICOM analyses (src/services/results.ts) and their forwarding to a PACS. */
  readonly results: {
    /**
     * RESULTS_KEY_SECRET: the key material the source UIDs and patient attributes of results are
     * encrypted with; null: the one generated and kept in DATA_DIR/secrets/results-key-secret.
     */
    readonly keySecret: string | null;
    /** Results older than this are deleted (and can no longer be fetched or forwarded). */
    readonly retentionDays: number;
    /** DICOMweb root of a PACS every SR is stored to (STOW-RS to `${url}/studies`); null = none. */
    readonly dicomwebUrl: string | null;
    readonly forwardAttempts: number;
    /** First retry delay of a forward; doubles per attempt up to 15 minutes. */
    readonly forwardBackoffMs: number;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return n;
}

/** Sizes like 2147483648, 512mb, 2gib, 20MB. */
function bytes(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(name, `must be a size such as 2147483648, 512mb or 2gib (got "${raw}")`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 }[unit]!;
  const n = Math.floor(Number(m[1]) * mult);
  if (n < 1) throw new ConfigError(name, `must be at least 1 byte (got "${raw}")`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false (got "${raw}")`);
}

/** API_KEYS="key1:admin,key2:predict" (a key without a role is an admin key). */
function apiKeys(env: Env): Map<string, Role> {
  const raw = env.API_KEYS ?? '';
  const keys = new Map<string, Role>();
  for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const idx = part.lastIndexOf(':');
    const key = idx === -1 ? part : part.slice(0, idx);
    const role = idx === -1 ? 'admin' : part.slice(idx + 1);
    if (role !== 'admin' && role !== 'predict') {
      throw new ConfigError('API_KEYS', `roles must be admin or predict (got "${role}")`);
    }
    if (key.length < 16) throw new ConfigError('API_KEYS', 'keys must be at least 16 characters long');
    keys.set(key, role);
  }
  return keys;
}

function redisUrl(env: Env): string {
  const raw = env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
  try {
    const u = new URL(raw);
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('protocol');
  } catch {
    throw new ConfigError('REDIS_URL', `must be a redis:// or rediss:// URL (got "${raw}")`);
  }
  return raw;
}

/** DICOM_MODALITIES="CR,DX": Code String values (PS3.5 6.2), or * for any modality. */
function modalities(env: Env): readonly string[] | null {
  const raw = env.DICOM_MODALITIES?.trim() || 'CR,DX';
  if (raw === '*') return null;
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.find((m) => !/^[A-Z0-9_]{1,16}$/.test(m));
  if (list.length === 0 || bad !== undefined) {
    throw new ConfigError('DICOM_MODALITIES', `must be a comma-separated list of modality codes such as CR,DX, or * (got "${raw}")`);
  }
  return Object.freeze([...new Set(list)]);
}

function keySecret(env: Env): string | undefined {
  const raw = env.DICOM_KEY_SECRET;
  if (raw === undefined || raw.trim() === '') return undefined;
  // Not echoed: it is a secret.
  if (Buffer.byteLength(raw, 'utf8') < 16) throw new ConfigError('DICOM_KEY_SECRET', 'must be at least 16 bytes long');
  return raw;
}

/** At least 32 characters (e.g. `openssl rand -hex 32`): the key material of an AES-256 key. */
function secret(env: Env, name: string): string | null {
  const raw = env[name]?.trim() ?? '';
  if (raw === '') return null;
  if (raw.length < 32) throw new ConfigError(name, `must be at least 32 characters, e.g. from openssl rand -hex 32 (got ${raw.length})`);
  return raw;
}

/** An http(s) URL without query or fragment, trailing slashes removed; null when unset. */
function httpUrl(env: Env, name: string): string | null {
  const raw = env[name]?.trim() ?? '';
  if (raw === '') return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be an http:// or https:// URL');
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.search !== '' || u.hash !== '') {
    throw new ConfigError(name, 'must be an http:// or https:// URL without query or fragment');
  }
  let href = u.href;
  while (href.endsWith('/')) href = href.slice(0, -1);
  return href;
}

/** Reads and validates the environment once; the api and the worker share it. */
export function loadConfig(env: Env = process.env): Config {
  const modelName = env.DEFAULT_MODEL_NAME?.trim() || 'chestxraynet';
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(modelName)) {
    throw new ConfigError('DEFAULT_MODEL_NAME', `must match [a-z0-9][a-z0-9-]* (got "${modelName}")`);
  }
  const prefix = env.QUEUE_PREFIX?.trim() || 'cxr';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) throw new ConfigError('QUEUE_PREFIX', `must be 1-64 of [A-Za-z0-9_-] (got "${prefix}")`);
  const config: Config = {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST?.trim() || '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR?.trim() || './data'),
    redisUrl: redisUrl(env),
    queuePrefix: prefix,
    apiKeys: apiKeys(env),
    openOperationalRoutes: bool(env, 'OPEN_OPERATIONAL_ROUTES', true),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    engine: oneOf(env, 'ENGINE', ['auto', 'tensorflow', 'wasm'] as const, 'auto'),
    predictRuntime: oneOf(env, 'PREDICT_RUNTIME', ['auto', 'onnxruntime', 'tfjs'] as const, 'auto'),
    onnxThreads: int(env, 'ONNX_THREADS', 2, 1, 64),
    defaultModelName: modelName,
    limits: {
      uploadBytes: bytes(env, 'UPLOAD_LIMIT', 2 * 1024 ** 3),
      requestBytes: bytes(env, 'REQUEST_LIMIT', 50 * 1024 ** 2),
      imagesPerRequest: int(env, 'MAX_IMAGES_PER_REQUEST', 64, 1, 1024),
      imagePixels: int(env, 'MAX_IMAGE_PIXELS', 100_000_000, 1, 1_000_000_000),
    },
    batching: {
      maxBatchSize: int(env, 'BATCH_MAX_SIZE', 16, 1, 256),
      maxWaitMs: int(env, 'BATCH_MAX_WAIT_MS', 4, 0, 1000),
    },
    modelCacheSize: int(env, 'MODEL_CACHE_SIZE', 4, 1, 64),
    worker: {
      lockDurationMs: int(env, 'WORKER_LOCK_MS', 30_000, 1000, 3_600_000),
      stalledIntervalMs: int(env, 'WORKER_STALLED_CHECK_MS', 30_000, 1000, 3_600_000),
      attempts: int(env, 'JOB_ATTEMPTS', 3, 1, 20),
      memoryBudgetBytes: bytes(env, 'TRAINING_MEMORY_BUDGET', os.totalmem()),
    },
    dicom: Object.freeze({
      modalities: modalities(env),
      refuseLateral: bool(env, 'DICOM_REFUSE_LATERAL', false),
      strictSingleFrame: bool(env, 'DICOM_STRICT_SINGLE_FRAME', false),
      keySecret: keySecret(env),
    }),
    results: {
      keySecret: secret(env, 'RESULTS_KEY_SECRET'),
      retentionDays: int(env, 'RESULTS_RETENTION_DAYS', 30, 1, 3650),
      dicomwebUrl: httpUrl(env, 'RESULTS_DICOMWEB_URL'),
      forwardAttempts: int(env, 'RESULTS_FORWARD_ATTEMPTS', 100, 1, 10_000),
      forwardBackoffMs: int(env, 'RESULTS_FORWARD_BACKOFF_MS', 1000, 10, 3_600_000),
    },
  };
  return Object.freeze(config);
}
