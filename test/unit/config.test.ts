import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      dataDir: path.resolve('./data'),
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'cxr',
      openOperationalRoutes: true,
      logLevel: 'info',
      engine: 'auto',
      predictRuntime: 'auto',
      onnxThreads: 2,
      defaultModelName: 'chestxraynet',
      limits: { uploadBytes: 2 * 1024 ** 3, requestBytes: 50 * 1024 ** 2, imagesPerRequest: 64, imagePixels: 100_000_000 },
      batching: { maxBatchSize: 16, maxWaitMs: 4 },
      modelCacheSize: 4,
    });
    expect(c.apiKeys.size).toBe(0);
  });

  it('reads the DICOM settings: modalities (or * for any), lateral and multi-frame refusals, the key secret', () => {
    expect(loadConfig({}).dicom).toEqual({ modalities: ['CR', 'DX'], refuseLateral: false, strictSingleFrame: false, keySecret: undefined });
    const c = loadConfig({
      DICOM_MODALITIES: ' DX, CR ,MG,DX',
      DICOM_REFUSE_LATERAL: 'true',
      DICOM_STRICT_SINGLE_FRAME: 'yes',
      DICOM_KEY_SECRET: 'a-secret-of-16-bytes+',
    });
    expect(c.dicom).toEqual({ modalities: ['DX', 'CR', 'MG'], refuseLateral: true, strictSingleFrame: true, keySecret: 'a-secret-of-16-bytes+' });
    expect(loadConfig({ DICOM_MODALITIES: '*' }).dicom.modalities).toBeNull();
    expect(configError({ DICOM_MODALITIES: 'cr' }).variable).toBe('DICOM_MODALITIES');
    expect(configError({ DICOM_MODALITIES: ',' }).variable).toBe('DICOM_MODALITIES');
    expect(configError({ DICOM_REFUSE_LATERAL: 'maybe' }).variable).toBe('DICOM_REFUSE_LATERAL');
    const short = configError({ DICOM_KEY_SECRET: 'too-short' });
    expect(short.variable).toBe('DICOM_KEY_SECRET');
    expect(short.message).not.toContain('too-short'); // a secret is never echoed
  });

  it('is frozen', () => {
    const c = loadConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow();
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      DATA_DIR: '/tmp/somewhere',
      REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
      QUEUE_PREFIX: 'my_prefix-1',
      OPEN_OPERATIONAL_ROUTES: 'off',
      LOG_LEVEL: 'debug',
      ENGINE: 'wasm',
      PREDICT_RUNTIME: 'onnxruntime',
      ONNX_THREADS: '4',
      DEFAULT_MODEL_NAME: 'other-net',
      UPLOAD_LIMIT: '512mb',
      REQUEST_LIMIT: '20MiB',
      MAX_IMAGES_PER_REQUEST: '8',
      MAX_IMAGE_PIXELS: '4000000',
      BATCH_MAX_SIZE: '32',
      BATCH_MAX_WAIT_MS: '0',
      MODEL_CACHE_SIZE: '2',
      WORKER_LOCK_MS: '5000',
      WORKER_STALLED_CHECK_MS: '6000',
      JOB_ATTEMPTS: '1',
      TRAINING_MEMORY_BUDGET: '8gib',
    });
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      dataDir: '/tmp/somewhere',
      redisUrl: 'rediss://user:pw@redis.example:6380/2',
      queuePrefix: 'my_prefix-1',
      openOperationalRoutes: false,
      logLevel: 'debug',
      engine: 'wasm',
      predictRuntime: 'onnxruntime',
      onnxThreads: 4,
      defaultModelName: 'other-net',
      limits: { uploadBytes: 512_000_000, requestBytes: 20 * 1024 ** 2, imagesPerRequest: 8, imagePixels: 4_000_000 },
      batching: { maxBatchSize: 32, maxWaitMs: 0 },
      modelCacheSize: 2,
      worker: { lockDurationMs: 5000, stalledIntervalMs: 6000, attempts: 1, memoryBudgetBytes: 8 * 1024 ** 3 },
    });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', UPLOAD_LIMIT: ' ', LOG_LEVEL: '' })).toMatchObject({
      port: 3000,
      logLevel: 'info',
      limits: { uploadBytes: 2 * 1024 ** 3 },
    });
  });

  it('parses sizes with units', () => {
    const size = (v: string) => loadConfig({ UPLOAD_LIMIT: v }).limits.uploadBytes;
    expect(size('2147483648')).toBe(2 * 1024 ** 3);
    expect(size('2gib')).toBe(2 * 1024 ** 3);
    expect(size('2GB')).toBe(2e9);
    expect(size('40kb')).toBe(40_000);
    expect(size('1.5 MiB')).toBe(1.5 * 1024 ** 2);
    expect(size('100b')).toBe(100);
  });

  it('parses API keys with roles; a key without a role is an admin key', () => {
    const keys = loadConfig({ API_KEYS: ' aaaaaaaaaaaaaaaa:admin , bbbbbbbbbbbbbbbb:predict,cccccccccccccccc ,' }).apiKeys;
    expect([...keys]).toEqual([
      ['aaaaaaaaaaaaaaaa', 'admin'],
      ['bbbbbbbbbbbbbbbb', 'predict'],
      ['cccccccccccccccc', 'admin'],
    ]);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['REDIS_URL', 'not a url'],
    ['QUEUE_PREFIX', 'has space'],
    ['QUEUE_PREFIX', 'a:b'],
    ['OPEN_OPERATIONAL_ROUTES', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
    ['ENGINE', 'cpu'],
    ['PREDICT_RUNTIME', 'onnx'],
    ['PREDICT_RUNTIME', 'ONNXRUNTIME'],
    ['ONNX_THREADS', '0'],
    ['ONNX_THREADS', '1.5'],
    ['DEFAULT_MODEL_NAME', 'Has Upper'],
    ['DEFAULT_MODEL_NAME', '../etc'],
    ['UPLOAD_LIMIT', 'lots'],
    ['UPLOAD_LIMIT', '-5mb'],
    ['UPLOAD_LIMIT', '0'],
    ['UPLOAD_LIMIT', '2tb'],
    ['REQUEST_LIMIT', '0.1b'],
    ['MAX_IMAGES_PER_REQUEST', '0'],
    ['MAX_IMAGES_PER_REQUEST', '5000'],
    ['MAX_IMAGE_PIXELS', 'many'],
    ['BATCH_MAX_SIZE', '0'],
    ['BATCH_MAX_SIZE', '1000'],
    ['BATCH_MAX_WAIT_MS', '-1'],
    ['MODEL_CACHE_SIZE', '0'],
    ['WORKER_LOCK_MS', '10'],
    ['WORKER_STALLED_CHECK_MS', 'soon'],
    ['JOB_ATTEMPTS', '0'],
    ['TRAINING_MEMORY_BUDGET', 'lots'],
    ['API_KEYS', 'short:admin'],
    ['API_KEYS', 'aaaaaaaaaaaaaaaa:root'],
    ['RESULTS_KEY_SECRET', 'too-short-a-secret'],
    ['RESULTS_RETENTION_DAYS', '0'],
    ['RESULTS_DICOMWEB_URL', 'ftp://pacs/dicom-web'],
    ['RESULTS_DICOMWEB_URL', 'http://pacs/dicom-web?x=1'],
    ['RESULTS_DICOMWEB_URL', 'not a url'],
    ['RESULTS_FORWARD_ATTEMPTS', '0'],
    ['RESULTS_FORWARD_BACKOFF_MS', '1'],
  ])('%s=%j is refused with a message naming the variable', (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message).toContain(variable);
    expect(err.message.startsWith('Invalid configuration:')).toBe(true);
  });

  it('never echoes an API key in its error messages', () => {
    const err = configError({ API_KEYS: 'secret-sho:admin' });
    expect(err.message).not.toContain('secret-sho');
    const err2 = configError({ API_KEYS: 'a-long-enough-secret-key:superuser' });
    expect(err2.message).not.toContain('a-long-enough-secret-key');
  });

  it('reads the DICOM results settings: off without a secret, the PACS root without trailing slashes', () => {
    expect(loadConfig({}).results).toEqual({ keySecret: null, retentionDays: 30, dicomwebUrl: null, forwardAttempts: 100, forwardBackoffMs: 1000 });
    const c = loadConfig({ RESULTS_KEY_SECRET: 'k'.repeat(32), RESULTS_DICOMWEB_URL: 'https://u:p@pacs.example:8443/dicom-web//' });
    expect(c.results.keySecret).toBe('k'.repeat(32));
    expect(c.results.dicomwebUrl).toBe('https://u:p@pacs.example:8443/dicom-web');
  });

  it('never echoes RESULTS_KEY_SECRET in its error message', () => {
    expect(configError({ RESULTS_KEY_SECRET: 'my-secret-value' }).message).not.toContain('my-secret-value');
  });
});
