/**
 * A result as a FHIR R4 Bundle (type collection): a DiagnosticReport (preliminary, LOINC 36554-4
 * "XR Chest Single view", the conclusion coded in SNOMED CT: 233604007 Pneumonia or 17621005
 * Normal), an Observation with the probability (valueQuantity, UCUM "1") and the decision
 * threshold (a component), the Device that made it (the model: name, version, content hash), the
 * ImagingStudy it was made from (identified by its StudyInstanceUID as urn:oid:, with the series
 * and instance) and the Patient (PatientID as its identifier, nothing else).
 *
 * A pure function: the same result gives the same Bundle (entry ids are name-based on the result id).
 */
import { createHash } from 'node:crypto';
import { CODES, FHIR_SYSTEMS, type Code } from '../domain/report-codes.ts';
import { SourceReference } from '../imaging/dicom-sr/source.ts';
import type { ResultRecord } from './result-types.ts';

export const RESEARCH_USE_ONLY = 'RESEARCH USE ONLY: an automated estimate, not a diagnosis; not for clinical use.';

type Json = Record<string, unknown>;

const coding = (code: Code): Json => ({ system: FHIR_SYSTEMS[code.scheme], code: code.value, display: code.meaning });
const concept = (code: Code, text?: string): Json => ({ coding: [coding(code)], ...(text ? { text } : {}) });
const unity = (value: number): Json => ({ value, unit: '1', system: FHIR_SYSTEMS.UCUM, code: '1' });

/** urn:uuid of a name (a version 8 UUID from SHA-256), so every rendering of a result has the same ids. */
function nameBasedUuid(name: string): string {
  const b = createHash('sha256').update(name, 'utf8').digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** DICOM modality codes FHIR takes from the DCM code system (PS3.16 CID 29); anything else is OT. */
const MODALITY_MEANINGS: Readonly<Record<string, string>> = {
  CR: 'Computed Radiography',
  DX: 'Digital Radiography',
  CT: 'Computed Tomography',
  MR: 'Magnetic Resonance',
  US: 'Ultrasound',
  XA: 'X-Ray Angiography',
  RF: 'Radio Fluoroscopy',
  MG: 'Mammography',
  NM: 'Nuclear Medicine',
  PT: 'Positron emission tomography',
  OT: 'Other',
};

export function resultBundle(record: ResultRecord, source: SourceReference): Json {
  const url = (kind: string) => `urn:uuid:${nameBasedUuid(`${record.id}/${kind}`)}`;
  const ids = {
    bundle: url('Bundle'),
    report: url('DiagnosticReport'),
    observation: url('Observation'),
    device: url('Device'),
    study: url('ImagingStudy'),
    patient: url('Patient'),
  };
  const { model } = record;
  const finding = record.positive ? CODES.pneumonia : CODES.normal;
  const patientId = source.attributeText('patientId');
  const modality = record.source.modality !== null && record.source.modality in MODALITY_MEANINGS ? record.source.modality : 'OT';
  const conclusion =
    `${RESEARCH_USE_ONLY} ${model.name} version ${model.version}: probability of pneumonia ` +
    `${record.probability.toFixed(4)} at the decision threshold ${record.threshold.toFixed(4)}: ${finding.meaning.toLowerCase()}.`;

  const patient: Json = {
    resourceType: 'Patient',
    // PatientID only: the identifier systems of the source are unknown, and names are left to the SR.
    ...(patientId ? { identifier: [{ value: patientId }] } : {}),
  };
  const device: Json = {
    resourceType: 'Device',
    identifier: [{ type: { text: 'Model content SHA-256 (model.json and weights.bin)' }, value: model.contentHash }],
    status: 'active',
    manufacturer: 'ChestXRayNet service',
    deviceName: [{ name: model.name, type: 'model-name' }],
    type: { text: 'Chest X-ray pneumonia classifier (research use only)' },
    version: [{ value: String(model.version) }],
    note: [{ text: RESEARCH_USE_ONLY }],
  };
  const study: Json = {
    resourceType: 'ImagingStudy',
    identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${source.studyInstanceUid()}` }],
    status: 'available',
    subject: { reference: ids.patient },
    numberOfSeries: 1,
    numberOfInstances: 1,
    series: [
      {
        uid: source.seriesInstanceUid(),
        modality: { system: FHIR_SYSTEMS.DCM, code: modality, display: MODALITY_MEANINGS[modality] },
        numberOfInstances: 1,
        instance: [{ uid: source.sopInstanceUid(), sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${source.sopClassUid()}` } }],
      },
    ],
  };
  const observation: Json = {
    resourceType: 'Observation',
    status: 'preliminary',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'imaging', display: 'Imaging' }] }],
    code: concept(CODES.pneumonia, 'Probability of pneumonia (AI estimate)'),
    subject: { reference: ids.patient },
    issued: record.createdAt,
    valueQuantity: unity(record.probability),
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: record.positive ? 'POS' : 'NEG',
            display: record.positive ? 'Positive' : 'Negative',
          },
        ],
      },
    ],
    note: [{ text: RESEARCH_USE_ONLY }],
    method: { text: `${model.name} version ${model.version}` },
    device: { reference: ids.device },
    derivedFrom: [{ reference: ids.study }],
    component: [{ code: concept(CODES.thresholdValue, 'Decision threshold of the model version'), valueQuantity: unity(record.threshold) }],
  };
  const report: Json = {
    resourceType: 'DiagnosticReport',
    status: 'preliminary',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD', display: 'Radiology' }] }],
    code: concept(CODES.chestXraySingleView),
    subject: { reference: ids.patient },
    issued: record.createdAt,
    result: [{ reference: ids.observation }],
    imagingStudy: [{ reference: ids.study }],
    conclusion,
    conclusionCode: [concept(finding)],
  };
  return {
    resourceType: 'Bundle',
    identifier: { system: 'urn:ietf:rfc:3986', value: ids.bundle },
    type: 'collection',
    timestamp: record.createdAt,
    entry: [
      { fullUrl: ids.report, resource: report },
      { fullUrl: ids.observation, resource: observation },
      { fullUrl: ids.device, resource: device },
      { fullUrl: ids.study, resource: study },
      { fullUrl: ids.patient, resource: patient },
    ],
  };
}

/** A Bundle for documentation: the given result with made-up references (not any patient's). */
export function exampleBundle(record: ResultRecord): Record<string, unknown> {
  const source = SourceReference.fromSealed({
    uids: {
      studyInstanceUid: '2.25.302935710437431948119830571392618264437',
      seriesInstanceUid: '2.25.187206471032748592671846610823749017213',
      sopInstanceUid: '2.25.259146837001294762375028412036472914806',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.1',
    },
    specificCharacterSet: null,
    attributes: { patientId: Buffer.from('EXAMPLE-0001', 'latin1').toString('base64') },
  });
  return resultBundle(record, source);
}
