/**
 * ChestXRayNet's layer table (DESIGN.md), free of TensorFlow.js so the memory estimate
 * (src/domain/training-memory.ts) reads the same table the model is built from (src/ml/model.ts).
 * Filter counts are before `filterMultiplier`.
 */
export const CONV_LAYERS: ReadonlyArray<{ readonly filters: number; readonly kernel: number; readonly pool: boolean }> = [
  { filters: 8, kernel: 3, pool: true },
  { filters: 8, kernel: 3, pool: true },
  { filters: 12, kernel: 3, pool: true },
  { filters: 12, kernel: 3, pool: true },
  { filters: 20, kernel: 5, pool: true },
  { filters: 20, kernel: 5, pool: true },
  { filters: 50, kernel: 5, pool: false },
];

/** The dense head: fc1, fc2 and the sigmoid output. */
export const DENSE_UNITS = [128, 32, 1] as const;
