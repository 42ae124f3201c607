import { describe, expect, it } from 'vitest';
import { errorComment, failureReason, storeResponse } from '../../../src/http/dicomweb/store-response.ts';
import type { StowOutcome } from '../../../src/services/results.ts';

const stored: StowOutcome = { ok: true, sopClassUid: '1.2.840.10008.5.1.4.1.1.1', sopInstanceUid: '2.25.1', resultId: 'res_aaaaaaaaaaaaaaaa' };
const failed: StowOutcome = {
  ok: false,
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  sopInstanceUid: '2.25.2',
  code: 'DICOM_MODALITY_NOT_ACCEPTED',
  message: '(0008,0060) Modality CT is not accepted; accepted: CR, DX',
  status: 422,
};
const unreadable: StowOutcome = { ok: false, sopClassUid: null, sopInstanceUid: null, code: 'IMAGE_CORRUPT', message: 'not a DICOM file', status: 422 };
const url = (id: string) => `http://h/v1/results/${id}`;

describe('the STOW-RS store response', () => {
  it('is 200 with a ReferencedSOPSequence when every instance was stored', () => {
    const { status, body } = storeResponse([stored], url);
    expect(status).toBe(200);
    expect(body).toEqual({
      '00081199': {
        vr: 'SQ',
        Value: [
          {
            '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.1'] },
            '00081155': { vr: 'UI', Value: ['2.25.1'] },
            '00081190': { vr: 'UR', Value: ['http://h/v1/results/res_aaaaaaaaaaaaaaaa'] },
          },
        ],
      },
    });
  });

  it('is 202 when some failed and 409 when all did, with failure reasons and the catalogue code', () => {
    expect(storeResponse([stored, failed], url).status).toBe(202);
    const { status, body } = storeResponse([failed, unreadable], url);
    expect(status).toBe(409);
    expect(body['00081199']).toBeUndefined();
    const items = body['00081198']!.Value as Record<string, { Value?: unknown[] }>[];
    expect(items.map((i) => i['00081197']!.Value![0])).toEqual([0xa900, 0xc000]);
    expect(items[0]!['00000902']!.Value![0]).toMatch(/^DICOM_MODALITY_NOT_ACCEPTED: /);
    expect(items[1]!['00081155']).toEqual({ vr: 'UI' });
  });

  it('maps catalogue codes to PS3.4/PS3.18 failure reasons', () => {
    expect(failureReason('DICOM_TRANSFER_SYNTAX_UNSUPPORTED')).toBe(0xc122);
    expect(failureReason('DICOM_NOT_AN_IMAGE')).toBe(0x0122);
    expect(failureReason('IMAGE_TOO_LARGE')).toBe(0xa700);
    expect(failureReason('IMAGE_TRUNCATED')).toBe(0xc000);
    expect(failureReason('NO_MODEL')).toBe(0x0110);
    expect(failureReason('INTERNAL')).toBe(0x0110);
  });

  it('keeps ErrorComment within LO (64 printable ASCII characters, no backslash)', () => {
    const c = errorComment('IMAGE_CORRUPT', `é\\${'x'.repeat(100)}`);
    expect(c.length).toBe(64);
    expect(c).toMatch(/^[\x20-\x5b\x5d-\x7e]+$/);
  });
});
