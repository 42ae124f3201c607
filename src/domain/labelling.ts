import { applyCalibration, calibrationFromMetadata, type Calibration } from '../ml/calibration.ts';

/**
 * How a model version's output becomes what a client is told: the class names [negative,
 * positive], the calibration fitted on validation (none for versions trained before it), and the
 * decision threshold, all from the version's metadata with defaults for metadata that lacks them
 * (or holds something unusable). The service and the command line both answer through this.
 *
 * The stored threshold is on the model's own scale; calibration is monotonic, so a client sees the
 * calibrated probability and the same cut moved onto that scale, and every label stays the one the
 * operating point chose on validation.
 */
export interface Labelling {
  readonly classNames: readonly [string, string];
  /** The decision threshold on the scale clients see (calibrated when the version is). */
  readonly threshold: number;
  /** The threshold on the model's own scale, as stored. */
  readonly rawThreshold: number;
  readonly calibration: Calibration | null;
}

export interface Labelled {
  readonly probability: number;
  readonly label: string;
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
  const rawThreshold = typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= 1 ? t : DEFAULT_THRESHOLD;
  const calibration = calibrationFromMetadata(metadata);
  return { classNames, rawThreshold, calibration, threshold: applyCalibration(rawThreshold, calibration) };
}

/** A model probability -> the calibrated probability, the label at the version's threshold, and that threshold. */
export function labelOf(l: Labelling, modelProbability: number): Labelled {
  return {
    probability: applyCalibration(modelProbability, l.calibration),
    label: modelProbability >= l.rawThreshold ? l.classNames[1] : l.classNames[0],
    threshold: l.threshold,
  };
}
