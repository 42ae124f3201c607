import safeRegex from 'safe-regex2';
import { AppError } from '../errors.ts';

/** What a version trained without a group pattern says about its split (metadata, warnings, the model card). */
export const IMAGE_LEVEL_SPLIT_WARNING = 'image-level split: the estimate may be optimistic';

/**
 * `groupPattern`: a client-supplied regular expression with exactly one capture group that maps
 * an image's source path (as the dataset manifest stores it, e.g. `train/NORMAL/IM-0629-0001.jpeg`)
 * to its group key (the patient). Refused, with INVALID_GROUP_PATTERN, when it is too long, does
 * not compile, has other than one capture group, or could backtrack badly: nested quantifiers
 * (safe-regex2's star-height check) or more than MAX_UNBOUNDED_QUANTIFIERS unbounded quantifiers
 * (the degree of polynomial backtracking). It is applied only to paths of bounded length
 * (src/ml/groups.ts) and under a time budget, so a pattern can never freeze a worker.
 */

export const GROUP_PATTERN_MAX_LENGTH = 200;
export const MAX_UNBOUNDED_QUANTIFIERS = 3;

/** Fits the Kermany file names: `person1000_bacteria_2931.jpeg`, `IM-0629-0001-0002.jpeg`, `NORMAL2-IM-0383-0001.jpeg`. */
export const KERMANY_GROUP_PATTERN = '(?:^|/)((?:NORMAL2-)?IM-\\d+|person\\d+)[-_][^/]*$';

function refuse(reason: string, message: string): never {
  throw new AppError('INVALID_GROUP_PATTERN', `groupPattern ${message}`, { field: 'groupPattern', reason });
}

/** Quantifiers that can repeat more than 16 times (`*`, `+`, `{n,}`, `{n,m}` with m > 16), outside character classes. */
export function countUnboundedQuantifiers(source: string): number {
  let count = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
    } else if (c === '*' || c === '+') {
      count++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 24));
      if (m && m[2] !== undefined && (m[3] === '' || Number(m[3]) > 16)) count++;
    }
  }
  return count;
}

/** Compiles a client-supplied group pattern after every check (throws AppError INVALID_GROUP_PATTERN). */
export function compileGroupPattern(pattern: unknown): RegExp {
  if (typeof pattern !== 'string' || pattern.length === 0) refuse('empty', 'must be a non-empty string');
  if (pattern.length > GROUP_PATTERN_MAX_LENGTH) {
    refuse('too-long', `must be at most ${GROUP_PATTERN_MAX_LENGTH} characters (got ${pattern.length})`);
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (err) {
    refuse('syntax', `does not compile: ${err instanceof Error ? err.message : String(err)}`);
  }
  // The capture-group count: an alternative that matches the empty string exposes every group.
  const groups = new RegExp(`${pattern}|`).exec('')!.length - 1;
  if (groups !== 1) refuse('capture-groups', `must have exactly one capture group, e.g. "(person\\d+)_" (it has ${groups})`);
  if (!safeRegex(re)) refuse('unsafe', 'has nested quantifiers (catastrophic backtracking); simplify it');
  const unbounded = countUnboundedQuantifiers(pattern);
  if (unbounded > MAX_UNBOUNDED_QUANTIFIERS) {
    refuse('unsafe', `has ${unbounded} unbounded quantifiers (* + {n,}); at most ${MAX_UNBOUNDED_QUANTIFIERS} are allowed`);
  }
  return re;
}
