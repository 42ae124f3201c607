import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { SourceReference } from '../../../../src/imaging/dicom-sr/source.ts';
import { COMPREHENSIVE_SR_SOP_CLASS, decimalString, deviceObserverUid, writeResultSr, type ResultSrInput } from '../../../../src/imaging/dicom-sr/sr.ts';
import { isUid } from '../../../../src/imaging/dicom-sr/source.ts';
import { nameBasedUid, newUid } from '../../../../src/imaging/dicom-sr/uid.ts';
import { dciodvfyErrors, haveTool, PHI, tag, xrayDicom } from '../../../helpers/dicom-files.ts';
import { attribute, dcmdump, dsrdump } from '../../../helpers/dicom-sr-tools.ts';

const HASH = 'c0ffee'.repeat(10) + 'abcd';
const MAX = 1 << 24;

function input(over: Partial<ResultSrInput> = {}, source = SourceReference.fromBytes(xrayDicom().bytes, MAX)): ResultSrInput {
  return {
    source,
    seriesInstanceUid: '2.25.1111111111111111111111111111111111',
    sopInstanceUid: '2.25.2222222222222222222222222222222222',
    trackingUid: '2.25.3333333333333333333333333333333333',
    createdAt: new Date('2025-06-04T10:12:45.331Z'),
    model: { name: 'chestxraynet', version: 3, contentHash: HASH },
    probability: 0.8734211921691895,
    threshold: 0.6184,
    positive: true,
    ...over,
  };
}

/** Replaces the value of the first Modality element (CS, 2 bytes) in a file this writer made. */
function withModality(bytes: Uint8Array, value: string): Uint8Array {
  const out = Uint8Array.from(bytes);
  const needle = Buffer.from([0x08, 0x00, 0x60, 0x00, 0x43, 0x53, 0x02, 0x00]);
  const at = Buffer.from(out).indexOf(needle);
  expect(at).toBeGreaterThan(0);
  out.set(Buffer.from(value, 'latin1'), at + needle.length);
  return out;
}

let tools = false;
beforeAll(async () => {
  tools = (await haveTool('dsrdump')) && (await haveTool('dciodvfy')) && (await haveTool('dcmdump'));
});

describe('the result SR', () => {
  it('is a Comprehensive SR that dsrdump prints as a TID 1500 tree with the finding, probability, threshold and algorithm', async ({ skip }) => {
    if (!tools) skip();
    const sr = writeResultSr(input());
    const tree = await dsrdump(sr);
    expect(tree.code, tree.stderr).toBe(0);
    expect(tree.stderr).toBe('');
    const out = tree.stdout;
    expect(out).toContain('Comprehensive SR Document');
    expect(out).toContain('<CONTAINER:(126000,DCM,"Imaging Measurement Report")=SEPARATE>');
    expect(out).toContain('<has obs context CODE:(121005,DCM,"Observer Type")=(121007,DCM,"Device")>');
    expect(out).toContain(`<has obs context UIDREF:(121012,DCM,"Device Observer UID")="${deviceObserverUid(HASH)}">`);
    expect(out).toContain('<has concept mod CODE:(121058,DCM,"Procedure reported")=(36554-4,LN,"XR Chest Single view")>');
    expect(out).toContain('<contains CODE:(121071,DCM,"Finding")=(233604007,SCT,"Pneumonia")>');
    expect(out).toContain('<contains NUM:(122157,DCM,"Probability")="0.87342119216919" (1,UCUM,"no units")>');
    expect(out).toContain('<has concept mod TEXT:(111001,DCM,"Algorithm Name")="chestxraynet">');
    expect(out).toContain('<has concept mod TEXT:(111003,DCM,"Algorithm Version")="3">');
    expect(out).toContain('<contains NUM:(122411,DCM,"Threshold Value")="0.6184" (1,UCUM,"no units")>');
    expect(out).toContain('<contains CODE:(121077,DCM,"Conclusion")=(233604007,SCT,"Pneumonia")>');
    expect(out).toMatch(/<contains IMAGE:=\(CR image,/);
  });

  it('concludes Normal (SNOMED CT 17621005) below the threshold', async ({ skip }) => {
    if (!tools) skip();
    const out = (await dsrdump(writeResultSr(input({ probability: 0.12, positive: false })))).stdout;
    expect(out).toContain('<contains CODE:(121077,DCM,"Conclusion")=(17621005,SCT,"Normal")>');
    expect(out).toContain('<contains NUM:(122157,DCM,"Probability")="0.12" (1,UCUM,"no units")>');
  });

  it('passes dciodvfy without errors, and dciodvfy does report a broken one', async ({ skip }) => {
    if (!tools) skip();
    const sr = writeResultSr(input());
    expect(await dciodvfyErrors(sr)).toEqual([]);
    // The check can fail: the same report with an SR document series of modality CT is an error.
    const broken = await dciodvfyErrors(withModality(sr, 'CT'));
    expect(broken.join('\n')).toMatch(/Modality/);
  });

  it("is in the source's study and patient, in a new RESEARCH USE ONLY series that references the source instance", async ({ skip }) => {
    if (!tools) skip();
    const dump = await dcmdump(writeResultSr(input()));
    expect(dump.code, dump.stderr).toBe(0);
    const d = dump.stdout;
    expect(attribute(d, '0008,0016')).toBe(COMPREHENSIVE_SR_SOP_CLASS);
    expect(attribute(d, '0008,0018')).toBe('2.25.2222222222222222222222222222222222');
    expect(attribute(d, '0020,000e')).toBe('2.25.1111111111111111111111111111111111');
    expect(attribute(d, '0020,000d')).toBe(PHI.studyUid);
    expect(attribute(d, '0008,0060')).toBe('SR');
    expect(attribute(d, '0010,0010')).toBe(PHI.patientName);
    expect(attribute(d, '0010,0020')).toBe(PHI.patientId);
    expect(attribute(d, '0010,0030')).toBe(PHI.birthDate);
    expect(attribute(d, '0008,0050')).toBe(PHI.accession);
    expect(attribute(d, '0008,103e')).toMatch(/^RESEARCH USE ONLY/);
    expect(attribute(d, '0040,a496')).toBe('PRELIMINARY');
    expect(attribute(d, '0040,a493')).toBe('UNVERIFIED');
    // Current Requested Procedure Evidence: the source's series and instance (nested, so present in the dump).
    expect(d).toContain(`(0020,000e) UI [${PHI.seriesUid}]`);
    expect(d).toContain(`(0008,1155) UI [${PHI.instanceUid}]`);
    // Things the source had that a report must not carry over.
    expect(d).not.toContain(PHI.institution);
    expect(d).not.toContain('(7fe0,0010)');
  });

  it('is the same bytes for the same result', () => {
    const source = SourceReference.fromBytes(xrayDicom().bytes, MAX);
    const a = writeResultSr(input({}, source));
    const b = writeResultSr(input({}, SourceReference.fromSealed(source.exportForSealing())));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it("copies names in the source's character set byte for byte (ISO_IR 192)", async ({ skip }) => {
    if (!tools) skip();
    const name = Buffer.from('Müller^Jürgen', 'utf8');
    const source = SourceReference.fromBytes(
      xrayDicom({
        extra: [
          { tag: tag(8, 0x0005), vr: 'CS', value: 'ISO_IR 192' },
          { tag: tag(0x10, 0x0010), vr: 'PN', value: new Uint8Array(name) },
        ],
      }).bytes,
      MAX,
    );
    const sr = writeResultSr(input({}, source));
    expect(Buffer.from(sr).includes(name)).toBe(true);
    expect(await dciodvfyErrors(sr)).toEqual([]);
    const dump = await runUtf8(sr);
    expect(dump).toContain('Müller^Jürgen');
  });
});

async function runUtf8(sr: Uint8Array): Promise<string> {
  // dcmdump +U8 converts to UTF-8 using the data set's Specific Character Set.
  const { runOnFile } = await import('../../../helpers/dicom-sr-tools.ts');
  return (await runOnFile('dcmdump', ['+U8'], sr)).stdout;
}

describe('the source reference', () => {
  it('never shows its UIDs or patient attributes when serialised, logged or spread', () => {
    const source = SourceReference.fromBytes(xrayDicom().bytes, MAX);
    const shown = [JSON.stringify({ source }), inspect(source), String(source), `${source}`, JSON.stringify({ ...source })].join('\n');
    for (const v of [PHI.studyUid, PHI.seriesUid, PHI.instanceUid, PHI.patientName, PHI.patientId, PHI.accession]) {
      expect(shown).not.toContain(v);
    }
    expect(source.sopInstanceUid()).toBe(PHI.instanceUid);
    expect(source.attributeText('patientId')).toBe(PHI.patientId);
  });

  it('refuses objects without the UIDs a result must reference (DICOM_UID_MISSING)', () => {
    expect(() => SourceReference.fromBytes(xrayDicom({ omit: [tag(0x20, 0x000e)] }).bytes, MAX)).toThrow(
      expect.objectContaining({ code: 'DICOM_UID_MISSING', status: 422, message: expect.stringContaining('SeriesInstanceUID') }),
    );
    const bad = xrayDicom({ extra: [{ tag: tag(0x20, 0x000d), vr: 'UI', value: '1.2.03.x' }] }).bytes;
    expect(() => SourceReference.fromBytes(bad, MAX)).toThrow(expect.objectContaining({ code: 'DICOM_UID_MISSING' }));
  });
});

describe('values', () => {
  it('writes decimal strings of at most 16 characters', () => {
    for (const v of [0, 1, 0.5, 0.8734211921691895, 1e-9, 0.999999999999999, 0.123456789012345]) {
      const s = decimalString(v);
      expect(s.length).toBeLessThanOrEqual(16);
      expect(Math.abs(Number(s) - v)).toBeLessThan(1e-12 + Math.abs(v) * 1e-12);
    }
  });

  it('makes 2.25 UIDs: random ones differ, name-based ones repeat', () => {
    const a = newUid();
    const b = newUid();
    expect(a).not.toBe(b);
    for (const u of [a, b, nameBasedUid('x'), deviceObserverUid(HASH)]) {
      expect(u.startsWith('2.25.')).toBe(true);
      expect(isUid(u)).toBe(true);
    }
    expect(nameBasedUid('model-a')).toBe(nameBasedUid('model-a'));
    expect(nameBasedUid('model-a')).not.toBe(nameBasedUid('model-b'));
  });
});
