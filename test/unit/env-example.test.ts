import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';

// .env.example documents every variable src/config.ts reads, with its real default, and
// docker-compose.yml passes each of them to the containers: none of the three can drift.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** Variables compose sets itself inside the containers instead of taking them from .env. */
const FIXED_IN_COMPOSE = new Set(['PORT', 'HOST', 'DATA_DIR', 'REDIS_URL']);

/** Names src/config.ts reads: env.X, env['X'], and helper calls such as int(env, 'X', ...). */
function configVariables(): Set<string> {
  const src = read('src/config.ts');
  const names = new Set<string>();
  for (const m of src.matchAll(/\benv\s*(?:\??\.\s*([A-Z][A-Z0-9_]*)\b|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g)) {
    names.add((m[1] ?? m[2])!);
  }
  for (const m of src.matchAll(/\(\s*env\s*,\s*['"]([A-Z][A-Z0-9_]*)['"]/g)) names.add(m[1]!);
  return names;
}

interface ExampleVar {
  readonly value: string;
  readonly comment: string;
}

/** .env.example: the service's variables, then the section for docker compose only. */
function parseEnvExample(): { app: Map<string, ExampleVar>; composeOnly: Map<string, ExampleVar>; stray: string[] } {
  const app = new Map<string, ExampleVar>();
  const composeOnly = new Map<string, ExampleVar>();
  const stray: string[] = [];
  let section = app;
  let comment = '';
  for (const line of read('.env.example').split('\n')) {
    if (/^# --- docker compose only/.test(line)) {
      section = composeOnly;
      comment = '';
    } else if (line.startsWith('#')) {
      comment = line.replace(/^#\s*/, '');
    } else if (line.trim() === '') {
      comment = '';
    } else {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!m) stray.push(line);
      else section.set(m[1]!, { value: m[2]!, comment });
      comment = '';
    }
  }
  return { app, composeOnly, stray };
}

const sorted = (s: Iterable<string>) => [...s].sort();
const defaults = () => loadConfig({});

describe('.env.example', () => {
  const config = configVariables();
  const example = parseEnvExample();

  it('finds the variables src/config.ts reads (the parser itself works)', () => {
    for (const name of ['PORT', 'HOST', 'DATA_DIR', 'REDIS_URL', 'API_KEYS', 'LOG_LEVEL']) expect(config).toContain(name);
  });

  it('documents exactly the variables src/config.ts reads', () => {
    expect({
      missingFromEnvExample: sorted([...config].filter((n) => !example.app.has(n))),
      notReadBySrcConfig: sorted([...example.app.keys()].filter((n) => !config.has(n))),
      unparseableLines: example.stray,
    }).toEqual({ missingFromEnvExample: [], notReadBySrcConfig: [], unparseableLines: [] });
  });

  it('has a comment line above every variable', () => {
    const undocumented = [...example.app, ...example.composeOnly].filter(([, v]) => v.comment.length < 10).map(([n]) => n);
    expect(undocumented).toEqual([]);
  });

  it('shows the real default of every variable (setting it changes nothing)', () => {
    for (const [name, { value }] of example.app) {
      expect({ name, config: loadConfig({ [name]: value }) }).toEqual({ name, config: defaults() });
    }
  });
});

describe('docker-compose.yml', () => {
  const config = configVariables();
  const example = parseEnvExample();
  const text = read('docker-compose.yml');
  const compose = parse(text, { merge: true }) as {
    services: Record<string, { environment?: Record<string, string> }>;
  };

  it('passes every variable of src/config.ts to the api and the worker, defaulting to the real default', () => {
    for (const service of ['api', 'worker']) {
      const env = compose.services[service]?.environment ?? {};
      expect({ service, missing: sorted([...config].filter((n) => !(n in env))) }).toEqual({ service, missing: [] });
      for (const [name, raw] of Object.entries(env)) {
        const m = /^\$\{([A-Z][A-Z0-9_]*):-(.*)\}$/.exec(String(raw));
        if (!m) {
          expect({ name, fixedInCompose: FIXED_IN_COMPOSE.has(name) }).toEqual({ name, fixedInCompose: true });
          continue;
        }
        expect(m[1]).toBe(name);
        expect({ name, config: loadConfig({ [name]: m[2] }) }).toEqual({ name, config: defaults() });
      }
    }
  });

  it('interpolates only variables that .env.example documents, and uses every compose-only one', () => {
    const interpolated = new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const documented = new Set([...example.app.keys(), ...example.composeOnly.keys()]);
    expect({
      undocumented: sorted([...interpolated].filter((n) => !documented.has(n))),
      unusedComposeOnly: sorted([...example.composeOnly.keys()].filter((n) => !interpolated.has(n))),
    }).toEqual({ undocumented: [], unusedComposeOnly: [] });
  });
});
