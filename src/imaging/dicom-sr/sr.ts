/**
 * A result as a DICOM Comprehensive SR following TID 1500 (Measurement Report): the model as the
 * device observer, the source image in the image library and in the Current Requested Procedure
 * Evidence Sequence, and one measurement group (TID 1501) holding the finding (pneumonia), its
 * probability as a NUM (TID 300) identified by TID 4019 (algorithm name, version, parameters), the
 * decision threshold and the coded conclusion (pneumonia or normal). New series and instance, in
 * the source's study and patient, marked RESEARCH USE ONLY.
 *
 * The report is a pure function of its input: the same stored result always gives the same bytes.
 */
import { CODES, type Code } from '../../domain/report-codes.ts';
import type { CopiedAttribute, SourceReference } from './source.ts';
import { nameBasedUid } from './uid.ts';
import { tag, writePart10, type DicomElement, type DicomItem } from './writer.ts';

export const COMPREHENSIVE_SR_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.88.33';
export const SR_SERIES_DESCRIPTION = 'RESEARCH USE ONLY - pneumonia AI result, not for diagnosis';
export const SR_SERIES_NUMBER = '7001';
export const SR_MANUFACTURER = 'ChestXRayNet service (research use only)';

export interface ResultSrInput {
  readonly source: SourceReference;
  /** The report's own UIDs, made when the result was. */
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly trackingUid: string;
  readonly createdAt: Date;
  readonly model: { readonly name: string; readonly version: number; readonly contentHash: string };
  readonly probability: number;
  readonly threshold: number;
  /** The label is the model's positive class (pneumonia). */
  readonly positive: boolean;
}

/** The Device Observer UID of a model version: the same for every report of those weights. */
export function deviceObserverUid(contentHash: string): string {
  return nameBasedUid(`chestxraynet-service device observer\0${contentHash}`);
}

/** A decimal string (DS) of at most 16 characters. */
export function decimalString(value: number): string {
  if (!Number.isFinite(value)) throw new Error('decimalString: not a finite number');
  for (let digits = 15; digits >= 1; digits--) {
    const text = String(Number(value.toPrecision(digits)));
    if (text.length <= 16) return text;
  }
  return value.toExponential(6);
}

const el = (group: number, element: number, vr: string, value: DicomElement['value']): DicomElement => ({
  tag: tag(group, element),
  vr,
  value,
});

const codeItem = (code: Code): DicomItem => [
  el(0x0008, 0x0100, 'SH', code.value),
  el(0x0008, 0x0102, 'SH', code.scheme),
  el(0x0008, 0x0104, 'LO', code.meaning),
];

const codeSequence = (group: number, element: number, code: Code): DicomElement => el(group, element, 'SQ', { items: [codeItem(code)] });

type Relationship = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD' | 'HAS ACQ CONTEXT';

function contentItem(relationship: Relationship | null, valueType: string, name: Code | null, value: readonly DicomElement[]): DicomItem {
  return [
    ...(relationship ? [el(0x0040, 0xa010, 'CS', relationship)] : []),
    el(0x0040, 0xa040, 'CS', valueType),
    ...(name ? [codeSequence(0x0040, 0xa043, name)] : []),
    ...value,
  ];
}

const text = (relationship: Relationship, name: Code, value: string): DicomItem =>
  contentItem(relationship, 'TEXT', name, [el(0x0040, 0xa160, 'UT', value)]);

const code = (relationship: Relationship, name: Code, value: Code): DicomItem =>
  contentItem(relationship, 'CODE', name, [codeSequence(0x0040, 0xa168, value)]);

const uidRef = (relationship: Relationship, name: Code, uid: string): DicomItem =>
  contentItem(relationship, 'UIDREF', name, [el(0x0040, 0xa124, 'UI', uid)]);

const num = (relationship: Relationship, name: Code, value: number, unit: Code, children: readonly DicomItem[] = []): DicomItem =>
  contentItem(relationship, 'NUM', name, [
    el(0x0040, 0xa300, 'SQ', { items: [[codeSequence(0x0040, 0x08ea, unit), el(0x0040, 0xa30a, 'DS', decimalString(value))]] }),
    ...(children.length ? [el(0x0040, 0xa730, 'SQ', { items: children })] : []),
  ]);

const container = (relationship: Relationship | null, name: Code, children: readonly DicomItem[], template?: string): DicomItem =>
  contentItem(relationship, 'CONTAINER', name, [
    el(0x0040, 0xa050, 'CS', 'SEPARATE'),
    ...(template
      ? [el(0x0040, 0xa504, 'SQ', { items: [[el(0x0008, 0x0105, 'CS', 'DCMR'), el(0x0040, 0xdb00, 'CS', template)]] })]
      : []),
    el(0x0040, 0xa730, 'SQ', { items: children }),
  ]);

const sopReference = (classUid: string, instanceUid: string): DicomItem => [el(0x0008, 0x1150, 'UI', classUid), el(0x0008, 0x1155, 'UI', instanceUid)];

/** A copied attribute's bytes, or an empty value (the report's Type 2 attributes are present either way). */
function copied(source: SourceReference, name: CopiedAttribute, group: number, element: number, vr: string): DicomElement {
  return el(group, element, vr, source.attribute(name) ?? '');
}

function dicomDate(d: Date): string {
  return d.toISOString().slice(0, 10).replaceAll('-', '');
}

function dicomTime(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}`;
}

/** The content tree (the root container's items). */
function contentTree(input: ResultSrInput): DicomItem[] {
  const { source, model } = input;
  const algorithm: DicomItem[] = [
    text('HAS CONCEPT MOD', CODES.algorithmName, model.name),
    text('HAS CONCEPT MOD', CODES.algorithmVersion, String(model.version)),
    text('HAS CONCEPT MOD', CODES.algorithmParameters, `model content sha256 ${model.contentHash}`),
    text('HAS CONCEPT MOD', CODES.algorithmParameters, `decision threshold ${decimalString(input.threshold)}`),
  ];
  const group = container(
    'CONTAINS',
    CODES.measurementGroup,
    [
      text('HAS OBS CONTEXT', CODES.trackingIdentifier, 'Pneumonia classification'),
      uidRef('HAS OBS CONTEXT', CODES.trackingUniqueIdentifier, input.trackingUid),
      code('CONTAINS', CODES.finding, CODES.pneumonia),
      num('CONTAINS', CODES.probability, input.probability, CODES.noUnits, algorithm),
      num('CONTAINS', CODES.thresholdValue, input.threshold, CODES.noUnits),
      code('CONTAINS', CODES.conclusion, input.positive ? CODES.pneumonia : CODES.normal),
    ],
    '1501',
  );
  return [
    code('HAS CONCEPT MOD', CODES.language, CODES.englishUS),
    code('HAS OBS CONTEXT', CODES.observerType, CODES.device),
    uidRef('HAS OBS CONTEXT', CODES.deviceObserverUid, deviceObserverUid(model.contentHash)),
    text('HAS OBS CONTEXT', CODES.deviceObserverName, `${model.name} version ${model.version}`),
    text('HAS OBS CONTEXT', CODES.deviceObserverManufacturer, SR_MANUFACTURER),
    text('HAS OBS CONTEXT', CODES.deviceObserverModelName, model.name),
    code('HAS CONCEPT MOD', CODES.procedureReported, CODES.chestXraySingleView),
    container('CONTAINS', CODES.imageLibrary, [
      container('CONTAINS', CODES.imageLibraryGroup, [
        contentItem('CONTAINS', 'IMAGE', null, [
          el(0x0008, 0x1199, 'SQ', { items: [sopReference(source.sopClassUid(), source.sopInstanceUid())] }),
        ]),
      ]),
    ]),
    container('CONTAINS', CODES.imagingMeasurements, [group]),
  ];
}

/** The report as a DICOM Part 10 file (explicit VR little endian). */
export function writeResultSr(input: ResultSrInput): Uint8Array {
  const { source, createdAt } = input;
  const charset = source.specificCharacterSet();
  const root = container(null, CODES.imagingMeasurementReport, contentTree(input), '1500');
  const dataSet: DicomElement[] = [
    ...(charset ? [el(0x0008, 0x0005, 'CS', charset.split('\\'))] : []),
    el(0x0008, 0x0016, 'UI', COMPREHENSIVE_SR_SOP_CLASS),
    el(0x0008, 0x0018, 'UI', input.sopInstanceUid),
    copied(source, 'studyDate', 0x0008, 0x0020, 'DA'),
    el(0x0008, 0x0023, 'DA', dicomDate(createdAt)),
    copied(source, 'studyTime', 0x0008, 0x0030, 'TM'),
    el(0x0008, 0x0033, 'TM', dicomTime(createdAt)),
    copied(source, 'accessionNumber', 0x0008, 0x0050, 'SH'),
    el(0x0008, 0x0060, 'CS', 'SR'),
    el(0x0008, 0x0070, 'LO', SR_MANUFACTURER),
    copied(source, 'referringPhysicianName', 0x0008, 0x0090, 'PN'),
    el(0x0008, 0x0201, 'SH', '+0000'),
    el(0x0008, 0x103e, 'LO', SR_SERIES_DESCRIPTION),
    el(0x0008, 0x1090, 'LO', input.model.name),
    el(0x0008, 0x1111, 'SQ', { items: [] }),
    copied(source, 'patientName', 0x0010, 0x0010, 'PN'),
    copied(source, 'patientId', 0x0010, 0x0020, 'LO'),
    ...(source.attribute('issuerOfPatientId') ? [copied(source, 'issuerOfPatientId', 0x0010, 0x0021, 'LO')] : []),
    copied(source, 'patientBirthDate', 0x0010, 0x0030, 'DA'),
    copied(source, 'patientSex', 0x0010, 0x0040, 'CS'),
    el(0x0018, 0x1020, 'LO', `${input.model.name} ${input.model.version}`),
    el(0x0020, 0x000d, 'UI', source.studyInstanceUid()),
    el(0x0020, 0x000e, 'UI', input.seriesInstanceUid),
    copied(source, 'studyId', 0x0020, 0x0010, 'SH'),
    el(0x0020, 0x0011, 'IS', SR_SERIES_NUMBER),
    el(0x0020, 0x0013, 'IS', '1'),
    el(0x0040, 0xa372, 'SQ', { items: [] }),
    el(0x0040, 0xa375, 'SQ', {
      items: [
        [
          el(0x0008, 0x1115, 'SQ', {
            items: [
              [
                el(0x0008, 0x1199, 'SQ', { items: [sopReference(source.sopClassUid(), source.sopInstanceUid())] }),
                el(0x0020, 0x000e, 'UI', source.seriesInstanceUid()),
              ],
            ],
          }),
          el(0x0020, 0x000d, 'UI', source.studyInstanceUid()),
        ],
      ],
    }),
    el(0x0040, 0xa491, 'CS', 'COMPLETE'),
    el(0x0040, 0xa493, 'CS', 'UNVERIFIED'),
    el(0x0040, 0xa496, 'CS', 'PRELIMINARY'),
    ...root,
  ];
  return writePart10(dataSet, COMPREHENSIVE_SR_SOP_CLASS, input.sopInstanceUid);
}
