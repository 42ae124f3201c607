import { compileGroupPattern } from '../domain/group-pattern.ts';
import type { Labelling } from '../domain/labelling.ts';
import { AppError } from '../errors.ts';
import { applyCalibration } from '../ml/calibration.ts';
import { groupKeys, GroupPatternTimeoutError } from '../ml/groups.ts';
import { evaluateBinary, type BinaryEvaluation } from '../ml/metrics.ts';

/**
 * Model probabilities of a labelled set -> the report an external evaluation stores, judged as
 * serving answers (src/domain/labelling.ts labelOf):
 * - ranking and calibration (AUC with its DeLong interval, ROC, ECE, Brier, reliability bins, log
 *   loss) on the CALIBRATED probabilities clients receive;
 * - the decisions (confusion, accuracy, sensitivity, specificity, PPV, NPV, F1) are the labels
 *   clients receive: positive when the MODEL probability >= the stored threshold (on the model's
 *   own scale), reported at that threshold moved onto the calibrated scale.
 * Calibration is monotonic, so the two agree (and the whole report is evaluateBinary on the
 * calibrated probabilities at the calibrated threshold) except where the sigmoid rounds distinct
 * model probabilities onto one calibrated value across the cut; there the labels win, as they do
 * for clients. Both halves come from the one metrics implementation (src/ml/metrics.ts).
 */

export interface ScoredSet {
  /** The decision threshold on the scale of the probabilities clients see. */
  readonly threshold: number;
  readonly calibrated: boolean;
  readonly metrics: BinaryEvaluation;
}

/** The probabilities clients receive for these model probabilities (applyCalibration, as labelOf does). */
export function servedProbabilities(modelProbs: ArrayLike<number>, l: Pick<Labelling, 'calibration'>): Float64Array {
  const out = new Float64Array(modelProbs.length);
  for (let i = 0; i < modelProbs.length; i++) out[i] = applyCalibration(modelProbs[i]!, l.calibration);
  return out;
}

export function scoreEvaluation(
  modelProbs: ArrayLike<number>,
  labels: ArrayLike<number>,
  l: Pick<Labelling, 'calibration' | 'threshold' | 'rawThreshold'>,
): ScoredSet {
  const served = servedProbabilities(modelProbs, l);
  const ranked = evaluateBinary(served, labels, l.threshold);
  let agree = true;
  for (let i = 0; i < served.length && agree; i++) agree = (modelProbs[i]! >= l.rawThreshold) === (served[i]! >= l.threshold);
  if (agree) return { threshold: l.threshold, calibrated: l.calibration !== null, metrics: ranked };
  const decided = evaluateBinary(modelProbs, labels, l.rawThreshold);
  const { confusion, accuracy, sensitivity, specificity, ppv, npv, f1 } = decided;
  return {
    threshold: l.threshold,
    calibrated: l.calibration !== null,
    metrics: { ...ranked, confusion, accuracy, sensitivity, specificity, ppv, npv, f1 },
  };
}

/**
 * DATASET_CLASSES_MISMATCH unless the dataset's [negative, positive] class names are the version's:
 * a dataset whose positive class is another folder (or another disease) cannot judge the model.
 */
export function checkEvaluationClasses(dataset: { readonly id: string; readonly classNames: readonly string[] }, version: readonly string[]): void {
  const [neg, pos] = dataset.classNames;
  if (neg === version[0] && pos === version[1]) return;
  const show = (names: readonly string[]) => names.slice(0, 2).map((n) => JSON.stringify(String(n).slice(0, 64))).join(', ');
  throw new AppError(
    'DATASET_CLASSES_MISMATCH',
    `Dataset ${dataset.id} has classes [${show(dataset.classNames)}] (negative, positive) but the model version predicts [${show(version)}]`,
    { datasetClasses: dataset.classNames.slice(0, 2), versionClasses: version.slice(0, 2) },
  );
}

/** Patients among images from their source paths: distinct keys the pattern names, plus every unmatched image. */
export function countPatients(sources: readonly string[], pattern: string): { patients: number; matched: number; unmatched: number } {
  const re = compileGroupPattern(pattern);
  let keys;
  try {
    keys = groupKeys(sources, re);
  } catch (err) {
    if (err instanceof GroupPatternTimeoutError) {
      throw new AppError('INVALID_GROUP_PATTERN', `groupPattern ${err.message}`, { field: 'groupPattern', reason: 'too-slow' }, { cause: err });
    }
    throw err;
  }
  return { patients: keys.groups + keys.unmatched, matched: keys.matched, unmatched: keys.unmatched };
}
