/**
 * `node --import ./test/helpers/hide-onnxruntime.mjs ...`: the process runs as on a machine where
 * onnxruntime-node is not installed. A module resolve hook answers every import of it the way
 * Node answers a missing package (ERR_MODULE_NOT_FOUND); nothing else changes.
 */
import { register } from 'node:module';

const hook = `
export async function resolve(specifier, context, next) {
  if (specifier === 'onnxruntime-node' || specifier.startsWith('onnxruntime-node/')) {
    const err = new Error("Cannot find package 'onnxruntime-node' imported from " + (context.parentURL ?? 'the entry point'));
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
