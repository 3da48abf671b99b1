import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// The random values keygate hands out and keeps only a hash of (session cookies, refresh
// tokens), and the comparison of secrets a caller presents.

/** 32 random bytes, base64url: what a cookie or a refresh token carries. */
export function newSecretValue(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256, hex: the row's key. A fast hash suffices for 256 random bits (nothing to guess), and
 * keeps a lookup by primary key.
 */
export function secretHash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** HMAC-SHA256 of `value` under `key`, base64url. */
export function hmac(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

/** Constant-time equality of two texts (only their length may show). */
export function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
