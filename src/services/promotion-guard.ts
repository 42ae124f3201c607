import { AppError } from '../errors.ts';
import type { AliasGuardNote } from '../storage/model-registry.ts';
import type { EvaluationLister, EvaluationRecord } from './evaluation-types.ts';

/**
 * The promotion guard: moving `production` to a candidate version is refused (409
 * PROMOTION_WORSE) when, on some dataset both versions were evaluated on, the candidate's AUC is
 * lower beyond its interval:
 *
 *     candidate.auc.high < production.auc.value
 *
 * i.e. even the upper end of the candidate's 95% DeLong interval stays below the production
 * version's point estimate. Only the latest completed evaluation of each version on each dataset
 * counts (newest by createdAt); "the same dataset" means the same dataset id and the same content
 * hash. Without a dataset in common there is nothing to compare and the move goes ahead; so it
 * does with `force: true`, and the history records that it overrode the guard.
 */
export const PROMOTION_RULE = 'candidate.auc.high < production.auc.value';

export interface AucOf {
  readonly value: number;
  readonly low: number;
  readonly high: number;
}

export interface PromotionComparison {
  readonly dataset: { readonly id: string; readonly name: string; readonly contentHash: string };
  readonly candidate: { readonly version: number; readonly evaluationId: string; readonly auc: AucOf };
  readonly production: { readonly version: number; readonly evaluationId: string; readonly auc: AucOf };
  /** True when the rule holds: the candidate is worse beyond its interval. */
  readonly worse: boolean;
}

const datasetKey = (r: EvaluationRecord) => `${r.dataset.id}\u0000${r.dataset.contentHash}`;

/** The latest completed evaluation per dataset (id + content hash). */
export function latestCompletedByDataset(records: readonly EvaluationRecord[]): Map<string, EvaluationRecord> {
  const sorted = records
    .filter((r) => r.status === 'completed' && r.result !== undefined)
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const latest = new Map<string, EvaluationRecord>();
  for (const r of sorted) if (!latest.has(datasetKey(r))) latest.set(datasetKey(r), r);
  return latest;
}

const aucOf = (r: EvaluationRecord): AucOf => {
  const { value, low, high } = r.result!.metrics.auc;
  return { value, low, high };
};

/** Every dataset both versions were evaluated on, with the rule applied. */
export function comparePromotion(
  candidate: { version: number; evaluations: readonly EvaluationRecord[] },
  production: { version: number; evaluations: readonly EvaluationRecord[] },
): PromotionComparison[] {
  const mine = latestCompletedByDataset(candidate.evaluations);
  const theirs = latestCompletedByDataset(production.evaluations);
  const out: PromotionComparison[] = [];
  for (const [key, c] of mine) {
    const p = theirs.get(key);
    if (!p) continue;
    const cAuc = aucOf(c);
    const pAuc = aucOf(p);
    out.push({
      dataset: { id: c.dataset.id, name: c.dataset.name, contentHash: c.dataset.contentHash },
      candidate: { version: candidate.version, evaluationId: c.id, auc: cAuc },
      production: { version: production.version, evaluationId: p.id, auc: pAuc },
      worse: cAuc.high < pAuc.value,
    });
  }
  return out.sort((a, b) => (a.dataset.id < b.dataset.id ? -1 : a.dataset.id > b.dataset.id ? 1 : 0));
}

const f4 = (n: number) => n.toFixed(4);
const quote = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);

function refusalMessage(name: string, worse: readonly PromotionComparison[]): string {
  const parts = worse.map(
    (w) =>
      `on dataset ${w.dataset.id} (${quote(w.dataset.name)}) version ${w.candidate.version} has AUC ${f4(w.candidate.auc.value)} ` +
      `(95% CI ${f4(w.candidate.auc.low)}-${f4(w.candidate.auc.high)}, evaluation ${w.candidate.evaluationId}) against production ` +
      `version ${w.production.version}'s ${f4(w.production.auc.value)} (95% CI ${f4(w.production.auc.low)}-${f4(w.production.auc.high)}, ` +
      `evaluation ${w.production.evaluationId})`,
  );
  return (
    `Promoting version ${worse[0]!.candidate.version} of '${name}' to production would be a step back: ${parts.join('; ')}. ` +
    `The upper end of its 95% interval is below production's AUC (${PROMOTION_RULE}); send "force": true to promote anyway`
  );
}

export interface PromotionCheck {
  readonly name: string;
  readonly candidate: number;
  /** What `production` points at now; null when it is not set. */
  readonly current: number | null;
  readonly force: boolean;
}

/**
 * Applies the guard; throws PROMOTION_WORSE (with every comparison in details) or says what it
 * found, for the alias history.
 */
export async function checkPromotion(evaluations: EvaluationLister, check: PromotionCheck): Promise<AliasGuardNote> {
  const { name, candidate, current, force } = check;
  if (current === null || current === candidate) return { outcome: 'not-applicable' };
  const [mine, theirs] = await Promise.all([evaluations.listEvaluations(name, candidate), evaluations.listEvaluations(name, current)]);
  const comparisons = comparePromotion({ version: candidate, evaluations: mine }, { version: current, evaluations: theirs });
  if (comparisons.length === 0) return { outcome: 'no-common-dataset' };
  const worse = comparisons.filter((c) => c.worse);
  if (worse.length === 0) return { outcome: 'passed', datasets: comparisons.map((c) => c.dataset.id) };
  if (force) return { outcome: 'overridden', datasets: worse.map((c) => c.dataset.id) };
  throw new AppError('PROMOTION_WORSE', refusalMessage(name, worse), {
    name,
    alias: 'production',
    candidate,
    production: current,
    rule: PROMOTION_RULE,
    comparisons,
  });
}
