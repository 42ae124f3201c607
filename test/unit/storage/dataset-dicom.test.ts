/**
 * Dataset imports with DICOM files: .dcm and sniffed DICOM entries are imported, the manifest
 * keeps the keyed PatientID hash and the de-identified header subset, the DICOM bytes are never
 * kept (a PNG of the picture is, and the archive is not), and caches at other sizes are the ones a
 * direct decode gives.
 */
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeXray } from '../../../src/imaging/decode.ts';
import { createDatasetStore, type DatasetStore } from '../../../src/storage/dataset-store.ts';
import { PHI, patientXray } from '../../helpers/dicom-files.ts';
import { xrayFile } from '../../helpers/image-files.ts';
import { writeZip, type ZipItem } from '../../helpers/zips.ts';

const SECRET = 'dataset-test-secret-0123456789';
const SIZE = 32;
const hmac = (v: string) => createHmac('sha256', SECRET).update(`patient\0${v}`).digest('hex').slice(0, 32);

let root: string;
let store: DatasetStore;
let items: ZipItem[];

/** Every file under dir, recursively, with its bytes. */
async function filesUnder(dir: string): Promise<{ file: string; bytes: Buffer }[]> {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ file: path.relative(dir, file), bytes: await readFile(file) });
  }
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'dataset-dicom-'));
  store = createDatasetStore({ dataDir: path.join(root, 'data'), defaultSize: SIZE, limits: { minImagesPerClass: 3 }, dicom: { keySecret: SECRET } });
  items = [];
  for (let i = 0; i < 4; i++) {
    const patient = `PAT-N${i % 2}`;
    items.push({ name: `NORMAL/scan-${i}.dcm`, data: Buffer.from(patientXray(patient, i, { width: 64, height: 80, seed: 10 + i, positive: false }).bytes) });
  }
  for (let i = 0; i < 3; i++) {
    // Named as PACS exports name them: no extension, or the SOP instance UID.
    const name = i === 0 ? 'PNEUMONIA/IM000001' : `PNEUMONIA/${PHI.studyUid.replace('.7.1', '')}.${40 + i}`;
    items.push({ name, data: Buffer.from(patientXray(`PAT-P${i}`, 100 + i, { width: 80, height: 64, seed: 30 + i, positive: true }).bytes) });
  }
  items.push({ name: 'PNEUMONIA/plain.png', data: await xrayFile(50, true, 48) });
  items.push({ name: 'NORMAL/LICENSE', data: Buffer.from('not an image, and not DICOM') });
  items.push({ name: 'NORMAL/ct.dcm', data: Buffer.from(patientXray('PAT-CT', 200, { modality: 'CT' }).bytes) });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a zip of DICOM files', () => {
  it('imports .dcm and sniffed DICOM files with their patient keys and de-identified headers, refusing the rest with reasons', async () => {
    const zip = path.join(root, 'dicom.zip');
    await writeZip(zip, items);
    const m = await store.importArchive(zip, { name: 'dicom' });
    expect(m.counts).toMatchObject({ images: 8, byClass: { NORMAL: 4, PNEUMONIA: 4 } });
    const skipped = Object.fromEntries(m.skipped.map((s) => [s.source, s.code]));
    expect(skipped).toEqual({ 'NORMAL/LICENSE': 'NOT_AN_IMAGE', 'NORMAL/ct.dcm': 'DICOM_MODALITY_NOT_ACCEPTED' });
    const dicomImages = m.images.filter((img) => img.dicom);
    expect(dicomImages).toHaveLength(7);
    for (const img of dicomImages) {
      const at = items.findIndex((it) => it.name === img.source);
      const patient = at < 4 ? `PAT-N${at % 2}` : `PAT-P${at - 4}`;
      expect(img.patientKey).toBe(hmac(patient));
      expect(img.dicom).toMatchObject({ modality: 'CR', viewPosition: 'PA', voi: 'window-linear', transferSyntax: 'Explicit VR Little Endian' });
      expect(img.kept).toBe(`kept/${img.hash}.png`);
    }
    const png = m.images.find((img) => img.source === 'PNEUMONIA/plain.png')!;
    expect(png.patientKey).toBeUndefined();
    expect(png.kept).toBe(`kept/${png.hash}`);

    // The archive is not kept; kept/ holds PNGs of the pictures and the PNG image itself.
    const dir = path.join(root, 'data', 'datasets', m.id);
    const files = await filesUnder(dir);
    expect(files.map((f) => f.file).filter((f) => !f.startsWith('kept/')).sort()).toEqual(['cache-32.u8', 'manifest.json', 'summary.json']);
    expect(files.filter((f) => f.file.startsWith('kept/'))).toHaveLength(8);
    for (const f of files.filter((f) => f.file.startsWith('kept/'))) expect(f.bytes.subarray(1, 4).toString()).toBe('PNG');

    // Nothing identifying in any file, binary ones included (the file names in the archive carry none).
    for (const { file, bytes } of files) {
      for (const value of [...Object.values(PHI), 'PAT-N0', 'PAT-P1', 'DOE', 'JANE', 'HOUSE', 'GREGORY']) {
        expect({ file, value, found: bytes.includes(Buffer.from(value, 'latin1')) }).toEqual({ file, value, found: false });
      }
    }

    // The cache holds what a direct decode gives; a cache at another size is rebuilt from kept/ to the same pixels.
    const source = (i: number) => items.find((it) => it.name === m.images[i]!.source)!.data;
    for (const size of [SIZE, 24]) {
      const images = await store.openImages(m.id, size);
      const batch = await images.readBatch(m.images.map((_, i) => i));
      for (let i = 0; i < m.images.length; i++) {
        const expected = await decodeXray(source(i), size);
        expect({ i, size, same: Buffer.from(batch.subarray(i * size * size, (i + 1) * size * size)).equals(Buffer.from(expected)) }).toEqual({
          i,
          size,
          same: true,
        });
      }
      await images.close();
    }
  });

  it('a folder with DICOM files keeps PNG copies of them and the other images as before', async () => {
    const folder = path.join(root, 'folder');
    for (const it of items) {
      await mkdir(path.dirname(path.join(folder, it.name)), { recursive: true });
      await writeFile(path.join(folder, it.name), it.data);
    }
    const m = await store.importDirectory(folder, { name: 'folder' });
    expect(m.counts.images).toBe(8);
    const dir = path.join(root, 'data', 'datasets', m.id);
    const kept = (await filesUnder(dir)).map((f) => f.file).filter((f) => f.startsWith('source/') || f.startsWith('kept/'));
    expect(kept.filter((f) => f.startsWith('source/'))).toEqual(['source/PNEUMONIA/plain.png']);
    expect(kept.filter((f) => f.startsWith('kept/'))).toHaveLength(7);
    const images = await store.openImages(m.id, 20);
    const batch = await images.readBatch([0]);
    expect(Buffer.from(batch).equals(Buffer.from(await decodeXray(items.find((it) => it.name === m.images[0]!.source)!.data, 20)))).toBe(true);
    await images.close();
  });
});
