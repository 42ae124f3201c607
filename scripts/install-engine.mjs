#!/usr/bin/env node
// Makes @tensorflow/tfjs-node usable without its download host: builds the addon against the
// libtensorflow shipped in the tensorflow-cpu wheel from pip's configured index. Idempotent.
// Exits 0 with a loud notice when no libtensorflow can be had: the service then runs on wasm.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const tfjsNodeVersion = pkg.optionalDependencies['@tensorflow/tfjs-node'];
const wheelSpec = process.env.TENSORFLOW_WHEEL ?? 'tensorflow-cpu==2.21.0';
const cacheDir = path.resolve(process.env.ENGINE_CACHE_DIR ?? path.join(root, '.cache', 'libtensorflow'));
const pkgDir = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node');

function log(msg) {
  console.log(`[install-engine] ${msg}`);
}

function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '#'.repeat(width);
  console.log(`\n${bar}\n${lines.map((l) => `# ${l.padEnd(width - 4)} #`).join('\n')}\n${bar}\n`);
}

function run(cmd, args, opts = {}) {
  log(`$ ${cmd} ${args.map((a) => (a.includes('\n') ? '<script>' : a)).join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  return r.status === 0;
}

function tfjsNodeBackend() {
  const r = spawnSync(
    process.execPath,
    ['-e', "const tf=require('@tensorflow/tfjs-node');process.stdout.write(tf.getBackend()+' '+tf.version.tfjs)"],
    { cwd: root, encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } },
  );
  return r.status === 0 ? r.stdout.trim() : null;
}

function ensurePackageFiles() {
  if (fs.existsSync(path.join(pkgDir, 'package.json'))) return true;
  // npm drops an optional dependency whose install script failed; put it back without the script.
  return run('npm', [
    'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund',
    `@tensorflow/tfjs-node@${tfjsNodeVersion}`,
  ]);
}

function ensureLibtensorflow() {
  const libs = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'];
  const have = () => libs.every((l) => fs.existsSync(path.join(cacheDir, 'lib', l)))
    && fs.existsSync(path.join(cacheDir, 'include', 'tensorflow', 'c', 'c_api.h'));
  if (have()) return true;
  const wheelDir = path.join(cacheDir, 'wheel');
  fs.mkdirSync(wheelDir, { recursive: true });
  const ok = run('python3', [
    '-m', 'pip', 'download', '--no-deps', '--retries', '0', '--timeout', '20',
    '--only-binary=:all:', '-d', wheelDir, wheelSpec,
  ]);
  const wheel = ok && fs.readdirSync(wheelDir).find((f) => f.endsWith('.whl'));
  if (!wheel) return false;
  log(`extracting libtensorflow from ${wheel}`);
  const extract = `
import sys, zipfile, os, shutil
whl, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(whl)
for n in z.namelist():
    if n.endswith('/'):
        continue
    if n in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'):
        dest = os.path.join(out, 'lib', os.path.basename(n))
    elif n.startswith('tensorflow/include/') and n.endswith('.h') and not n.startswith(('tensorflow/include/external/', 'tensorflow/include/third_party/', 'tensorflow/include/Eigen/', 'tensorflow/include/unsupported/', 'tensorflow/include/google/', 'tensorflow/include/absl/')):
        dest = os.path.join(out, 'include', n[len('tensorflow/include/'):])
    else:
        continue
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with z.open(n) as src, open(dest + '.part', 'wb') as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(dest + '.part', dest)
`;
  if (!run('python3', ['-c', extract, path.join(wheelDir, wheel), cacheDir])) return false;
  fs.rmSync(wheelDir, { recursive: true, force: true });
  return have();
}

function linkOrCopy(src, dest) {
  fs.rmSync(dest, { force: true });
  try {
    fs.linkSync(src, dest);
  } catch {
    fs.copyFileSync(src, dest);
  }
}

function stageDeps() {
  const depsLib = path.join(pkgDir, 'deps', 'lib');
  const depsInclude = path.join(pkgDir, 'deps', 'include');
  fs.rmSync(path.join(pkgDir, 'deps'), { recursive: true, force: true });
  fs.mkdirSync(depsLib, { recursive: true });
  for (const l of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    linkOrCopy(path.join(cacheDir, 'lib', l), path.join(depsLib, l));
  }
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(depsLib, 'libtensorflow.so'));
  fs.symlinkSync('libtensorflow_framework.so.2', path.join(depsLib, 'libtensorflow_framework.so'));
  // The name tfjs-node's install script looks for before it would download.
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(depsLib, 'libtensorflow.so.2.9.1'));
  fs.cpSync(path.join(cacheDir, 'include'), depsInclude, { recursive: true });
}

function npmNodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const r = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  const candidate = path.join(r.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return fs.existsSync(candidate) ? candidate : undefined;
}

function npmConfig(key) {
  const envKey = `npm_config_${key}`;
  if (process.env[envKey]) return process.env[envKey];
  const v = spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' }).stdout.trim();
  return v && v !== 'undefined' && v !== 'null' ? v : undefined;
}

function buildEnv() {
  const nodeGyp = npmNodeGyp();
  // Where Node's headers are (set on machines without network access to nodejs.org).
  const nodedir = npmConfig('nodedir');
  return {
    ...process.env,
    PATH: `${path.join(root, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}`,
    npm_config_build_from_source: 'true',
    ...(nodeGyp ? { npm_config_node_gyp: nodeGyp } : {}),
    ...(nodedir ? { npm_config_nodedir: nodedir } : {}),
  };
}

function main() {
  if (process.env.ENGINE === 'wasm' || process.env.SKIP_TFJS_NODE === '1') {
    banner(['ENGINE=wasm: not building tfjs-node; training runs on the slower wasm backend.']);
    return;
  }
  const before = tfjsNodeBackend();
  if (before?.startsWith('tensorflow')) {
    banner([`engine: tfjs-node ready (backend ${before})`]);
    return;
  }
  log('tfjs-node is not usable yet; building it against libtensorflow from the tensorflow-cpu wheel');
  if (!ensurePackageFiles()) {
    banner(['ENGINE FALLBACK: could not install @tensorflow/tfjs-node package files.',
      'The service will run on the wasm backend (about 3x slower training).']);
    return;
  }
  if (!ensureLibtensorflow()) {
    banner([`ENGINE FALLBACK: no libtensorflow could be had (pip: ${wheelSpec}).`,
      'The service will run on the wasm backend (about 3x slower training).',
      'To get tfjs-node: make that wheel reachable through pip, then rerun npm run install-engine.']);
    return;
  }
  stageDeps();
  // tfjs-node's own install script (denied in allowScripts so npm never runs it with a download);
  // with deps/lib staged it skips the download and builds the addon with node-gyp.
  const built = run(process.execPath, ['scripts/install.js'], { cwd: pkgDir, env: buildEnv() });
  const after = tfjsNodeBackend();
  if (built && after?.startsWith('tensorflow')) {
    banner([`engine: tfjs-node built against libtensorflow from ${wheelSpec} (backend ${after})`]);
  } else {
    banner(['ENGINE FALLBACK: the tfjs-node addon did not build (see the output above).',
      'The service will run on the wasm backend (about 3x slower training).']);
  }
}

main();
