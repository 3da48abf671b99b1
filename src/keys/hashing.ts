import { createHash } from 'node:crypto';
import bcrypt from 'bcrypt';

// bcrypt reads only the first 72 bytes of its input, and a key with a long prefix is longer
// than that. It is therefore given a SHA-256 digest of the whole key (44 base64 characters),
// so every character of the key counts. bcrypt runs in libuv's thread pool, off the event loop.

function digestOf(key: string): string {
  return createHash('sha256').update(key).digest('base64');
}

export class KeyHasher {
  constructor(private readonly cost: number) {}

  hash(key: string): Promise<string> {
    return bcrypt.hash(digestOf(key), this.cost);
  }

  /** Constant-time comparison is bcrypt's own. */
  matches(key: string, hash: string): Promise<boolean> {
    return bcrypt.compare(digestOf(key), hash);
  }
}
