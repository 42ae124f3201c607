/** Helpers the model views share: the metric rows and ROC curves as chart data. */
import type { RocPoint, SplitMetrics } from './types.ts';

export const METRIC_ROWS: readonly { key: keyof SplitMetrics; label: string; percent: boolean }[] = [
  { key: 'auc', label: 'ROC AUC', percent: false },
  { key: 'sensitivity', label: 'Sensitivity (recall)', percent: true },
  { key: 'specificity', label: 'Specificity', percent: true },
  { key: 'precision', label: 'Precision', percent: true },
  { key: 'f1', label: 'F1', percent: false },
  { key: 'accuracy', label: 'Accuracy', percent: true },
  { key: 'threshold', label: 'Threshold', percent: false },
  { key: 'count', label: 'Images', percent: false },
];

/**
 * Several ROC curves as one aligned data set: every point of every curve is its own x (sorted
 * by false-positive rate, then true-positive rate, which keeps each curve's order), and each
 * curve has values only at its own points; lines span the gaps.
 */
export function rocData(curves: readonly (readonly RocPoint[] | undefined)[]): (number | null)[][] {
  const rows: { fpr: number; tpr: number; curve: number }[] = [];
  curves.forEach((c, i) => c?.forEach((p) => rows.push({ fpr: p.fpr, tpr: p.tpr, curve: i })));
  rows.sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr || a.curve - b.curve);
  return [rows.map((r) => r.fpr), ...curves.map((_, i) => rows.map((r) => (r.curve === i ? r.tpr : null)))];
}
