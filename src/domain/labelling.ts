/**
 * How a model version's probability becomes a label: the class names [negative, positive] and the
 * decision threshold recorded in its metadata, with the defaults for metadata that lacks them (or
 * holds something unusable). The service and the command line both label through this.
 */
export interface Labelling {
  readonly classNames: readonly [string, string];
  readonly threshold: number;
}

export const DEFAULT_CLASS_NAMES: readonly [string, string] = Object.freeze(['NORMAL', 'PNEUMONIA'] as const);
export const DEFAULT_THRESHOLD = 0.5;

export function labelling(metadata: Readonly<Record<string, unknown>>): Labelling {
  const names = metadata.classNames;
  const classNames: readonly [string, string] =
    Array.isArray(names) && names.length >= 2 && typeof names[0] === 'string' && typeof names[1] === 'string'
      ? [names[0], names[1]]
      : DEFAULT_CLASS_NAMES;
  const t = metadata.threshold;
  const threshold = typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= 1 ? t : DEFAULT_THRESHOLD;
  return { classNames, threshold };
}

/** The positive class at or above the threshold, else the negative one. */
export function labelOf(l: Labelling, probability: number): string {
  return probability >= l.threshold ? l.classNames[1] : l.classNames[0];
}
