/**
 * No PHI at rest or in logs: the whole service (`npm start`: API + worker processes, LOG_LEVEL=trace)
 * against a fresh DATA_DIR and its own queue prefix takes DICOM files carrying planted PHI through
 * every DICOM path (dataset upload, training, predict, explain, STOW-RS, results, refusals). Then
 * every byte of every file under DATA_DIR (zip and gzip members inflated), every key name and value
 * under the prefix in Redis, every Redis command the service sent (MONITOR) and every log line are
 * searched for the planted values, plain, case-insensitive and base64-encoded at all three
 * alignments. Positive controls show the search finds them where they are (the files sent, the FHIR
 * and SR renderings returned on purpose, decoys planted in DATA_DIR and Redis).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientXray, PHI, tag, type Element } from '../helpers/dicom-files.ts';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { freePort, startService, type ServiceProcess } from '../helpers/service-process.ts';
import { stowBody } from '../helpers/stow.ts';
import { rawZip } from '../helpers/zips.ts';

const run = promisify(execFile);

const SECRET = 'dicom-phi-test-results-secret-0123456789';
const STUDY_DESCRIPTION = 'CHEST FOR ZEBRAFINCH FOLLOWUP';
const PATIENT_ADDRESS = '742 EVERGREEN TERRACE SPRINGFIELD';
const OTHER_PATIENT_ID = 'OPID-55120-ZK';

/** Extra identifying attributes beside those dicom-files.ts plants in every file. */
const MORE_PHI: readonly Element[] = [
  { tag: tag(8, 0x1030), vr: 'LO', value: STUDY_DESCRIPTION },
  { tag: tag(0x10, 0x1040), vr: 'LO', value: PATIENT_ADDRESS },
  { tag: tag(0x10, 0x1000), vr: 'LO', value: OTHER_PATIENT_ID },
];

/** What must never be found, by name. Prefixes cover the per-file suffixes (PatientID-n, UID.n). */
const TEXT_NEEDLES: Record<string, string> = {
  patientName: PHI.patientName,
  patientNameSpaced: 'DOE JANE',
  patientId: PHI.patientId,
  accession: PHI.accession,
  studyUid: PHI.studyUid,
  seriesUid: PHI.seriesUid,
  instanceUid: PHI.instanceUid,
  institution: PHI.institution,
  referringPhysician: PHI.referringPhysician,
  studyDescription: STUDY_DESCRIPTION,
  patientAddress: PATIENT_ADDRESS,
  otherPatientId: OTHER_PATIENT_ID,
  birthDateIso: '1961-04-17',
};
/** Digit strings: only where no digit touches them (metrics and timings are full of digits). */
const DIGIT_NEEDLES: Record<string, string> = { birthDate: PHI.birthDate };

/** The base64 of `s` at each of the three byte alignments it may have in a longer encoded value. */
function base64Forms(s: string): string[] {
  const bytes = Buffer.from(s, 'latin1');
  const forms: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const from = shift === 0 ? 0 : 3;
    const to = Math.floor((shift + bytes.length) / 3) * 3;
    if (to - from >= 6) forms.push(encoded.slice((from / 3) * 4, (to / 3) * 4));
  }
  return forms;
}

/** The names of the planted values found in `data` (with where, for the failure message). */
function phiIn(data: Buffer | string, where: string): string[] {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const lower = text.toLowerCase();
  const found: string[] = [];
  for (const [name, needle] of Object.entries(TEXT_NEEDLES)) {
    if (lower.includes(needle.toLowerCase())) found.push(`${where}: ${name}`);
    else if (base64Forms(needle).some((b) => text.includes(b))) found.push(`${where}: ${name} (base64)`);
  }
  for (const [name, needle] of Object.entries(DIGIT_NEEDLES)) {
    if (new RegExp(`(?<!\\d)${needle}(?!\\d)`).test(text)) found.push(`${where}: ${name}`);
    else if (base64Forms(needle).some((b) => text.includes(b))) found.push(`${where}: ${name} (base64)`);
  }
  return found;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** Every file under `dir`, searched as stored and, for zip and gzip files, inflated too. */
async function phiInDirectory(dir: string): Promise<{ found: string[]; files: number }> {
  const found: string[] = [];
  const files = await filesUnder(dir);
  for (const file of files) {
    const where = path.relative(dir, file);
    const bytes = await readFile(file);
    found.push(...phiIn(where, `${where} (file name)`), ...phiIn(bytes, where));
    if (bytes.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
      const { stdout } = await run('unzip', ['-p', file], { encoding: 'buffer', maxBuffer: 1 << 30 });
      found.push(...phiIn(stdout, `${where} (zip members)`));
    }
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) found.push(...phiIn(zlib.gunzipSync(bytes), `${where} (gunzipped)`));
  }
  return { found, files: files.length };
}

/** Every key under `prefix` and its whole value, whatever its type. */
async function phiInRedis(redis: Redis, prefix: string): Promise<{ found: string[]; keys: number }> {
  const found: string[] = [];
  let keys = 0;
  let cursor = '0';
  do {
    const [next, batch] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next.toString();
    for (const keyBuf of batch) {
      keys++;
      const key = keyBuf.toString('latin1');
      found.push(...phiIn(keyBuf, `redis key name ${key}`));
      const type = await redis.type(key);
      let parts: Buffer[] = [];
      if (type === 'string') parts = [(await redis.getBuffer(key)) ?? Buffer.alloc(0)];
      else if (type === 'hash') parts = Object.entries(await redis.hgetallBuffer(key)).flatMap(([f, v]) => [Buffer.from(f, 'latin1'), v]);
      else if (type === 'list') parts = await redis.lrangeBuffer(key, 0, -1);
      else if (type === 'set') parts = await redis.smembersBuffer(key);
      else if (type === 'zset') parts = await redis.zrangeBuffer(key, '0', '-1', 'WITHSCORES');
      else if (type === 'stream') {
        const entries = (await redis.xrangeBuffer(key, '-', '+')) as unknown as [Buffer, Buffer[]][];
        parts = entries.flatMap(([id, fields]) => [id, ...fields]);
      } else if (type !== 'none') throw new Error(`redis key ${key} has a type this test does not read: ${type}`);
      found.push(...phiIn(Buffer.concat(parts), `redis value of ${key} (${type})`));
    }
  } while (cursor !== '0');
  return { found, keys };
}

const prefix = uniquePrefix(import.meta.url);
let service: ServiceProcess;
let redis: Redis;
let monitor: Awaited<ReturnType<Redis['monitor']>> | undefined;
const commands: string[] = [];
const sent: Buffer[] = [];
const returned: { json: string[]; fhir?: string; sr?: Buffer } = { json: [] };
/** Set when every path ran: the searches below mean nothing otherwise. */
let ranEverything = false;
let datasetId = '';

const post = (route: string, body: Buffer | Uint8Array, type: string, accept?: string) =>
  fetch(`${service.url}${route}`, { method: 'POST', body: Buffer.from(body), headers: { 'content-type': type, ...(accept ? { accept } : {}) } });

beforeAll(async () => {
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 2 });
  monitor = await redis.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => a.includes(prefix))) commands.push(args.join(' '));
  });
  // A forwarding target nobody listens on: forward jobs are queued (and fail) with their payloads in Redis.
  const deadPort = await freePort();
  service = await startService(import.meta.url, {
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'trace',
    RESULTS_KEY_SECRET: SECRET,
    RESULTS_DICOMWEB_URL: `http://127.0.0.1:${deadPort}/dicomweb`,
    RESULTS_FORWARD_ATTEMPTS: '2',
    RESULTS_FORWARD_BACKOFF_MS: '10',
    DICOM_REFUSE_LATERAL: 'true',
  });
}, 120_000);

afterAll(async () => {
  monitor?.disconnect();
  await service?.stop();
  if (redis) {
    // This file's keys go with it.
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
}, 60_000);

describe('planted PHI in DICOM files reaches neither DATA_DIR, Redis nor the logs', () => {
  it('runs every DICOM path: dataset upload, training, predict, explain, STOW-RS, results, refusals', async () => {
    const x = (i: number, positive: boolean, extra: Partial<Parameters<typeof patientXray>[2]> = {}) =>
      patientXray(`${PHI.patientId}-${i}`, i, { width: 64, height: 64, positive, seed: 100 + i, ...extra, extra: MORE_PHI });
    const entries = [];
    for (let i = 0; i < 20; i++) {
      const positive = i >= 10;
      const file = x(i, positive).bytes;
      sent.push(Buffer.from(file));
      entries.push({ name: `${positive ? 'PNEUMONIA' : 'NORMAL'}/img-${i}.dcm`, data: Buffer.from(file), method: 8 });
    }
    // Refused inside the dataset: a lateral view, a modality outside DICOM_MODALITIES, a truncated file.
    const lateral = x(40, false, { viewPosition: 'LL' }).bytes;
    const mr = x(41, false, { modality: 'MR' }).bytes;
    const truncated = x(42, true).bytes.subarray(0, 900);
    entries.push(
      { name: 'NORMAL/lateral.dcm', data: Buffer.from(lateral), method: 8 },
      { name: 'NORMAL/mr.dcm', data: Buffer.from(mr), method: 8 },
      { name: 'PNEUMONIA/truncated.dcm', data: Buffer.from(truncated), method: 8 },
    );
    const form = new FormData();
    form.append('name', 'phi');
    form.append('file', new Blob([new Uint8Array(rawZip(entries))], { type: 'application/zip' }), 'phi.zip');
    const uploaded = await fetch(`${service.url}/v1/datasets`, { method: 'POST', body: form });
    const dataset = (await uploaded.json()) as { id: string; skipped: { source: string; code: string; reason: string }[] };
    expect(uploaded.status, JSON.stringify(dataset)).toBe(201);
    datasetId = dataset.id;
    expect(dataset.skipped.map((s) => s.source).sort(), JSON.stringify(dataset.skipped)).toEqual(['NORMAL/lateral.dcm', 'NORMAL/mr.dcm', 'PNEUMONIA/truncated.dcm']);

    const started = await fetch(`${service.url}/v1/training-jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ datasetId: dataset.id, epochs: 1, model: { inputSize: 64 } }),
    });
    const job = (await started.json()) as { id: string };
    expect(started.status, JSON.stringify(job)).toBe(202);
    let status = '';
    for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 300))) {
      const view = (await (await fetch(`${service.url}/v1/training-jobs/${job.id}`)).json()) as { status: string };
      status = view.status;
      if (status === 'completed' || status === 'failed') break;
    }
    expect(status, service.output().slice(-4000)).toBe('completed');

    const predicted = await post('/v1/predict', sent[12]!, 'application/dicom');
    expect(predicted.status, await predicted.clone().text()).toBe(200);
    const explained = await post('/v1/explain', sent[3]!, 'application/dicom', 'application/json');
    expect(explained.status, await explained.clone().text()).toBe(200);

    // Refusals on the predict path log too.
    for (const bad of [lateral, mr, truncated]) {
      const res = await post('/v1/predict', bad, 'application/dicom');
      expect(res.status, await res.text()).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }

    const { body, contentType } = stowBody([sent[11]!, sent[4]!, lateral]);
    const stowed = await post('/dicomweb/studies', body, contentType, 'application/dicom+json');
    const store = (await stowed.json()) as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
    expect([200, 202], JSON.stringify(store)).toContain(stowed.status);
    const urls = (store['00081199']?.Value ?? []).map((item) => String(item['00081190']?.Value?.[0]));
    expect(urls).toHaveLength(2);
    expect(store['00081198']?.Value ?? []).toHaveLength(1);
    for (const u of urls) {
      const id = u.split('/').pop()!;
      const json = await fetch(`${service.url}/v1/results/${id}`, { headers: { accept: 'application/json' } });
      expect(json.status).toBe(200);
      returned.json.push(await json.text());
      const fhir = await fetch(`${service.url}/v1/results/${id}`, { headers: { accept: 'application/fhir+json' } });
      expect(fhir.status).toBe(200);
      returned.fhir = await fhir.text();
      const sr = await fetch(`${service.url}/v1/results/${id}`, { headers: { accept: 'application/dicom' } });
      expect(sr.status).toBe(200);
      returned.sr = Buffer.from(await sr.arrayBuffer());
    }
    // Let the forward jobs run (and fail against the dead target) so their traces are in Redis and the logs.
    await new Promise((r) => setTimeout(r, 1500));
    ranEverything = true;
  }, 100_000);

  it('the search finds the planted PHI where it is on purpose (files sent, FHIR and SR returned), and not in the result JSON', () => {
    expect(ranEverything, 'the first test ran every DICOM path').toBe(true);
    const inSent = phiIn(sent[0]!, 'sent');
    for (const name of [...Object.keys(TEXT_NEEDLES).filter((n) => n !== 'patientNameSpaced' && n !== 'birthDateIso'), 'birthDate']) {
      expect(inSent).toContain(`sent: ${name}`);
    }
    // The renderings returned to the caller carry the patient's ids: the values went through the service.
    expect(phiIn(returned.fhir!, 'fhir')).toEqual(expect.arrayContaining(['fhir: patientId', 'fhir: studyUid']));
    expect(phiIn(returned.sr!, 'sr')).toEqual(expect.arrayContaining(['sr: patientName', 'sr: patientId']));
    // The result as JSON (the default rendering) carries none: only the FHIR and SR renderings name the patient.
    expect(returned.json).toHaveLength(2);
    expect(returned.json.flatMap((j, i) => phiIn(j, `result JSON ${i}`))).toEqual([]);
    expect(phiIn(Buffer.from(`{"a":"${Buffer.from(`x${PHI.patientName}`).toString('base64')}"}`), 'b64')).toEqual(['b64: patientName (base64)']);
    expect(phiIn('t=1961041700', 'digits')).toEqual([]);
  });

  it('DATA_DIR holds none of it (every file, byte for byte, zips inflated); a decoy proves the walk reads them', async () => {
    expect(ranEverything, 'the first test ran every DICOM path').toBe(true);
    const decoyDir = path.join(service.dataDir, 'uploads', 'phi-decoy', 'deep');
    await mkdir(decoyDir, { recursive: true });
    await writeFile(path.join(decoyDir, 'decoy.zip'), rawZip([{ name: 'a.bin', data: Buffer.from(`\0${PHI.studyUid}\0`), method: 8 }]));
    const withDecoy = await phiInDirectory(service.dataDir);
    expect(withDecoy.found).toContain('uploads/phi-decoy/deep/decoy.zip (zip members): studyUid');
    await rm(path.join(service.dataDir, 'uploads', 'phi-decoy'), { recursive: true });

    // What a DICOM dataset keeps: pixels (a PNG), class, the keyed hash of PatientID, the header subset; not the archive.
    const dir = path.join(service.dataDir, 'datasets', datasetId);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
      images: { className: string; patientKey?: string; kept?: string; dicom?: { modality: string; viewPosition: string } }[];
    };
    expect(manifest.images).toHaveLength(20);
    const keys = new Set(manifest.images.map((img) => img.patientKey));
    expect(keys.size).toBe(20);
    for (const img of manifest.images) {
      expect(img.patientKey).toMatch(/^[0-9a-f]{32}$/);
      expect(img.kept).toMatch(/\.png$/);
      expect(img.dicom).toMatchObject({ modality: 'CR', viewPosition: 'PA' });
    }
    // Keyed, not a plain hash anyone can recompute from a patient id.
    const plain = createHash('sha256').update(`${PHI.patientId}-0`).digest('hex');
    expect([...keys].some((k) => k !== undefined && plain.startsWith(k))).toBe(false);
    expect(await readdir(dir)).not.toContain('source.zip');

    const { found, files } = await phiInDirectory(service.dataDir);
    expect(files).toBeGreaterThan(5);
    expect(found).toEqual([]);
  }, 30_000);

  it('Redis holds none of it, in key names or values of any type, nor did any command the service sent carry it', async () => {
    expect(ranEverything, 'the first test ran every DICOM path').toBe(true);
    const decoy = `${prefix}:phi-decoy`;
    await redis.xadd(decoy, '*', 'data', JSON.stringify({ name: PHI.patientName }));
    const withDecoy = await phiInRedis(redis, prefix);
    expect(withDecoy.found).toContain(`redis value of ${decoy} (stream): patientName`);
    await redis.del(decoy);

    const { found, keys } = await phiInRedis(redis, prefix);
    expect(keys).toBeGreaterThan(3);
    expect(found).toEqual([]);
    // Every command naming the prefix, including values written and deleted since (the decoy's XADD is the control).
    const monitored = commands.flatMap((c, i) => phiIn(c, `command ${i}`));
    expect(commands.length).toBeGreaterThan(20);
    expect(monitored.length).toBeGreaterThan(0);
    expect(commands.filter((c, i) => phiIn(c, `command ${i}`).length > 0 && !c.includes('phi-decoy'))).toEqual([]);
  }, 30_000);

  it('the logs (API and worker, trace level) hold none of it', () => {
    expect(ranEverything, 'the first test ran every DICOM path').toBe(true);
    const logs = service.output();
    expect(logs.split('\n').filter((l) => l.includes('"level"')).length).toBeGreaterThan(20);
    expect(logs).toMatch(/"level":10/);
    expect(phiIn(logs, 'logs')).toEqual([]);
  });
});
