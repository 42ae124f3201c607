import { randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * `prefix` + 16 lower-case base32 characters (80 random bits): URL-safe, unguessable, safe as a
 * directory name or a Redis key part. Dataset and job ids are made here; their shapes are in
 * ./ids.ts. (A file of its own: ids.ts is also bundled into the dashboard, which has no node:crypto.)
 */
export function randomId(prefix: string): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = prefix;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xfffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
