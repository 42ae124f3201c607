/** STOW-RS request bodies as a DICOMweb client sends them: multipart/related; type="application/dicom". */
import { randomBytes } from 'node:crypto';
import { tag, xrayDicom, type XrayOptions } from './dicom-files.ts';

export function stowBody(instances: readonly Uint8Array[], opts: { type?: string; boundary?: string } = {}): { body: Buffer; contentType: string } {
  const boundary = opts.boundary ?? `stow-${randomBytes(8).toString('hex')}`;
  const type = opts.type ?? 'application/dicom';
  const body = Buffer.concat([
    ...instances.flatMap((bytes) => [Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\n\r\n`), Buffer.from(bytes), Buffer.from('\r\n')]),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/related; type="${type}"; boundary=${boundary}` };
}

/** UIDs of one test instance: study and series shared by the instances of a test, instance unique. */
export interface InstanceUids {
  study: string;
  series: string;
  instance: string;
}

let counter = 0;
/** Fresh UIDs under a test root (2.25 + time + counter), so instances stored to a PACS never collide. */
export function freshUids(study?: string): InstanceUids {
  const base = `2.25.${Date.now()}${process.pid}`;
  counter++;
  return { study: study ?? `${base}.1.${counter}`, series: `${base}.2.${counter}`, instance: `${base}.3.${counter}` };
}

/** A synthetic CR chest X-ray carrying the given UIDs (and the planted PHI of dicom-files.ts). */
export function xrayWithUids(uids: InstanceUids, opts: XrayOptions = {}) {
  return xrayDicom({
    ...opts,
    extra: [
      ...(opts.extra ?? []),
      { tag: tag(0x20, 0x000d), vr: 'UI', value: uids.study },
      { tag: tag(0x20, 0x000e), vr: 'UI', value: uids.series },
      { tag: tag(0x08, 0x0018), vr: 'UI', value: uids.instance },
    ],
  });
}
