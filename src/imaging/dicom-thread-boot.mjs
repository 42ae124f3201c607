// Entry of a DICOM decoding thread (src/imaging/dicom-pool.ts). A worker thread does not inherit
// its parent's TypeScript loader (tsx, or vitest's transform), so it registers tsx itself and then
// loads the TypeScript module named in workerData.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
