/**
 * Group keys (patients) for images, from their source paths and a compiled pattern with exactly
 * one capture group. The pattern is checked for safety where client input is validated
 * (src/domain/group-pattern.ts); this module only applies it, and only to paths of bounded length.
 */

/** Paths longer than this are never matched (they count as unmatched). */
export const MAX_GROUPED_PATH_LENGTH = 512;

export interface GroupKeys {
  /** One key per path; undefined where the path did not match (the image is then its own group). */
  readonly keys: ReadonlyArray<string | undefined>;
  readonly matched: number;
  readonly unmatched: number;
  /** Distinct keys among the matched paths. */
  readonly groups: number;
}

export class GroupPatternTimeoutError extends Error {
  override readonly name = 'GroupPatternTimeoutError';
}

/**
 * The capture group of `pattern` on each path (searched anywhere in the path unless the pattern
 * anchors itself). An empty capture counts as no match. Throws GroupPatternTimeoutError when
 * matching takes longer than `budgetMs` in all (checked after every path).
 */
export function groupKeys(paths: readonly string[], pattern: RegExp, budgetMs = 5000): GroupKeys {
  const started = performance.now();
  // A private copy without the global/sticky flags, so lastIndex never carries between calls.
  const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  const keys: Array<string | undefined> = [];
  const distinct = new Set<string>();
  let matched = 0;
  for (const p of paths) {
    const m = p.length <= MAX_GROUPED_PATH_LENGTH ? re.exec(p) : null;
    const key = m?.[1];
    if (key) {
      keys.push(key);
      distinct.add(key);
      matched++;
    } else keys.push(undefined);
    if (performance.now() - started > budgetMs) {
      throw new GroupPatternTimeoutError(`matching the group pattern took over ${budgetMs} ms (${keys.length} of ${paths.length} paths); simplify it`);
    }
  }
  return { keys, matched, unmatched: paths.length - matched, groups: distinct.size };
}
