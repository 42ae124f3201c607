import { randomBytes } from 'node:crypto';
import { isDatasetId } from '../domain/ids.ts';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `ds_` + 16 base32 characters (80 random bits): URL-safe, unguessable, safe as a directory name. */
export function newDatasetId(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xfffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `ds_${out}`;
}

/** Only ids that pass this ever reach a file path. */
export { isDatasetId };
