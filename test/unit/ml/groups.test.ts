import { describe, expect, it } from 'vitest';
import { compileGroupPattern, countUnboundedQuantifiers, KERMANY_GROUP_PATTERN } from '../../../src/domain/group-pattern.ts';
import { isAppError } from '../../../src/errors.ts';
import { groupKeys, GroupPatternTimeoutError, MAX_GROUPED_PATH_LENGTH } from '../../../src/ml/groups.ts';

function refusal(pattern: unknown): { code: string; reason: unknown; status: number } {
  try {
    compileGroupPattern(pattern);
  } catch (err) {
    if (isAppError(err)) return { code: err.code, reason: err.details?.reason, status: err.status };
    throw err;
  }
  throw new Error(`accepted ${String(pattern)}`);
}

describe('the Kermany group pattern (documented in the README)', () => {
  it('names the patient in every kind of Kermany file name', () => {
    const re = compileGroupPattern(KERMANY_GROUP_PATTERN);
    const paths = [
      'train/PNEUMONIA/person1000_bacteria_2931.jpeg',
      'train/PNEUMONIA/person1000_virus_1681.jpeg',
      'chest_xray/train/NORMAL/IM-0629-0001.jpeg',
      'NORMAL/IM-0629-0001-0002.jpeg',
      'train/NORMAL/NORMAL2-IM-0383-0001.jpeg',
      'person12_bacteria_47.jpeg',
      'NORMAL/notes.jpeg',
    ];
    const g = groupKeys(paths, re);
    expect(g.keys).toEqual(['person1000', 'person1000', 'IM-0629', 'IM-0629', 'NORMAL2-IM-0383', 'person12', undefined]);
    expect(g).toMatchObject({ matched: 6, unmatched: 1, groups: 4 });
  });
});

describe('compileGroupPattern (client input)', () => {
  it('accepts a safe pattern with one capture group', () => {
    expect(compileGroupPattern('(person\\d+)_').exec('x/person7_virus_1.jpeg')?.[1]).toBe('person7');
    expect(compileGroupPattern('^[^/]+/(?<patient>[a-z]+)-').exec('A/bob-1.png')?.[1]).toBe('bob');
  });

  it('refuses, with INVALID_GROUP_PATTERN (400) and a reason, patterns that are unsafe, too long, malformed or miscounted', () => {
    const cases: Array<[unknown, string]> = [
      ['(a+)+$', 'unsafe'],
      ['(?:(x*)*y)', 'unsafe'],
      ['(\\w+)\\d*.*\\S+x', 'unsafe'], // four unbounded quantifiers: polynomial backtracking
      [`(${'a'.repeat(250)})`, 'too-long'],
      ['(unclosed', 'syntax'],
      ['[z-a](x)', 'syntax'],
      ['person\\d+', 'capture-groups'],
      ['(a)(b)', 'capture-groups'],
      ['', 'empty'],
      [42, 'empty'],
    ];
    for (const [pattern, reason] of cases) {
      expect(refusal(pattern), String(pattern)).toEqual({ code: 'INVALID_GROUP_PATTERN', reason, status: 400 });
    }
  });

  it('counts unbounded quantifiers outside character classes and escapes', () => {
    expect(countUnboundedQuantifiers('a*b+c{2,}d{1,99}e{1,5}')).toBe(4);
    expect(countUnboundedQuantifiers('[*+]\\*\\+(x)')).toBe(0);
    expect(countUnboundedQuantifiers(KERMANY_GROUP_PATTERN)).toBe(3);
  });
});

describe('groupKeys', () => {
  it('never matches paths longer than the bound, and empty captures are no match', () => {
    const re = /(p\d+)/;
    const long = `${'d/'.repeat(MAX_GROUPED_PATH_LENGTH)}p1.png`;
    const g = groupKeys([long, 'x.png', 'p2.png'], re);
    expect(g.keys).toEqual([undefined, undefined, 'p2']);
    expect(groupKeys(['a.png'], /(b*)/).keys).toEqual([undefined]);
  });

  it('ignores a global flag (no lastIndex carried between paths)', () => {
    expect(groupKeys(['p1_a', 'p1_b', 'p1_c'], /(p\d)_/g).keys).toEqual(['p1', 'p1', 'p1']);
  });

  it('gives up with a clear error when matching exceeds its time budget', () => {
    const paths = Array.from({ length: 50_000 }, (_, i) => `${'a'.repeat(400)}${i}`);
    expect(() => groupKeys(paths, /(a*a*)b/, 1)).toThrow(GroupPatternTimeoutError);
  });
});
