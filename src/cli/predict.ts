/**
 * `npm run predict -- <image...> [--name NAME] [--version N | --alias A] [--json]`: one line per
 * image with the pneumonia probability and the label at the version's decision threshold, from
 * the model the API would serve (explicit version > alias > 'production' > latest) in DATA_DIR.
 * Images go through the same decode + preprocessing as training and serving.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { isAppError } from '../errors.ts';
import { decodeXray, dicomPolicyOf } from '../imaging/decode.ts';
import { initEngine } from '../ml/engine.ts';
import { labelling, labelOf } from '../domain/labelling.ts';
import { loadServingModel } from '../ml/predict.ts';
import { createModelRegistry } from '../storage/model-registry.ts';
import { fail, intOption, UsageError } from './args.ts';

const USAGE = `Usage: npm run predict -- <image.png|jpg|dcm> [more images...] [options]

  --name NAME      model name (default: DEFAULT_MODEL_NAME, chestxraynet)
  --version N      a specific version (default: the 'production' alias, else the latest)
  --alias A        the version an alias points at
  --json           one JSON object per line instead of text
  -h, --help

Prints: <image>  <probability>  <label>   (label = the positive class when probability >= threshold)`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      name: { type: 'string' },
      version: { type: 'string' },
      alias: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length === 0) throw new UsageError('give at least one image file');
  if (values.version !== undefined && values.alias !== undefined) throw new UsageError('give --version or --alias, not both');
  const config = loadConfig(process.env);
  const name = values.name ?? config.defaultModelName;
  const version = values.version === undefined ? undefined : intOption('--version', values.version, 1, Number.MAX_SAFE_INTEGER);

  await initEngine();
  const registry = createModelRegistry({ dataDir: config.dataDir, defaultModel: config.defaultModelName });
  const v = await registry.resolve(name, { ...(version !== undefined ? { version } : {}), ...(values.alias ? { alias: values.alias } : {}) });
  const info = await registry.getVersion(name, v);
  // The same rules as the API: input size from the weights' graph, labels from the metadata.
  const model = await loadServingModel(await registry.loadArtifacts(name, v), { batchSize: 16 });
  const size = model.inputSize;
  const labels = labelling(info.metadata);
  const { threshold } = labels;
  process.stderr.write(`model ${name} version ${v} (${size}x${size}, threshold ${threshold.toFixed(4)})\n`);

  let failures = 0;
  // Decode everything first (errors per image), then predict in batches.
  const decoded: { file: string; pixels?: Uint8Array; error?: string }[] = [];
  for (const file of positionals) {
    try {
      decoded.push({
        file,
        pixels: await decodeXray(await readFile(file), size, { maxPixels: config.limits.imagePixels, dicom: dicomPolicyOf(config.dicom) }),
      });
    } catch (err) {
      failures++;
      const msg = isAppError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
      decoded.push({ file, error: msg });
    }
  }
  const probs = await model.predict(decoded.flatMap((d) => (d.pixels ? [d.pixels] : [])));
  model.dispose();
  let k = 0;
  for (const d of decoded) {
    if (d.error !== undefined) {
      process.stdout.write(values.json ? `${JSON.stringify({ image: d.file, error: d.error })}\n` : `${d.file}\terror\t${d.error}\n`);
      continue;
    }
    const { probability, label } = labelOf(labels, probs[k++]!);
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ image: d.file, probability, label, threshold, model: { name, version: v } })}\n`
        : `${d.file}\t${probability.toFixed(4)}\t${label}\n`,
    );
  }
  if (failures > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => fail(err),
);
