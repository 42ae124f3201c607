/**
 * The layer arrows of docs/architecture.md, checked by `npm run lint` (depcruise):
 *
 *   http -> services -> {ml, onnx, storage, queue, imaging}   domain, errors, config: leaves anyone may use
 *   ml imports only TensorFlow.js (and other ml files)      workers never import http
 *   onnx imports only the ONNX libraries (onnx-proto, onnxruntime-node), domain and src/ml/network-graph.ts (types)
 *
 * Composition roots (src/server.ts, src/app.ts, workers/main.ts, scripts/, src/cli/) wire the layers
 * together and may import any of them. test/unit/architecture.test.ts proves each rule fires.
 */
const LEAVES = ['^src/domain/', '^src/errors\\.ts$', '^src/config\\.ts$'];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle makes load order and ownership ambiguous.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'ml-imports-only-tensorflow',
      severity: 'error',
      comment: 'src/ml is pure TensorFlow.js: model code that any runtime (api, worker, bench) can load.',
      from: { path: '^src/ml/' },
      to: {
        pathNot: ['^src/ml/', '@tensorflow/', '^node:module$', '^module$'],
      },
    },
    {
      name: 'ml-node-builtins-only-in-engine',
      severity: 'error',
      comment: 'Only the engine loader may reach Node (to require the native addon).',
      from: { path: '^src/ml/', pathNot: '^src/ml/engine\\.ts$' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'onnx-imports-only-onnx-libraries',
      severity: 'error',
      comment:
        'src/onnx is the ONNX writer (onnx-proto) and runtime (onnxruntime-node): no TensorFlow.js, no disk, no other layer; ' +
        'of ml only the TensorFlow-free graph types it serialises.',
      from: { path: '^src/onnx/' },
      to: {
        pathNot: ['^src/onnx/', '^src/domain/', '^src/ml/network-graph\\.ts$', 'node_modules/(onnx-proto|protobufjs|onnxruntime-node|onnxruntime-common)/'],
      },
    },
    {
      name: 'http-goes-through-services',
      severity: 'error',
      comment: 'Routes call services; they never reach ml, onnx, storage or queue code themselves.',
      from: { path: '^src/http/' },
      to: { path: ['^src/ml/', '^src/onnx/', '^src/storage/', '^src/queue/', '^workers/'] },
    },
    {
      name: 'services-stay-technology-free',
      severity: 'error',
      comment: 'Services hold use-cases: no Fastify, TensorFlow, Redis or BullMQ types, no disk access.',
      from: { path: '^src/services/' },
      to: {
        path: [
          '^src/http/',
          '^src/app\\.ts$',
          '^src/server\\.ts$',
          'node_modules/(fastify|@fastify|@tensorflow|ioredis|bullmq|onnxruntime-node|onnxruntime-common|onnx-proto|protobufjs)/',
          '^(node:)?fs(/promises)?$',
        ],
      },
    },
    {
      name: 'lower-layers-never-import-upwards',
      severity: 'error',
      comment: 'ml, onnx, storage, queue, imaging and domain know nothing of the services or the HTTP layer.',
      from: { path: ['^src/ml/', '^src/onnx/', '^src/storage/', '^src/queue/', '^src/imaging/', ...LEAVES] },
      to: { path: ['^src/services/', '^src/http/', '^src/app\\.ts$', '^src/server\\.ts$', '^workers/'] },
    },
    {
      name: 'leaves-stay-leaves',
      severity: 'error',
      comment: 'domain, errors and config are imported by every layer, so they import none of them (ml types excepted).',
      from: { path: LEAVES },
      to: { path: ['^src/storage/', '^src/queue/', '^src/imaging/', '^src/onnx/', '^src/metrics\\.ts$'] },
    },
    {
      name: 'workers-never-import-http',
      severity: 'error',
      comment: 'The worker process trains; it has no HTTP surface.',
      from: { path: '^workers/' },
      to: { path: ['^src/http/', '^src/app\\.ts$'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'Every import resolves (a typo in a path is an error, not a runtime surprise). tsx/esm/api is an exports-map ' +
        'subpath the cruiser cannot follow; the DICOM thread boot file imports it and its test loads it for real.',
      from: {},
      to: { couldNotResolve: true, pathNot: '^tsx/esm/api$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^data/', '^tmp/', '^tour/', '^bench/results/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
