import { describe, expect, it } from 'vitest';
import { negotiate, type Offer } from '../../../src/http/accept.ts';

const OFFERS: Offer[] = [
  { type: 'application/json' },
  { type: 'application/fhir+json' },
  { type: 'application/dicom', acceptsParams: (p) => !p.has('transfer-syntax') || p.get('transfer-syntax') === '1.2.840.10008.1.2.1' },
];
const pick = (accept: string | undefined) => negotiate(accept, OFFERS)?.type ?? null;

describe('content negotiation', () => {
  it('takes the first offer without an Accept header or with wildcards only', () => {
    expect(pick(undefined)).toBe('application/json');
    expect(pick('')).toBe('application/json');
    expect(pick('*/*')).toBe('application/json');
    expect(pick('application/*')).toBe('application/json');
  });

  it('takes what is named, by quality, then by the order named', () => {
    expect(pick('application/fhir+json')).toBe('application/fhir+json');
    expect(pick('application/dicom')).toBe('application/dicom');
    expect(pick('application/json;q=0.5, application/dicom')).toBe('application/dicom');
    expect(pick('application/dicom, application/fhir+json')).toBe('application/dicom');
    expect(pick('application/fhir+json;q=0.9, */*;q=0.1')).toBe('application/fhir+json');
    expect(pick('text/html, */*;q=0.8')).toBe('application/json');
  });

  it('honours exclusions (q=0) and parameters, and finds nothing acceptable when nothing is', () => {
    expect(pick('application/json;q=0, */*')).toBe('application/fhir+json');
    expect(pick('application/dicom; transfer-syntax=1.2.840.10008.1.2.1')).toBe('application/dicom');
    expect(pick('application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50')).toBeNull();
    expect(pick('text/html')).toBeNull();
    expect(pick('multipart/related; type="application/dicom"')).toBeNull();
    expect(pick('image/png, text/*;q=0.3')).toBeNull();
  });

  it('reads a bounded number of ranges from a hostile header', () => {
    const header = `${'text/html;q=0.1,'.repeat(5000)}application/fhir+json`;
    expect(pick(header)).toBeNull();
  });
});
