/**
 * What a result must know about the DICOM object it analysed to reference it: its four UIDs, and
 * the Patient and General Study attributes a structured report copies so a PACS files it beside the
 * image. All of it is patient data: it lives in a SourceReference, which no serialiser, logger or
 * spread can see into; exportForSealing() hands the values to the encrypted result store only.
 * Values are kept as the bytes of the source (in its Specific Character Set), so the report says
 * exactly what the image said whatever the character set.
 */
import { inspect } from 'node:util';
import { AppError } from '../../errors.ts';
import { parseDicomBytes, type DataSet } from '../dicom/parse.ts';

/** Attributes copied into the report, by dicom-parser key, with the VR each has (implicit VR sources carry none). */
export const COPIED_ATTRIBUTES = Object.freeze({
  patientName: { key: 'x00100010', tag: 0x00100010, vr: 'PN', label: '(0010,0010) PatientName' },
  patientId: { key: 'x00100020', tag: 0x00100020, vr: 'LO', label: '(0010,0020) PatientID' },
  issuerOfPatientId: { key: 'x00100021', tag: 0x00100021, vr: 'LO', label: '(0010,0021) IssuerOfPatientID' },
  patientBirthDate: { key: 'x00100030', tag: 0x00100030, vr: 'DA', label: '(0010,0030) PatientBirthDate' },
  patientSex: { key: 'x00100040', tag: 0x00100040, vr: 'CS', label: '(0010,0040) PatientSex' },
  studyDate: { key: 'x00080020', tag: 0x00080020, vr: 'DA', label: '(0008,0020) StudyDate' },
  studyTime: { key: 'x00080030', tag: 0x00080030, vr: 'TM', label: '(0008,0030) StudyTime' },
  accessionNumber: { key: 'x00080050', tag: 0x00080050, vr: 'SH', label: '(0008,0050) AccessionNumber' },
  referringPhysicianName: { key: 'x00080090', tag: 0x00080090, vr: 'PN', label: '(0008,0090) ReferringPhysicianName' },
  studyId: { key: 'x00200010', tag: 0x00200010, vr: 'SH', label: '(0020,0010) StudyID' },
} as const);

export type CopiedAttribute = keyof typeof COPIED_ATTRIBUTES;

const UID_ATTRIBUTES = Object.freeze({
  studyInstanceUid: { key: 'x0020000d', label: '(0020,000D) StudyInstanceUID' },
  seriesInstanceUid: { key: 'x0020000e', label: '(0020,000E) SeriesInstanceUID' },
  sopInstanceUid: { key: 'x00080018', label: '(0008,0018) SOPInstanceUID' },
  sopClassUid: { key: 'x00080016', label: '(0008,0016) SOPClassUID' },
} as const);

type UidName = keyof typeof UID_ATTRIBUTES;

const SPECIFIC_CHARACTER_SET = 'x00080005';

/** A UID (PS3.5 9.1): dot-separated numbers without leading zeros, at most 64 characters. */
const UID_SYNTAX = /^(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*))*$/;
/** The defined terms of Specific Character Set are code strings (upper case, digits, space, underscore, backslash). */
const CHARSET_SYNTAX = /^[A-Z0-9 _\\]{0,160}$/;
/** Longest value copied (bytes); a longer one is not a value of its VR and is left out. */
const MAX_COPIED_BYTES = 512;

export function isUid(value: string): boolean {
  return value.length > 0 && value.length <= 64 && UID_SYNTAX.test(value);
}

/** The plain values, for the result store to encrypt: UIDs as text, copied attributes as base64 of their bytes. */
export interface SealedSource {
  readonly uids: Readonly<Record<UidName, string>>;
  readonly specificCharacterSet: string | null;
  readonly attributes: Readonly<Partial<Record<CopiedAttribute, string>>>;
}

const REDACTED = '[DICOM source reference redacted: patient data for building the result only]';

/** The source object's UIDs and copied attributes; never serialised or logged (they redact themselves). */
export class SourceReference {
  readonly #uids: Readonly<Record<UidName, string>>;
  readonly #charset: string | null;
  readonly #attributes: ReadonlyMap<CopiedAttribute, Uint8Array>;

  private constructor(uids: Record<UidName, string>, charset: string | null, attributes: Map<CopiedAttribute, Uint8Array>) {
    this.#uids = Object.freeze({ ...uids });
    this.#charset = charset;
    this.#attributes = attributes;
  }

  /** From a parsed data set; DICOM_UID_MISSING (422) names the first UID that is absent or malformed. */
  static fromDataSet(ds: DataSet): SourceReference {
    const uids = {} as Record<UidName, string>;
    for (const [name, attr] of Object.entries(UID_ATTRIBUTES) as [UidName, (typeof UID_ATTRIBUTES)[UidName]][]) {
      const value = trimmed(ds, attr.key);
      if (value === undefined || !isUid(value)) {
        throw new AppError(
          'DICOM_UID_MISSING',
          `${attr.label} is ${value === undefined ? 'absent' : 'not a valid UID'}; a result must reference the object it was made from`,
        );
      }
      uids[name] = value;
    }
    const charset = trimmed(ds, SPECIFIC_CHARACTER_SET);
    const attributes = new Map<CopiedAttribute, Uint8Array>();
    for (const [name, attr] of Object.entries(COPIED_ATTRIBUTES) as [CopiedAttribute, (typeof COPIED_ATTRIBUTES)[CopiedAttribute]][]) {
      const bytes = rawValue(ds, attr.key);
      if (bytes) attributes.set(name, bytes);
    }
    return new SourceReference(uids, charset !== undefined && CHARSET_SYNTAX.test(charset) ? charset : null, attributes);
  }

  /** Reads the object's references from its bytes (any transfer syntax the reader parses). */
  static fromBytes(bytes: Uint8Array, maxInflatedBytes: number): SourceReference {
    const { dataSet } = parseDicomBytes(bytes, maxInflatedBytes);
    return SourceReference.fromDataSet(dataSet);
  }

  /** Whatever SOP Class and Instance UIDs the object has (null where absent or malformed), for failure reports. */
  static sopUidsFromBytes(bytes: Uint8Array, maxInflatedBytes: number): { sopClassUid: string | null; sopInstanceUid: string | null } {
    const { dataSet } = parseDicomBytes(bytes, maxInflatedBytes);
    const uid = (key: string) => {
      const value = trimmed(dataSet, key);
      return value !== undefined && isUid(value) ? value : null;
    };
    return { sopClassUid: uid(UID_ATTRIBUTES.sopClassUid.key), sopInstanceUid: uid(UID_ATTRIBUTES.sopInstanceUid.key) };
  }

  /** Back from the result store's decrypted record. */
  static fromSealed(sealed: SealedSource): SourceReference {
    const uids = {} as Record<UidName, string>;
    for (const name of Object.keys(UID_ATTRIBUTES) as UidName[]) {
      const value = sealed.uids[name];
      if (typeof value !== 'string' || !isUid(value)) throw new Error(`sealed source reference has no valid ${name}`);
      uids[name] = value;
    }
    const attributes = new Map<CopiedAttribute, Uint8Array>();
    for (const name of Object.keys(COPIED_ATTRIBUTES) as CopiedAttribute[]) {
      const value = sealed.attributes[name];
      if (typeof value === 'string') attributes.set(name, new Uint8Array(Buffer.from(value, 'base64')));
    }
    const charset = typeof sealed.specificCharacterSet === 'string' && CHARSET_SYNTAX.test(sealed.specificCharacterSet) ? sealed.specificCharacterSet : null;
    return new SourceReference(uids, charset, attributes);
  }

  studyInstanceUid(): string {
    return this.#uids.studyInstanceUid;
  }

  seriesInstanceUid(): string {
    return this.#uids.seriesInstanceUid;
  }

  sopInstanceUid(): string {
    return this.#uids.sopInstanceUid;
  }

  sopClassUid(): string {
    return this.#uids.sopClassUid;
  }

  /** The source's Specific Character Set (0008,0005), which the copied bytes are in; null = the default repertoire. */
  specificCharacterSet(): string | null {
    return this.#charset;
  }

  /** A copied attribute's bytes (padding removed), or undefined when the source had none. */
  attribute(name: CopiedAttribute): Uint8Array | undefined {
    return this.#attributes.get(name);
  }

  /** A copied attribute as text: UTF-8 when the source says ISO_IR 192, else Latin-1 (exact for ASCII values such as ids). */
  attributeText(name: CopiedAttribute): string | undefined {
    const bytes = this.#attributes.get(name);
    if (!bytes) return undefined;
    return Buffer.from(bytes).toString(this.#charset?.includes('ISO_IR 192') ? 'utf8' : 'latin1');
  }

  /** FOR THE ENCRYPTED RESULT STORE ONLY: the values in plain form. */
  exportForSealing(): SealedSource {
    const attributes: Partial<Record<CopiedAttribute, string>> = {};
    for (const [name, bytes] of this.#attributes) attributes[name] = Buffer.from(bytes).toString('base64');
    return { uids: { ...this.#uids }, specificCharacterSet: this.#charset, attributes };
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** A text value with its padding (spaces, NULs) removed; undefined when absent or empty. */
function trimmed(ds: DataSet, key: string): string | undefined {
  const bytes = rawValue(ds, key);
  return bytes ? Buffer.from(bytes).toString('latin1') : undefined;
}

/** An element's value bytes without trailing spaces and NULs; undefined when absent, empty or too long to be a value. */
function rawValue(ds: DataSet, key: string): Uint8Array | undefined {
  const el = ds.elements[key];
  if (!el || el.length <= 0 || el.length > MAX_COPIED_BYTES || el.items) return undefined;
  const bytes = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0)) end--;
  let start = 0;
  // Leading spaces are not significant in text values (PS3.5 6.2), except in LT/ST/UT, which are not copied.
  while (start < end && bytes[start] === 0x20) start++;
  return end > start ? Uint8Array.from(bytes.subarray(start, end)) : undefined;
}
