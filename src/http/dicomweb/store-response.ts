/**
 * The STOW-RS store response (PS3.18 10.5.3) in DICOM JSON (PS3.18 F.2): a ReferencedSOPSequence
 * (0008,1199) item per stored instance, with its RetrieveURL (0008,1190) pointing at the result
 * made from it, and a FailedSOPSequence (0008,1198) item per failed one, with a FailureReason
 * (0008,1197) and, in ErrorComment (0000,0902), this service's error code and the start of its
 * message. HTTP status: 200 all stored, 202 some failed, 409 none stored.
 */
import type { ErrorCode } from '../../errors.ts';
import type { StowOutcome } from '../../services/results.ts';

type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

/** PS3.18 Table 10.5.3-... / PS3.4 C-STORE failure statuses this service answers. */
export const FAILURE_REASONS = Object.freeze({
  processingFailure: 0x0110,
  sopClassNotSupported: 0x0122,
  outOfResources: 0xa700,
  doesNotMatchSopClass: 0xa900,
  cannotUnderstand: 0xc000,
  transferSyntaxNotSupported: 0xc122,
});

/** Which failure reason a catalogue code is. */
export function failureReason(code: ErrorCode): number {
  switch (code) {
    case 'DICOM_TRANSFER_SYNTAX_UNSUPPORTED':
      return FAILURE_REASONS.transferSyntaxNotSupported;
    case 'DICOM_NOT_AN_IMAGE':
      return FAILURE_REASONS.sopClassNotSupported;
    case 'IMAGE_TOO_LARGE':
    case 'IMAGE_TOO_COSTLY':
    case 'PAYLOAD_TOO_LARGE':
      return FAILURE_REASONS.outOfResources;
    case 'DICOM_MODALITY_NOT_ACCEPTED':
    case 'DICOM_VIEW_NOT_ACCEPTED':
    case 'DICOM_MULTI_FRAME':
    case 'DICOM_UID_MISSING':
      return FAILURE_REASONS.doesNotMatchSopClass;
    case 'IMAGE_EMPTY':
    case 'IMAGE_CORRUPT':
    case 'IMAGE_TRUNCATED':
    case 'IMAGE_ZERO_SIZE':
    case 'UNSUPPORTED_IMAGE_FORMAT':
    case 'UNSUPPORTED_MEDIA_TYPE':
      return FAILURE_REASONS.cannotUnderstand;
    default:
      return FAILURE_REASONS.processingFailure;
  }
}

/** ErrorComment is LO: at most 64 characters of printable ASCII. */
export function errorComment(code: ErrorCode, message: string): string {
  const text = `${code}: ${message}`.replace(/[^\x20-\x7e]/g, '?').replaceAll('\\', '/');
  return text.length <= 64 ? text : `${text.slice(0, 61)}...`;
}

const uid = (value: string | null) => (value === null ? { vr: 'UI' } : { vr: 'UI', Value: [value] });

export function storeResponse(outcomes: readonly StowOutcome[], retrieveUrl: (resultId: string) => string): { status: 200 | 202 | 409; body: DicomJson } {
  const stored: DicomJson[] = [];
  const failed: DicomJson[] = [];
  for (const o of outcomes) {
    if (o.ok) {
      stored.push({
        '00081150': uid(o.sopClassUid),
        '00081155': uid(o.sopInstanceUid),
        '00081190': { vr: 'UR', Value: [retrieveUrl(o.resultId)] },
      });
    } else {
      failed.push({
        '00000902': { vr: 'LO', Value: [errorComment(o.code, o.message)] },
        '00081150': uid(o.sopClassUid),
        '00081155': uid(o.sopInstanceUid),
        '00081197': { vr: 'US', Value: [failureReason(o.code)] },
      });
    }
  }
  const body: DicomJson = {};
  if (failed.length) body['00081198'] = { vr: 'SQ', Value: failed };
  if (stored.length) body['00081199'] = { vr: 'SQ', Value: stored };
  const status = failed.length === 0 ? 200 : stored.length === 0 ? 409 : 202;
  return { status, body };
}
