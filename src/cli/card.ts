/**
 * `npx tsx src/cli/card.ts --model NAME --version N [--json]`: prints a version's model card from
 * DATA_DIR, the same card GET /v1/models/{name}/versions/{v}/card answers (Markdown, or JSON with
 * --json). Without --version: the version the API would serve (--alias, else 'production', else
 * the latest).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { evaluationListerFrom } from '../services/evaluation-records.ts';
import { modelCard } from '../services/model-card.ts';
import { renderModelCardMarkdown } from '../services/model-card-markdown.ts';
import { createEvaluationStore, type StoredEvaluation } from '../storage/evaluation-store.ts';
import { createModelRegistry } from '../storage/model-registry.ts';
import { fail, intOption, UsageError } from './args.ts';

const USAGE = `Usage: npx tsx src/cli/card.ts [--model NAME] [--version N | --alias A] [--json]

  --model NAME     model name (default: DEFAULT_MODEL_NAME, chestxraynet)
  --version N      the version (default: the 'production' alias, else the latest)
  --alias A        the version an alias points at
  --json           the card as JSON instead of Markdown
  -h, --help

Prints the model card: intended use, training data and split, parameters, internal and external
evaluations with 95% intervals, operating point, calibration, limitations, engine and libraries.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      version: { type: 'string' },
      alias: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.version !== undefined && values.alias !== undefined) throw new UsageError('give --version or --alias, not both');
  const config = loadConfig(process.env);
  const name = values.model ?? config.defaultModelName;
  const version = values.version === undefined ? undefined : intOption('--version', values.version, 1, Number.MAX_SAFE_INTEGER);
  const registry = createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName });
  const v = await registry.resolve(name, { ...(version !== undefined ? { version } : {}), ...(values.alias !== undefined ? { alias: values.alias } : {}) });
  const evaluations = evaluationListerFrom(createEvaluationStore<StoredEvaluation>({ dataDir: config.dataDir }));
  const card = await modelCard({ registry, evaluations }, name, v);
  process.stdout.write(values.json ? `${JSON.stringify(card, null, 2)}\n` : renderModelCardMarkdown(card));
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => fail(err),
);
