import type { BinaryEvaluation } from '../ml/metrics.ts';
import type { EvaluationStore, StoredEvaluation } from '../storage/evaluation-store.ts';
import type { EvaluationLister, EvaluationRecord, EvaluationStatus } from './evaluation-types.ts';

/**
 * Gives the evaluation files storage reads their meaning: each becomes an EvaluationRecord, or is
 * left out when it is not one (a malformed or foreign file never reaches the card or the
 * promotion guard). A completed record must carry the metrics both read: the AUC with its
 * interval and the four rates with theirs.
 */
export function evaluationListerFrom(store: Pick<EvaluationStore<StoredEvaluation>, 'list'>): EvaluationLister {
  return {
    async listEvaluations(model, version) {
      const stored = await store.list(model, version);
      return stored.flatMap((raw) => {
        const record = toEvaluationRecord(raw);
        return record ? [record] : [];
      });
    },
  };
}

const STATUSES: ReadonlySet<string> = new Set<EvaluationStatus>(['queued', 'running', 'completed', 'failed', 'cancelled']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function isInterval(v: unknown): boolean {
  return isObject(v) && isFiniteNumber(v.value) && isFiniteNumber(v.low) && isFiniteNumber(v.high);
}

function isProportion(v: unknown): boolean {
  return isInterval(v) && isObject(v) && isCount(v.successes) && isCount(v.trials);
}

function isMetrics(v: unknown): v is BinaryEvaluation {
  if (!isObject(v)) return false;
  if (!isCount(v.count) || !isCount(v.positives) || !isCount(v.negatives) || !isFiniteNumber(v.threshold)) return false;
  return isInterval(v.auc) && ['accuracy', 'sensitivity', 'specificity', 'ppv', 'npv'].every((k) => isProportion(v[k]));
}

export function toEvaluationRecord(raw: unknown): EvaluationRecord | null {
  if (!isObject(raw)) return null;
  const { id, model, version, dataset, status, createdAt, result } = raw;
  if (typeof id !== 'string' || typeof model !== 'string' || !isCount(version) || typeof createdAt !== 'string') return null;
  if (typeof status !== 'string' || !STATUSES.has(status)) return null;
  if (!isObject(dataset) || typeof dataset.id !== 'string' || typeof dataset.name !== 'string' || typeof dataset.contentHash !== 'string') {
    return null;
  }
  if (status === 'completed') {
    if (!isObject(result) || !isCount(result.images) || !isFiniteNumber(result.threshold) || typeof result.calibrated !== 'boolean') return null;
    if (result.patients !== undefined && !isCount(result.patients)) return null;
    if (!isMetrics(result.metrics)) return null;
  }
  return raw as unknown as EvaluationRecord;
}
