/**
 * UIDs this service makes (PS3.5 B.2): "2.25." followed by a UUID as one decimal integer, so no
 * organisation root is needed. Random ones for new objects; a name-based one (a version 8 UUID
 * from a SHA-256) where the same input must always give the same UID.
 */
import { createHash, randomUUID } from 'node:crypto';

function fromUuidHex(hex: string): string {
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

/** A new, random UID (from a version 4 UUID). */
export function newUid(): string {
  return fromUuidHex(randomUUID().replaceAll('-', ''));
}

/** The same UID for the same name: SHA-256 of the name, cut to a version 8 (custom) RFC 9562 UUID. */
export function nameBasedUid(name: string): string {
  const bytes = createHash('sha256').update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return fromUuidHex(bytes.toString('hex'));
}
