import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcrypt';
import { BoundedQueue } from './bounded-queue.js';

// How a key is kept at rest; the stored text names its scheme, so keys hashed either way verify
// whatever the setting, and a key hashed the other way is rehashed on its next success.
// - bcrypt (the default, as the seed asks): of a SHA-256 digest of the whole key, since bcrypt
//   reads only the first 72 bytes of its input and a key is longer. Tens of milliseconds of a
//   thread of libuv's pool, so compares and hashes go through a bounded queue.
// - hmac-sha256: HMAC-SHA256 under a pepper that is never stored in a key's row; a microsecond,
//   on the event loop.

export type HashScheme = 'bcrypt' | 'hmac-sha256';

const HMAC_PREFIX = 'hmac-sha256$';

export interface HashSettings {
  scheme: HashScheme;
  bcryptCost: number;
  /** The HMAC scheme's key; needed to verify hmac-sha256 hashes even while bcrypt is chosen. */
  pepper: Buffer;
  /** bcrypt jobs running at once, waiting at most, and how long one may wait. */
  concurrency: number;
  maxWaiting: number;
  maxWaitMs: number;
}

function digestOf(key: string): string {
  return createHash('sha256').update(key).digest('base64');
}

export class KeyHasher {
  private readonly queue: BoundedQueue;

  constructor(private readonly settings: HashSettings) {
    this.queue = new BoundedQueue(settings.concurrency, settings.maxWaiting, settings.maxWaitMs);
  }

  /** The scheme new hashes are made by. */
  get scheme(): HashScheme {
    return this.settings.scheme;
  }

  /**
   * The stored form of a new key, by the configured scheme. A `background` hash (a rehash, which
   * no answer waits for) takes a bcrypt slot only when no compare or foreground hash waits.
   */
  hash(key: string, priority: 'foreground' | 'background' = 'foreground'): Promise<string> {
    if (this.settings.scheme === 'hmac-sha256') return Promise.resolve(HMAC_PREFIX + this.hmacOf(key).toString('base64'));
    const job = () => bcrypt.hash(digestOf(key), this.settings.bcryptCost);
    return priority === 'background' ? this.queue.runInBackground(job) : this.queue.run(job);
  }

  /**
   * Whether `key` is the one `stored` was made from, by the scheme `stored` names: a boolean at
   * once for HMAC, a promise for bcrypt, which rejects with Unavailable when its queue is full.
   * Both compare in constant time (bcrypt's own compare; timingSafeEqual).
   */
  matches(key: string, stored: string): boolean | Promise<boolean> {
    if (stored.startsWith(HMAC_PREFIX)) {
      const expected = Buffer.from(stored.slice(HMAC_PREFIX.length), 'base64');
      const actual = this.hmacOf(key);
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    }
    return this.queue.run(() => bcrypt.compare(digestOf(key), stored));
  }

  /** Whether `stored` was made another way than a new hash would be (scheme, or bcrypt cost). */
  isOutdated(stored: string): boolean {
    if (this.settings.scheme === 'hmac-sha256') return !stored.startsWith(HMAC_PREFIX);
    return stored.startsWith(HMAC_PREFIX) || bcrypt.getRounds(stored) !== this.settings.bcryptCost;
  }

  private hmacOf(key: string): Buffer {
    return createHmac('sha256', this.settings.pepper).update(key).digest();
  }
}
