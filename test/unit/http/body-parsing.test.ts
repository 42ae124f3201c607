import { describe, expect, it } from 'vitest';
import { decodeBase64 } from '../../../src/http/image-input.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../../src/http/plugins/json-body.ts';

describe('decodeBase64', () => {
  const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255, 7]);
  const std = bytes.toString('base64');
  const url = bytes.toString('base64url');

  it.each([
    ['standard', std],
    ['URL-safe', url],
    ['unpadded', std.replace(/=+$/, '')],
    ['line breaks and spaces', `${std.slice(0, 4)}\r\n${std.slice(4, 8)} \n${std.slice(8)}`],
    ['a data URL', `data:image/png;base64,${std}`],
    ['a data URL with parameters', `data:image/png;name=x.png;charset=utf-8;base64,${std}`],
  ])('decodes %s', (_name, text) => {
    expect(decodeBase64(text)).toEqual(bytes);
  });

  it.each([
    ['a foreign character', `${std.slice(0, 4)}!${std.slice(4)}`],
    ['padding inside', `AA==${std}`],
    ['three = signs', 'AA==='],
    ['padding that does not complete a group', 'AAA=='],
    ['one dangling character', 'AAAAA'],
    ['a data URL without ;base64,', `data:image/png,${std}`],
    ['a data URL whose comma is far away', `data:image/png;${'x'.repeat(300)}=1;base64,${std}`],
    ['a data URL with a bad header', `data:image png;base64,${std}`],
    ['the hostile data URL of the attack test', `data:${'a'.repeat(60_000)}!`],
  ])('refuses %s', (_name, text) => {
    expect(decodeBase64(text)).toBeNull();
  });

  it('is linear: a 20 MB hostile data URL is refused as fast as a 20 kB one is decoded', () => {
    const hostile = `data:${'a'.repeat(20_000_000)}!`;
    const foreign = `${'A'.repeat(20_000_000)}!`;
    const t0 = performance.now();
    expect(decodeBase64(hostile)).toBeNull();
    expect(decodeBase64(foreign)).toBeNull();
    const ms = performance.now() - t0;
    // Quadratic backtracking on 20 MB would take hours; linear scans take tens of milliseconds.
    expect(ms).toBeLessThan(2000);
  });
});

describe('nestsDeeperThan', () => {
  const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

  it('counts arrays and objects, not brackets inside strings', () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    expect(nestsDeeperThan('{"a":{"b":{"c":1}}}', 3)).toBe(false);
    expect(nestsDeeperThan('{"a":{"b":{"c":[1]}}}', 3)).toBe(true);
    expect(nestsDeeperThan(JSON.stringify({ s: '[[[[[[[[[[' }), 1)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ s: 'a"b\\"[[[[\\\\' }), 1)).toBe(false);
    expect(nestsDeeperThan(`{"s":"\\\\"}`, 1)).toBe(false);
    expect(nestsDeeperThan(`{"s":"\\\\",[[]]}`, 2)).toBe(true);
  });

  it('gives the same depth as JSON.parse for random documents', () => {
    const depth = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const make = (d: number): unknown => {
      if (d === 0 || rnd() < 0.2) return rnd() < 0.5 ? 'x"[{\\' : 3;
      return rnd() < 0.5 ? [make(d - 1), make(d - 1)] : { a: make(d - 1), 'b"[': make(d - 1) };
    };
    for (let i = 0; i < 200; i++) {
      const text = JSON.stringify(make(8));
      const d = depth(JSON.parse(text));
      expect(nestsDeeperThan(text, d)).toBe(false);
      if (d > 0) expect(nestsDeeperThan(text, d - 1)).toBe(true);
    }
  });

  it('is linear on 10,000 levels and on long strings', () => {
    expect(nestsDeeperThan(`{"datasetId":${nested(10_000)}}`, MAX_JSON_DEPTH)).toBe(true);
    const long = JSON.stringify({ images: ['A'.repeat(10_000_000)] });
    expect(nestsDeeperThan(long, MAX_JSON_DEPTH)).toBe(false);
  });
});
