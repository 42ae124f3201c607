/**
 * The training form, derived from the API's own parameter schema (src/domain/training-params.ts,
 * the schema POST /v1/training-jobs validates with): every parameter, its default, range and
 * description, and the same validator, so an error shown beside a field is the one the API would
 * answer.
 */
import type { TSchema } from '@sinclair/typebox';
import { schemaErrors, TrainingJobRequestSchema } from '../../src/domain/training-params.ts';

export interface FormField {
  /** Dotted path in the request body, e.g. "model.inputSize". */
  key: string;
  path: string[];
  kind: 'integer' | 'number' | 'boolean' | 'text' | 'choice';
  label: string;
  group: string;
  description?: string;
  choices?: string[];
  default?: number | boolean | string;
  min?: number;
  max?: number;
  exclusiveMin?: number;
  exclusiveMax?: number;
  multipleOf?: number;
}

const LABELS: Record<string, string> = {
  'model.name': 'Model name',
  'model.inputSize': 'Input size (pixels)',
  'model.filterMultiplier': 'Filter multiplier',
  'model.batchNorm': 'Batch normalisation',
  epochs: 'Epochs',
  batchSize: 'Batch size',
  learningRate: 'Learning rate',
  dropoutRate: 'Dropout rate',
  seed: 'Seed',
  validationSplit: 'Validation fraction',
  testSplit: 'Test fraction',
  classWeighting: 'Class weighting',
  earlyStoppingPatience: 'Early-stopping patience (epochs)',
  'augmentation.rotation': 'Rotation (± degrees)',
  'augmentation.zoom': 'Zoom (± fraction)',
  'augmentation.shift': 'Shift (± fraction of the side)',
  'augmentation.horizontalFlip': 'Horizontal flip',
};

const GROUPS: Record<string, string> = { model: 'Model', augmentation: 'Augmentation' };

type JsonSchema = TSchema & Record<string, unknown>;

function fieldsOf(schema: JsonSchema, path: string[]): FormField[] {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const out: FormField[] = [];
  for (const [name, s] of Object.entries(props)) {
    const p = [...path, name];
    const key = p.join('.');
    if (key === 'datasetId') continue;
    if (s.type === 'object') {
      out.push(...fieldsOf(s, p));
      continue;
    }
    const choices = Array.isArray(s.anyOf) ? (s.anyOf as JsonSchema[]).map((o) => String(o.const)) : undefined;
    const kind: FormField['kind'] = choices
      ? 'choice'
      : s.type === 'integer' || s.type === 'number' || s.type === 'boolean'
        ? s.type
        : 'text';
    out.push({
      key,
      path: p,
      kind,
      label: LABELS[key] ?? name,
      group: GROUPS[path[0] ?? ''] ?? 'Training',
      description: typeof s.description === 'string' ? s.description : undefined,
      choices,
      default: s.default as FormField['default'],
      min: s.minimum as number | undefined,
      max: s.maximum as number | undefined,
      exclusiveMin: s.exclusiveMinimum as number | undefined,
      exclusiveMax: s.exclusiveMaximum as number | undefined,
      multipleOf: s.multipleOf as number | undefined,
    });
  }
  return out;
}

/** Every training parameter of the API, in schema order (datasetId is chosen separately). */
export const FORM_FIELDS: readonly FormField[] = fieldsOf(TrainingJobRequestSchema as JsonSchema, []);

export type FormValues = Record<string, string | boolean>;

/** The form filled with the schema's defaults (fields without one start empty). */
export function defaultValues(overrides: Partial<FormValues> = {}): FormValues {
  const v: FormValues = {};
  for (const f of FORM_FIELDS) v[f.key] = f.kind === 'boolean' ? f.default === true : f.default === undefined ? '' : String(f.default);
  return { ...v, ...(overrides as FormValues) };
}

/** "1 to 200", "above 0 and below 1", "64 to 512, a multiple of 64". */
export function rangeText(f: FormField): string {
  const parts: string[] = [];
  const lo = f.min !== undefined ? `${f.min}` : f.exclusiveMin !== undefined ? `above ${f.exclusiveMin}` : undefined;
  const hi = f.max !== undefined ? `${f.max}` : f.exclusiveMax !== undefined ? `below ${f.exclusiveMax}` : undefined;
  if (lo !== undefined && hi !== undefined) parts.push(f.min !== undefined && f.max !== undefined ? `${lo} to ${hi}` : `${lo}, ${hi}`);
  else if (lo !== undefined) parts.push(`from ${lo}`);
  else if (hi !== undefined) parts.push(`up to ${hi}`);
  if (f.multipleOf !== undefined) parts.push(`a multiple of ${f.multipleOf}`);
  if (f.kind === 'integer') parts.push('whole number');
  return parts.join(', ');
}

/**
 * The request body the form describes. Empty number fields are left out (the API fills its
 * default); anything typed that is not a number is sent as typed, so the validator names it.
 */
export function requestBody(datasetId: string, values: FormValues): Record<string, unknown> {
  const body: Record<string, unknown> = { datasetId };
  for (const f of FORM_FIELDS) {
    const raw = values[f.key];
    let value: unknown;
    if (f.kind === 'boolean') value = raw === true;
    else if (typeof raw !== 'string' || raw.trim() === '') continue;
    else if (f.kind === 'integer' || f.kind === 'number') value = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
    else value = raw.trim();
    let at = body;
    for (const part of f.path.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>;
    at[f.path[f.path.length - 1]!] = value;
  }
  return body;
}

/**
 * Problems per field key ("epochs" -> "must be an integer >= 1 and <= 200 (got 0)"), from the
 * API's validator; problems that name no field (or the dataset) come under "".
 */
export function fieldErrors(messages: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of messages) {
    const match = /^\/?([\w/]*): (.*)$/s.exec(m);
    const key = match ? match[1]!.split('/').filter(Boolean).join('.') : '';
    const text = match ? match[2]! : m;
    const known = FORM_FIELDS.some((f) => f.key === key) || key === 'datasetId';
    const k = known ? key : '';
    out[k] = out[k] ? `${out[k]}; ${text}` : text;
  }
  return out;
}

/** Validates the body as the API will. */
export function validate(body: unknown): Record<string, string> {
  return fieldErrors(schemaErrors(TrainingJobRequestSchema, body));
}
