import { describe, expect, it } from 'vitest';
import { SourceReference } from '../../../src/imaging/dicom-sr/source.ts';
import { resultBundle } from '../../../src/services/result-fhir.ts';
import type { ResultRecord } from '../../../src/services/result-types.ts';
import { PHI, xrayDicom } from '../../helpers/dicom-files.ts';
import { fhirErrors } from '../../helpers/fhir.ts';

const record = (positive: boolean): ResultRecord => ({
  v: 1,
  id: 'res_abcdefghijklmnop',
  createdAt: '2025-06-04T10:12:45.331Z',
  via: 'stow-rs',
  model: { name: 'chestxraynet', version: 3, contentHash: 'f'.repeat(64) },
  probability: positive ? 0.91 : 0.08,
  label: positive ? 'PNEUMONIA' : 'NORMAL',
  threshold: 0.6184,
  positive,
  source: { modality: 'CR', viewPosition: 'PA', bodyPartExamined: 'CHEST', sopClass: 'Computed Radiography Image Storage', rows: 320, columns: 256, lossyImageCompression: false },
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking FHIR JSON in assertions
type Entry = { fullUrl: string; resource: Record<string, any> };
const source = () => SourceReference.fromBytes(xrayDicom().bytes, 1 << 24);
const byType = (bundle: Record<string, unknown>, type: string) =>
  (bundle.entry as Entry[]).find((e) => e.resource.resourceType === type)!;

describe('a result as FHIR R4', () => {
  it('is a valid R4 Bundle (the JSON schema), and the validator does catch an invalid one', () => {
    const bundle = resultBundle(record(true), source());
    expect(fhirErrors(bundle)).toEqual([]);
    for (const e of bundle.entry as Entry[]) expect(fhirErrors(e.resource), e.resource.resourceType).toEqual([]);
    const broken = structuredClone(bundle) as { entry: Entry[] };
    byType(broken, 'DiagnosticReport').resource.status = 'draft-ish';
    delete byType(broken, 'ImagingStudy').resource.status;
    expect(fhirErrors(broken).length).toBeGreaterThan(0);
  });

  it('reports a preliminary chest X-ray report with the SNOMED CT conclusion, the probability and the threshold', () => {
    for (const positive of [true, false]) {
      const bundle = resultBundle(record(positive), source());
      expect(bundle.type).toBe('collection');
      const report = byType(bundle, 'DiagnosticReport').resource;
      expect(report.status).toBe('preliminary');
      expect(report.code.coding).toEqual([{ system: 'http://loinc.org', code: '36554-4', display: 'XR Chest Single view' }]);
      expect(report.conclusionCode[0].coding[0]).toEqual(
        positive
          ? { system: 'http://snomed.info/sct', code: '233604007', display: 'Pneumonia' }
          : { system: 'http://snomed.info/sct', code: '17621005', display: 'Normal' },
      );
      expect(report.conclusion).toMatch(/^RESEARCH USE ONLY/);
      const obs = byType(bundle, 'Observation').resource;
      expect(obs.valueQuantity).toEqual({ value: positive ? 0.91 : 0.08, unit: '1', system: 'http://unitsofmeasure.org', code: '1' });
      expect(obs.component[0].valueQuantity.value).toBe(0.6184);
      expect(obs.component[0].code.coding[0].code).toBe('122411');
      expect(obs.interpretation[0].coding[0].code).toBe(positive ? 'POS' : 'NEG');
      // References resolve inside the Bundle.
      const urls = new Set((bundle.entry as Entry[]).map((e) => e.fullUrl));
      for (const ref of [obs.device.reference, obs.derivedFrom[0].reference, report.result[0].reference, report.imagingStudy[0].reference, report.subject.reference]) {
        expect(urls.has(ref)).toBe(true);
      }
    }
  });

  it('names the model as a Device and the source study by its StudyInstanceUID, and the patient by PatientID only', () => {
    const bundle = resultBundle(record(true), source());
    const device = byType(bundle, 'Device').resource;
    expect(device.deviceName[0].name).toBe('chestxraynet');
    expect(device.version[0].value).toBe('3');
    expect(device.identifier[0].value).toBe('f'.repeat(64));
    const study = byType(bundle, 'ImagingStudy').resource;
    expect(study.identifier[0]).toEqual({ system: 'urn:dicom:uid', value: `urn:oid:${PHI.studyUid}` });
    expect(study.series[0].uid).toBe(PHI.seriesUid);
    expect(study.series[0].instance[0].uid).toBe(PHI.instanceUid);
    expect(study.series[0].modality.code).toBe('CR');
    const patient = byType(bundle, 'Patient').resource;
    expect(patient).toEqual({ resourceType: 'Patient', identifier: [{ value: PHI.patientId }] });
    expect(JSON.stringify(bundle)).not.toContain('DOE');
  });

  it('is the same Bundle every time for the same result', () => {
    expect(resultBundle(record(true), source())).toEqual(resultBundle(record(true), source()));
  });
});
