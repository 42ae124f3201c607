import {
  describeSplit,
  limitationFacts,
  limitationTexts,
  type CardEvaluation,
  type CardInterval,
  type CardRate,
  type CardSetting,
  type ClassCount,
  type ModelCard,
  type Quality,
  type SplitCounts,
} from './model-card.ts';

/**
 * The model card as Markdown (CommonMark/GFM): the same content as the JSON card. Every string
 * that did not come from this file (model and dataset names, class names, the group pattern,
 * evaluation error messages, even library versions) goes through escapeMarkdown, so a hostile
 * dataset name can neither add Markdown structure (headings, links, table cells, emphasis) nor
 * HTML.
 */

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * Text that renders as itself, wherever this renderer puts it (always after fixed text on its
 * line, or in a table cell): line breaks and other control characters become one space, invisible
 * format characters (zero-width, bidi overrides) are dropped, `& < >` become entities (no HTML,
 * no autolink), and the characters that open inline structure mid-line are backslash-escaped:
 * `\\ ` * _ ~ [ ] ! |` (code, emphasis, strike-through, links and images, table cells), `$`
 * (maths on GitHub), `#` (references), and `. : @`, which GFM needs for bare links and e-mail
 * addresses. Other punctuation cannot start anything mid-line and is left as it is.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ')
    .replace(/\p{Cf}/gu, '')
    .replace(/[&<>\\`*_~[\]!|$#.:@]/g, (c) => ENTITIES[c] ?? `\\${c}`);
}

const NR = 'not recorded';
/** Strings that cannot start anything and read better as they are: ids, hashes, ISO times, version numbers. */
const PLAIN = [/^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,200}[A-Za-z0-9])?$/, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/, /^v?\d{1,9}(?:\.\d{1,9}){0,4}$/];
const e = (text: string): string => (PLAIN.some((re) => re.test(text)) ? text : escapeMarkdown(text));
/** Setting names (metadata keys, a.b for nested ones) as they are when they are dotted identifiers that cannot be a bare www. link. */
const DOTTED = /^[A-Za-z0-9-]{1,64}(?:\.[A-Za-z0-9-]{1,64}){0,8}$/;
const settingName = (name: string): string => (DOTTED.test(name) && !/(?:^|\.)www\./i.test(name) ? name : escapeMarkdown(name));
const orNr = (s: string | null): string => (s === null ? NR : e(s));
const fixed = (n: number | null, digits = 3): string => (n === null ? NR : n.toFixed(digits));
const int = (n: number | null): string => (n === null ? NR : String(n));
const yesNo = (b: boolean | null): string => (b === null ? NR : b ? 'yes' : 'no');

function withInterval(i: CardInterval | null): string {
  if (!i) return NR;
  if (i.low === null || i.high === null) return `${i.value.toFixed(3)} (95% CI not recorded)`;
  return `${i.value.toFixed(3)} (95% CI ${i.low.toFixed(3)} to ${i.high.toFixed(3)})`;
}

function rateText(r: CardRate | null): string {
  if (!r) return NR;
  const of = r.successes !== null && r.trials !== null ? `, ${r.successes}/${r.trials}` : '';
  if (r.low === null || r.high === null) return `${r.value.toFixed(3)} (95% CI not recorded${of})`;
  return `${r.value.toFixed(3)} (95% CI ${r.low.toFixed(3)} to ${r.high.toFixed(3)}${of})`;
}

const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)];
}

function classBalance(counts: readonly ClassCount[] | null): string {
  if (!counts) return NR;
  const total = counts.reduce((s, c) => s + c.images, 0);
  return counts.map((c) => `${e(c.className)} ${c.images} (${total ? ((100 * c.images) / total).toFixed(1) : '0.0'}%)`).join(', ');
}

const splitText = (s: SplitCounts | null): string => (s ? `train ${s.train}, validation ${s.validation}, test ${s.test}` : NR);
const qualityText = (q: Quality | null): string => (q ? `ECE ${q.ece.toFixed(4)}, Brier ${q.brier.toFixed(4)}` : NR);

function settingValue(v: CardSetting['value']): string {
  if (v === null) return 'null';
  return typeof v === 'string' ? e(v) : String(v);
}

function settingsTable(list: readonly CardSetting[] | null): string[] {
  if (!list) return [NR];
  if (list.length === 0) return ['none'];
  return table(['setting', 'value'], list.map((s) => [settingName(s.name), settingValue(s.value)]));
}

function evaluationRows(label: string, m: CardEvaluation | null): string[] {
  if (!m) return [label, NR, NR, NR, NR, NR, NR];
  return [label, int(m.images), withInterval(m.auc), rateText(m.sensitivity), rateText(m.specificity), rateText(m.ppv), rateText(m.npv)];
}

const EVALUATION_HEAD = ['set', 'images', 'AUC (DeLong)', 'sensitivity (Wilson)', 'specificity (Wilson)', 'PPV (Wilson)', 'NPV (Wilson)'];

function intervalsNote(m: CardEvaluation | null, label: string): string[] {
  if (!m || m.intervals === 'recorded') return [];
  return m.intervals === 'computed-from-confusion'
    ? [`${label}: this version recorded no intervals; the rates' Wilson intervals are computed from its confusion matrix, the AUC interval is not recorded.`]
    : [`${label}: this version recorded no intervals.`];
}

export function renderModelCardMarkdown(card: ModelCard): string {
  const { model, trainingData: td, parameters: p, internalEvaluation: ie, operatingPoint: op, calibration: cal, software: sw } = card;
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);

  push(`# Model card: ${e(model.name)} version ${model.version}`, '');
  push(
    `- Created: ${e(model.createdAt)}`,
    `- Trained: ${orNr(model.trainedAt)}`,
    `- Kind: ${orNr(model.kind)}`,
    `- Aliases: ${model.aliases.length ? model.aliases.map(e).join(', ') : 'none'}`,
    `- Training job: ${orNr(model.jobId)}`,
    '',
  );

  push('## Intended use', '');
  push(`- ${card.intendedUse.use}`, `- ${card.intendedUse.notFor}`, `- ${card.intendedUse.localValidation}`, `- ${card.intendedUse.internalEstimate}`, '');

  if (card.warnings.length) {
    push('## Warnings', '', ...card.warnings.map((w) => `- ${e(w)}`), '');
  }

  push('## Training data', '');
  push(
    `- Dataset: ${orNr(td.dataset.id)}${td.dataset.name === null ? '' : ` (${e(td.dataset.name)})`}`,
    `- Content hash: ${orNr(td.dataset.contentHash)}`,
    `- Images: ${int(td.dataset.images)}`,
    `- Class balance: ${classBalance(td.dataset.classBalance)}`,
    `- Classes: ${td.classes.names ? td.classes.names.map(e).join(', ') : NR}; positive class: ${orNr(td.classes.positive)}`,
    `- Split: ${describeSplit(td.split.level, td.split.groupPattern, td.split.description !== NR, e)}`,
    `- Split method: ${orNr(td.split.method)}, seed ${td.split.seed === null ? NR : String(td.split.seed)}`,
    `- Images per split: ${splitText(td.split.images)}`,
  );
  if (td.split.level === 'patient') {
    push(`- Patients per split: ${splitText(td.split.patients)}`, `- Images whose path the pattern did not match (one patient each): ${int(td.split.unmatchedImages)}`);
  }
  if (td.split.classBalance) {
    const b = td.split.classBalance;
    push(`- Class balance per split: train ${classBalance(b.train)}; validation ${classBalance(b.validation)}; test ${classBalance(b.test)}`);
  } else {
    push(`- Class balance per split: ${NR}`);
  }
  push('');

  push('## Parameters', '');
  push(
    `- Input size: ${p.inputSize === null ? NR : `${p.inputSize}x${p.inputSize}`}`,
    `- Trainable parameters: ${int(p.parameterCount)}`,
    `- Epochs run: ${int(p.epochsRun)}; best epoch (lowest validation loss, whose weights were kept): ${int(p.bestEpoch)}; stopped early: ${yesNo(p.stoppedEarly)}`,
    '',
    '### Training parameters',
    '',
    ...settingsTable(p.training),
    '',
  );
  if (p.model) push('### Model options', '', ...settingsTable(p.model), '');

  push('## Internal evaluation', '', ie.note, '');
  push(...table(EVALUATION_HEAD, [evaluationRows('validation', ie.validation), evaluationRows('test', ie.test)]), '');
  const notes = [...intervalsNote(ie.validation, 'Validation'), ...intervalsNote(ie.test, 'Test')];
  if (notes.length) push(...notes, '');

  push('## External evaluations', '');
  if (card.externalEvaluations.length === 0) {
    push('None recorded: how this version does on patients from elsewhere is unknown.', '');
  } else {
    const rows = card.externalEvaluations.map((x) => {
      const label = `${e(x.id)}: ${e(x.dataset.id)} (${e(x.dataset.name)}), ${e(x.status)}`;
      if (x.status !== 'completed' || !x.metrics) return [label, NR, NR, NR, NR, NR, NR];
      return evaluationRows(label, x.metrics);
    });
    push(...table(['evaluation: dataset, status', ...EVALUATION_HEAD.slice(1)], rows), '');
    for (const x of card.externalEvaluations) {
      const extra = [
        `content hash ${e(x.dataset.contentHash)}`,
        `created ${e(x.createdAt)}`,
        ...(x.finishedAt ? [`finished ${e(x.finishedAt)}`] : []),
        ...(x.patients !== null ? [`${x.patients} patients`] : []),
        ...(x.calibrated !== null ? [x.calibrated ? 'calibrated probabilities' : 'uncalibrated probabilities'] : []),
        ...(x.metrics?.threshold !== undefined && x.metrics.threshold !== null ? [`threshold ${x.metrics.threshold.toFixed(4)}`] : []),
        ...(x.metrics?.calibration ? [qualityText(x.metrics.calibration)] : []),
        ...(x.error ? [`error ${e(x.error.code)}: ${e(x.error.message)}`] : []),
      ];
      push(`- ${e(x.id)}: ${extra.join('; ')}`);
    }
    push('');
  }

  push('## Operating point', '');
  push(
    `- Policy: ${orNr(op.policy)}`,
    `- Threshold (on the model's probability): ${fixed(op.threshold, 4)}`,
    `- Threshold on the calibrated scale: ${op.calibratedThreshold === null ? NR : op.calibratedThreshold.toFixed(4)}`,
    `- On validation it gave sensitivity ${fixed(op.validationSensitivity)} and specificity ${fixed(op.validationSpecificity)}`,
    `- Policy target met: ${yesNo(op.targetMet)}`,
    '',
  );

  push('## Calibration', '');
  push(`- Method: ${orNr(cal.method)}${cal.fittedOn ? `, fitted on ${e(cal.fittedOn)}` : ''}`);
  if (cal.slope !== null && cal.intercept !== null) {
    const sign = cal.intercept < 0 ? '-' : '+';
    push(`- Calibrated logit = ${cal.slope.toFixed(4)} x logit ${sign} ${Math.abs(cal.intercept).toFixed(4)}${cal.temperature !== null ? ` (temperature ${cal.temperature.toFixed(4)})` : ''}`);
  }
  push(
    `- Validation: before ${qualityText(cal.validation.before)}; after ${qualityText(cal.validation.after)}`,
    `- Test: before ${qualityText(cal.test.before)}; after ${qualityText(cal.test.after)}`,
    '',
  );

  push('## Limitations', '', ...limitationTexts(limitationFacts(card), e).map((l) => `- ${l}`), '');

  push('## Engine and libraries', '');
  if (sw.engine) {
    push(
      `- Engine: ${orNr(sw.engine.name)} (${orNr(sw.engine.description)}), backend ${orNr(sw.engine.backend)}` +
        (sw.engine.fallbackReason ? `; fallback because ${e(sw.engine.fallbackReason)}` : ''),
    );
  } else {
    push(`- Engine: ${NR}`);
  }
  push(`- Libraries: ${sw.libraries ? sw.libraries.map((l) => `${settingName(l.name)} ${settingValue(l.value)}`).join(', ') : NR}`);
  push(`- Preprocessing: ${sw.preprocessing ? sw.preprocessing.map((s) => `${settingName(s.name)} ${settingValue(s.value)}`).join(', ') : NR}`, '');

  if (card.notRecorded.length) {
    push('## Not recorded by this version', '', card.notRecorded.map(e).join(', '), '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
