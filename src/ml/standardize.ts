import * as tf from '@tensorflow/tfjs';

/** Grey images (count * size * size values 0..255, row-major) -> float32 [count, size, size, 1] in 0..255. */
export function pixelsToTensor(pixels: Uint8Array | Float32Array, count: number, size: number): tf.Tensor4D {
  const n = size * size;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(size) || size < 1) {
    throw new RangeError(`count and size must be positive integers (got ${count}, ${size})`);
  }
  if (pixels.length < count * n) {
    throw new RangeError(`expected ${count * n} pixels for ${count} images of ${size}x${size}, got ${pixels.length}`);
  }
  const values = pixels instanceof Float32Array ? pixels.subarray(0, count * n) : new Float32Array(pixels.subarray(0, count * n));
  return tf.tensor4d(values, [count, size, size, 1]);
}

/**
 * [count, size, size, 1] in pixel units (0..255) -> each image standardised to zero mean and
 * unit variance: (x - mean) / max(std, 1/sqrt(N)), as tf.image.per_image_standardization.
 */
export function standardizeImages(x: tf.Tensor4D): tf.Tensor4D {
  const n = x.shape[1] * x.shape[2] * x.shape[3];
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, [1, 2, 3], true);
    const std = tf.maximum(tf.sqrt(variance), 1 / Math.sqrt(n));
    return tf.div(tf.sub(x, mean), std);
  });
}

/**
 * Grey uint8 images (count * size * size bytes, row-major) -> float32 [count, size, size, 1],
 * standardised per image (standardizeImages). The one preprocessing step on tensors, for
 * training and serving alike.
 */
export function toInputTensor(pixels: Uint8Array, count: number, size: number): tf.Tensor4D {
  const x = pixelsToTensor(pixels, count, size);
  try {
    return standardizeImages(x);
  } finally {
    x.dispose();
  }
}
