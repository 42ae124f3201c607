import { describe, expect, it } from 'vitest';
import { boundaryOf, parseMediaType, parseMultipartRelated } from '../../../src/http/dicomweb/multipart-related.ts';

const body = (boundary: string, parts: { headers?: string; body: string | Buffer }[], opts: { preamble?: string; epilogue?: string } = {}) =>
  Buffer.concat([
    Buffer.from(opts.preamble ? `${opts.preamble}\r\n` : ''),
    ...parts.flatMap((p) => [Buffer.from(`--${boundary}\r\n${p.headers ?? 'Content-Type: application/dicom\r\n'}\r\n`), Buffer.from(p.body), Buffer.from('\r\n')]),
    Buffer.from(`--${boundary}--\r\n${opts.epilogue ?? ''}`),
  ]);

describe('multipart/related', () => {
  it('reads the media type and its parameters, quoted or not', () => {
    const m = parseMediaType('Multipart/Related; type="application/dicom"; boundary="a:b c=d"; start=x');
    expect(m.type).toBe('multipart/related');
    expect(m.params.get('type')).toBe('application/dicom');
    expect(m.params.get('boundary')).toBe('a:b c=d');
    expect(m.params.get('start')).toBe('x');
    expect(boundaryOf(m)).toBe('a:b c=d');
    expect(parseMediaType('multipart/related; boundary="x;y"; type=a/b').params.get('type')).toBe('a/b');
  });

  it('refuses missing and non-RFC 2046 boundaries with 400', () => {
    expect(() => boundaryOf(parseMediaType('multipart/related; type="application/dicom"'))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => boundaryOf(parseMediaType(`multipart/related; boundary=${'x'.repeat(71)}`))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(() => boundaryOf(parseMediaType('multipart/related; boundary="a\u00e9b"'))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('cuts the body into parts, binary content intact, preamble and epilogue ignored', () => {
    const binary = Buffer.from([0, 1, 2, 0x0d, 0x0a, 0x2d, 0x2d, 0xff, 0x0d, 0x0a]);
    const parts = parseMultipartRelated(
      body('XyZ', [{ body: binary }, { body: 'second' }, { headers: '', body: 'no headers' }, { headers: 'content-type: Application/DICOM; transfer-syntax=1.2\r\nX-Other: 1\r\n', body: '' }], {
        preamble: 'ignore me',
        epilogue: 'and me',
      }),
      'XyZ',
      { maxParts: 10 },
    );
    expect(parts.map((p) => p.type)).toEqual(['application/dicom', 'application/dicom', null, 'application/dicom']);
    expect(parts[0]!.body.equals(binary)).toBe(true);
    expect(parts[1]!.body.toString()).toBe('second');
    expect(parts[2]!.body.toString()).toBe('no headers');
    expect(parts[3]!.body.length).toBe(0);
  });

  it('refuses more parts than allowed with 413 before reading them', () => {
    const many = body('b', Array.from({ length: 5 }, () => ({ body: 'x' })));
    expect(() => parseMultipartRelated(many, 'b', { maxParts: 4 })).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE', status: 413 }));
    expect(parseMultipartRelated(many, 'b', { maxParts: 5 })).toHaveLength(5);
  });

  it('refuses malformed bodies with 400', () => {
    const cases = [
      Buffer.from('no boundary here'),
      Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\nunterminated'),
      Buffer.from('--bjunk-after-boundary'),
      Buffer.from(`--b\r\n${'X'.repeat(10_000)}\r\n\r\nbody\r\n--b--`),
      Buffer.from('--b\r\nno colon line\r\n\r\nbody\r\n--b--'),
    ];
    for (const c of cases) {
      expect(() => parseMultipartRelated(c, 'b', { maxParts: 4 }), c.toString().slice(0, 30)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', status: 400 }));
    }
  });

  it('takes time linear in the body on hostile input (near-boundaries everywhere)', () => {
    const boundary = 'a'.repeat(70);
    const hostile = Buffer.from(`--${boundary}\r\n\r\n` + `\r\n--${'a'.repeat(69)}b`.repeat(150_000));
    const started = performance.now();
    expect(() => parseMultipartRelated(hostile, boundary, { maxParts: 4 })).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    const ms = performance.now() - started;
    expect(hostile.length).toBeGreaterThan(10_000_000);
    expect(ms).toBeLessThan(2000);
  });
});
