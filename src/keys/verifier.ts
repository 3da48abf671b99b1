import { LRUCache } from 'lru-cache';
import { andThen, type MaybePromise } from '../maybe-promise.js';
import type { ApiKeyRepository, VerificationRow } from '../store/api-keys-repository.js';
import { QueueFull } from './bounded-queue.js';
import { FastHmac } from './fast-hmac.js';
import type { KeyFormat } from './format.js';
import type { KeyHasher } from './hashing.js';
import type { KeyChanges } from './key-changes.js';
import type { LastUseRecorder } from './last-use.js';
import type { Refusal, VerificationResult } from './outcomes.js';

// The outcomes, and what each means for a caller, are outcomes.ts's table; named here too, where
// the library's types and the metrics have always found them.
export { refusalError, VERIFICATION_RESULTS, type Refusal, type VerificationResult } from './outcomes.js';

// The hot path: every request a client makes with its key comes through verify() or verifyNow().
// In order:
// 1. a warm entry for this exact text whose row provably has not changed since: valid, no I/O
//    (only text of a key's length is looked up; an entry is only ever made for an issued key);
// 2. a remembered refusal of this exact text: refused, no I/O. Exact, since a text keygate
//    issued that once failed never becomes valid: its key was revoked (key_ids are never reused)
//    or rotated to new random characters;
// 3. checksum and authenticity tag, no I/O: text keygate did not issue ends here, alike for
//    known and unknown key_ids, so nothing but keygate's own keys ever reaches steps 4 and 5;
// 4. the row by primary key; a warm entry that matched this very hash: valid, no hash work;
// 5. one hash compare (for bcrypt shared by concurrent requests with the same text, and waiting
//    in a bounded queue), remembered either way. A key hashed otherwise than the setting asks
//    is rehashed once it matched.
// Warm entries and refusals are keyed by an HMAC under a key that lives only in this process:
// the cache holds no key, and nothing in it is useful outside this process.
// Steps 1 to 3 need no promise: a warm key is settled synchronously (verifyNow), which the
// HTTP route turns into its answer in the same tick.

export interface VerifiedKey {
  userId: string;
  keyId: string;
  name: string;
  expiresAt: string;
}

export type Verification = { valid: true; key: VerifiedKey } | { valid: false; reason: Refusal };

/** What the verifier reports; the server counts it for /metrics, the library may ignore it. */
export interface VerifierObserver {
  verified(result: VerificationResult, seconds: number): void;
  warmCache(hit: boolean): void;
  hashCompared(): void;
}

interface WarmEntry {
  /** The same object for as long as the row is unchanged: what exchanged tokens are cached by. */
  key: VerifiedKey;
  keyHash: string;
  expiresAtMs: number;
  /** The change stamp read before the row was: while it still reads the same, the row is as it was. */
  stamp: number | undefined;
}

const silentObserver: VerifierObserver = { verified() {}, warmCache() {}, hashCompared() {} };

export class KeyVerifier {
  private readonly cacheKeys = new FastHmac();
  private readonly warm: LRUCache<string, WarmEntry>;
  /** Texts refused for good (see step 2). */
  private readonly refused: LRUCache<string, true>;
  /** In-flight compares by text and hash: concurrent requests with one key share one bcrypt. */
  private readonly comparing = new Map<string, Promise<boolean>>();
  /** key_ids whose rehash is under way. */
  private readonly rehashing = new Set<string>();
  constructor(
    private readonly repository: ApiKeyRepository,
    /** The path of the one change verification makes to a key: a rehash. */
    private readonly changes: KeyChanges,
    private readonly format: KeyFormat,
    private readonly hasher: KeyHasher,
    private readonly lastUse: LastUseRecorder,
    cacheSize: number,
    private readonly observer: VerifierObserver = silentObserver,
    private readonly onError: (error: unknown) => void = () => {},
  ) {
    this.warm = new LRUCache({ max: cacheSize });
    this.refused = new LRUCache({ max: cacheSize });
  }

  async verify(presented: string): Promise<Verification> {
    return this.verifyNow(presented);
  }

  /** verify() without a promise where none is needed: a warm, remembered or forged key is settled at once. */
  verifyNow(presented: string): MaybePromise<Verification> {
    const started = performance.now();
    return andThen(this.check(presented), (verification) => this.observed(verification, started));
  }

  /**
   * The key_id of text keygate issued, or undefined, without I/O: what per-key rate limits count
   * by. A warm text is known to be issued; otherwise its tag decides.
   */
  authenticKeyId(presented: string): string | undefined {
    if (!this.format.hasKeyLength(presented)) return undefined;
    const cacheKey = this.cacheKeys.tag(presented);
    const warm = this.warm.peek(cacheKey);
    if (warm !== undefined) return warm.key.keyId;
    // A text refused for good (revoked, rotated away) is no longer its key's traffic: whoever
    // still holds a leaked, rotated-away key must not spend its successor's budget.
    return this.refused.has(cacheKey) ? undefined : this.format.authenticKeyId(presented);
  }

  private observed(verification: Verification, started: number): Verification {
    this.observer.verified(verification.valid ? 'valid' : verification.reason, (performance.now() - started) / 1000);
    return verification;
  }

  private check(presented: string): MaybePromise<Verification> {
    if (!this.format.hasKeyLength(presented)) return refuse('malformed');
    const cacheKey = this.cacheKeys.tag(presented);
    const entry = this.warm.get(cacheKey);
    // A warm entry was made from this very text after its format was checked: no need to parse
    // it again, only to prove that no key has changed since.
    if (entry !== undefined && entry.stamp !== undefined && entry.stamp === this.repository.changes.current()) {
      this.observer.warmCache(true);
      return this.accept(entry);
    }
    if (this.refused.has(cacheKey)) return refuse('unknown');
    const keyId = this.format.keyIdOf(presented);
    if (keyId === undefined) return refuse('malformed');
    return this.checkRow(presented, keyId, cacheKey, entry).catch(overloadedOrThrow);
  }

  private async checkRow(presented: string, keyId: string, cacheKey: string, entry: WarmEntry | undefined): Promise<Verification> {
    // Read before the row: if it still reads the same later, the row is still as read here.
    const stamp = this.repository.changes.current();
    const row = await this.repository.findForVerification(keyId);
    // An entry made while the row was read (by a concurrent request with the same text) counts too.
    entry = this.warm.peek(cacheKey) ?? entry;
    // A hit: the warm entry settles it, whether or not the row had to be read to be sure.
    const warmHit = row !== undefined && entry?.keyHash === row.key_hash;
    this.observer.warmCache(warmHit);
    if (row === undefined || !(warmHit || (await this.compare(cacheKey, presented, row.key_hash)))) {
      this.warm.delete(cacheKey);
      this.refused.set(cacheKey, true);
      return refuse('unknown');
    }
    // The only place entries are made: after keyIdOf() accepted this very text, which is what
    // lets check() trust an entry without parsing the text again.
    const warmed = entry !== undefined && sameKey(entry, row) ? entry : warmEntry(row);
    warmed.keyHash = row.key_hash;
    warmed.stamp = stamp;
    this.warm.set(cacheKey, warmed);
    if (!warmHit) this.rehashIfOutdated(presented, row, warmed);
    return this.accept(warmed);
  }

  private accept(entry: WarmEntry): Verification {
    if (entry.expiresAtMs <= Date.now()) return refuse('expired');
    this.lastUse.touch(entry.key.keyId);
    return { valid: true, key: entry.key };
  }

  private async compare(cacheKey: string, presented: string, keyHash: string): Promise<boolean> {
    const flight = `${cacheKey}:${keyHash}`;
    const inFlight = this.comparing.get(flight);
    if (inFlight) return inFlight;
    this.observer.hashCompared();
    const compared = Promise.resolve(this.hasher.matches(presented, keyHash)).finally(() => this.comparing.delete(flight));
    this.comparing.set(flight, compared);
    return compared;
  }

  /**
   * Moves a key hashed otherwise than the setting asks (scheme, bcrypt cost) to the configured
   * scheme, so that an operator switches schemes without reissuing keys. In the background: the
   * answer does not wait for a hash it does not need, and a key being rehashed is not rehashed
   * twice at once. The warm entry takes the new hash, which this very text matches, so no warm
   * entry needs to be cooled (the change is not noted: see key-changes.ts). A failure leaves the
   * old hash, which still verifies, and the next verification of a cold text tries again; only a
   * failure other than a full queue is reported.
   */
  private rehashIfOutdated(presented: string, row: VerificationRow, entry: WarmEntry): void {
    if (!this.hasher.isOutdated(row.key_hash) || this.rehashing.has(row.key_id)) return;
    this.rehashing.add(row.key_id);
    const rehash = async () => {
      const rehashed = await this.hasher.hash(presented);
      const replaced = await this.changes.apply('rehashed', (writes) => writes.replaceHash(row.key_id, row.key_hash, rehashed));
      if (replaced !== undefined) entry.keyHash = rehashed;
    };
    rehash()
      .catch((error: unknown) => {
        if (!(error instanceof QueueFull)) this.onError(error);
      })
      .finally(() => this.rehashing.delete(row.key_id));
  }

}

function refuse(reason: Refusal): Verification {
  return { valid: false, reason };
}

/** A full hash queue is a refusal to retry, not a failure of the verification. */
function overloadedOrThrow(error: unknown): Verification {
  if (error instanceof QueueFull) return refuse('overloaded');
  throw error;
}

function sameKey(entry: WarmEntry, row: VerificationRow): boolean {
  const { key } = entry;
  return key.userId === row.user_id && key.name === row.name && key.expiresAt === row.expires_at;
}

function warmEntry(row: VerificationRow): WarmEntry {
  return {
    key: { userId: row.user_id, keyId: row.key_id, name: row.name, expiresAt: row.expires_at },
    keyHash: row.key_hash,
    expiresAtMs: Date.parse(row.expires_at),
    stamp: undefined,
  };
}

