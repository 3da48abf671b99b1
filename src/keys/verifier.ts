import { LRUCache } from 'lru-cache';
import { KeygateError, TooManyRequests, Unauthenticated, Unavailable } from '../errors.js';
import { andThen, type MaybePromise } from '../maybe-promise.js';
import type { ApiKeyRepository, VerificationRow } from '../store/api-keys-repository.js';
import type { KeyFormat } from './format.js';
import type { KeyHasher } from './hashing.js';
import type { LastUseRecorder } from './last-use.js';
import { ProcessHmac } from './process-hmac.js';

// The hot path: every request a client makes with its key comes through verify() or verifyNow().
// In order:
// 1. a warm entry for this exact key whose row provably has not changed since: valid, no I/O
//    (only text of a key's length is looked up; an entry is only ever made for a well-formed key);
// 2. prefix and checksum, no I/O;
// 3. the row by primary key; a warm entry that matched this very hash: valid, no bcrypt;
//    a remembered failure against this very hash: refused, no bcrypt;
// 4. one bcrypt compare (shared by concurrent requests with the same key), remembered either way.
// Warm entries are keyed by an HMAC under a key that lives only in this process: the cache
// holds no key, and nothing in it is useful outside this process.
// Steps 1 and 2 need no promise: a warm key is settled synchronously (verifyNow), which the
// HTTP route turns into its answer in the same tick.

export interface VerifiedKey {
  userId: string;
  keyId: string;
  name: string;
  expiresAt: string;
}

/** Why a key was refused. The first three are told apart only in metrics, never to the caller. */
export type Refusal = 'malformed' | 'unknown' | 'expired' | 'throttled' | 'overloaded';

export type Verification = { valid: true; key: VerifiedKey } | { valid: false; reason: Refusal };

export type VerificationResult = 'valid' | Refusal;

/** What the verifier reports; the server counts it for /metrics, the library may ignore it. */
export interface VerifierObserver {
  verified(result: VerificationResult, seconds: number): void;
  warmCache(hit: boolean): void;
  bcryptCompared(): void;
}

export interface VerifierLimits {
  /** Warm entries (and, as many again, remembered failures) kept per process. */
  cacheSize: number;
  /** bcrypt compares running or waiting for the thread pool at once; beyond it, refuse at once. */
  maxPendingCompares: number;
  /** Distinct secrets being compared for one key_id at once; beyond it that key_id is throttled. */
  maxPendingComparesPerKey: number;
}

interface WarmEntry {
  key: VerifiedKey;
  keyHash: string;
  expiresAtMs: number;
  /** The change stamp read before the row was: while it still reads the same, the row is as it was. */
  stamp: number | undefined;
}

const silentObserver: VerifierObserver = { verified() {}, warmCache() {}, bcryptCompared() {} };

export class KeyVerifier {
  private readonly tags = new ProcessHmac();
  private readonly warm: LRUCache<string, WarmEntry>;
  /** tag -> the hash this secret failed against. */
  private readonly failed: LRUCache<string, string>;
  /** In-flight compares by tag and hash: concurrent requests with one key share one bcrypt. */
  private readonly comparing = new Map<string, Promise<boolean>>();
  private readonly pendingPerKey = new Map<string, number>();
  private pending = 0;

  constructor(
    private readonly repository: ApiKeyRepository,
    private readonly format: KeyFormat,
    private readonly hasher: KeyHasher,
    private readonly lastUse: LastUseRecorder,
    private readonly limits: VerifierLimits,
    private readonly observer: VerifierObserver = silentObserver,
  ) {
    this.warm = new LRUCache({ max: limits.cacheSize });
    this.failed = new LRUCache({ max: limits.cacheSize });
  }

  async verify(presented: string): Promise<Verification> {
    return this.verifyNow(presented);
  }

  /** verify() without a promise where none is needed: a warm or malformed key is settled at once. */
  verifyNow(presented: string): MaybePromise<Verification> {
    const started = performance.now();
    return andThen(this.check(presented), (verification) => this.observed(verification, started));
  }

  private observed(verification: Verification, started: number): Verification {
    this.observer.verified(verification.valid ? 'valid' : verification.reason, (performance.now() - started) / 1000);
    return verification;
  }

  private check(presented: string): MaybePromise<Verification> {
    if (!this.format.hasKeyLength(presented)) return refuse('malformed');
    const tag = this.tags.tag(presented);
    const entry = this.warm.get(tag);
    // A warm entry was made from this very text after its format was checked: no need to parse
    // it again, only to prove that no key has changed since.
    if (entry !== undefined && entry.stamp !== undefined && entry.stamp === this.repository.changes.current()) {
      this.observer.warmCache(true);
      return this.accept(entry);
    }
    const keyId = this.format.keyIdOf(presented);
    if (keyId === undefined) return refuse('malformed');
    return this.checkRow(presented, keyId, tag, entry);
  }

  private async checkRow(presented: string, keyId: string, tag: string, entry: WarmEntry | undefined): Promise<Verification> {
    // Read before the row: if it still reads the same later, the row is still as read here.
    const stamp = this.repository.changes.current();
    const row = await this.repository.findForVerification(keyId);
    // A hit: the warm entry settles it, whether or not the row had to be read to be sure.
    const warmHit = row !== undefined && entry?.keyHash === row.key_hash;
    this.observer.warmCache(warmHit);
    if (row === undefined) {
      this.warm.delete(tag);
      return refuse('unknown');
    }
    let matches: boolean;
    if (warmHit) matches = true;
    else if (this.failed.get(tag) === row.key_hash) matches = false;
    else {
      const compared = await this.compare(tag, keyId, presented, row.key_hash);
      if (typeof compared === 'string') return refuse(compared);
      matches = compared;
    }
    if (!matches) {
      this.warm.delete(tag);
      this.failed.set(tag, row.key_hash);
      return refuse('unknown');
    }
    // The only place entries are made: after keyIdOf() accepted this very text, which is what
    // lets check() trust an entry without parsing the text again.
    const warmed = warmEntry(row, stamp);
    this.warm.set(tag, warmed);
    return this.accept(warmed);
  }

  private accept(entry: WarmEntry): Verification {
    if (entry.expiresAtMs <= Date.now()) return refuse('expired');
    this.lastUse.touch(entry.key.keyId);
    return { valid: true, key: entry.key };
  }

  private compare(tag: string, keyId: string, presented: string, keyHash: string): Promise<boolean> | 'throttled' | 'overloaded' {
    const flight = `${tag}:${keyHash}`;
    const inFlight = this.comparing.get(flight);
    if (inFlight) return inFlight;
    const pendingForKey = this.pendingPerKey.get(keyId) ?? 0;
    if (pendingForKey >= this.limits.maxPendingComparesPerKey) return 'throttled';
    if (this.pending >= this.limits.maxPendingCompares) return 'overloaded';

    this.pending += 1;
    this.pendingPerKey.set(keyId, pendingForKey + 1);
    this.observer.bcryptCompared();
    const compared = this.hasher.matches(presented, keyHash).finally(() => {
      this.pending -= 1;
      const left = (this.pendingPerKey.get(keyId) ?? 1) - 1;
      if (left === 0) this.pendingPerKey.delete(keyId);
      else this.pendingPerKey.set(keyId, left);
      this.comparing.delete(flight);
    });
    this.comparing.set(flight, compared);
    return compared;
  }
}

function refuse(reason: Refusal): Verification {
  return { valid: false, reason };
}

function warmEntry(row: VerificationRow, stamp: number | undefined): WarmEntry {
  return {
    key: { userId: row.user_id, keyId: row.key_id, name: row.name, expiresAt: row.expires_at },
    keyHash: row.key_hash,
    expiresAtMs: Date.parse(row.expires_at),
    stamp,
  };
}

/** Every refusal of a key's secret reads the same, so nothing tells a wrong key from a revoked one. */
export const INVALID_KEY_DETAIL = 'Invalid API key';

/** The domain error for a refusal, as every adapter (HTTP route, Fastify, Express, MCP) reports it. */
export function refusalError(reason: Refusal): KeygateError {
  switch (reason) {
    case 'throttled':
      return new TooManyRequests('Too many verifications of this key are in progress; retry shortly', 1);
    case 'overloaded':
      return new Unavailable('Too many keys are being verified at once; retry shortly', { retryAfterSeconds: 1 });
    default:
      return new Unauthenticated(INVALID_KEY_DETAIL);
  }
}
