import type { Confusion } from '../types.ts';

/** A 2x2 confusion matrix as a table: rows are the truth, columns the prediction. */
export function ConfusionMatrix({ confusion, classNames, caption }: { confusion: Confusion; classNames: string[]; caption: string }) {
  const [neg = 'negative', pos = 'positive'] = classNames;
  const total = confusion.tp + confusion.fp + confusion.tn + confusion.fn || 1;
  const cell = (n: number, correct: boolean) => (
    <td class={correct ? 'cm-correct' : 'cm-wrong'} style={`--share: ${(n / total).toFixed(3)}`}>
      <strong>{n}</strong>
      <span class="muted"> ({((n / total) * 100).toFixed(0)}%)</span>
    </td>
  );
  return (
    <table class="confusion">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <td />
          <th scope="col">predicted {neg}</th>
          <th scope="col">predicted {pos}</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">truly {neg}</th>
          {cell(confusion.tn, true)}
          {cell(confusion.fp, false)}
        </tr>
        <tr>
          <th scope="row">truly {pos}</th>
          {cell(confusion.fn, false)}
          {cell(confusion.tp, true)}
        </tr>
      </tbody>
    </table>
  );
}
