import { LRUCache } from 'lru-cache';
import { Forbidden, TooManyRequests } from '../errors.js';
import { andThen, type MaybePromise } from '../maybe-promise.js';
import { SYSTEM } from '../audit/actor.js';
import type { ApiKeyRepository, QuotaUse, VerificationRow } from '../store/api-keys-repository.js';
import { QueueFull } from './bounded-queue.js';
import { FastHmac } from './fast-hmac.js';
import type { Environment, KeyFormat } from './format.js';
import type { KeyHasher } from './hashing.js';
import type { ChangeFeed } from './change-feed.js';
import type { KeyChanges } from './key-changes.js';
import type { UseRecorder } from './use-recorder.js';
import { deepFrozen, environmentOfRow, graceRunning, quotaOfRow, settingsOfRow } from './key-record.js';
import { missingScopes, type KeyStatus } from './key-settings.js';
import type { RefusedKey, Refusal, VerificationResult } from './outcomes.js';
import { dueRefill, quotaAsOf, type QuotaState } from './quota.js';

// The outcomes, and what each means for a caller, are outcomes.ts's table; named here too, where
// the library's types and the metrics have always found them.
export { refusalError, VERIFICATION_RESULTS, type Refusal, type VerificationResult } from './outcomes.js';

// The hot path: every request a client makes with its key comes through verify() or verifyNow().
// In order:
// 1. a warm entry for this exact text whose row provably has not changed since: no I/O
//    (only text of a key's length is looked up; an entry is only ever made for an issued key);
// 2. a remembered refusal of this exact text: refused, no I/O. Exact, since a text keygate
//    issued that once failed never becomes valid: its key was revoked (key_ids are never reused)
//    or rotated to new random characters (and a grace, once over, never comes back);
// 3. checksum and authenticity tag, no I/O: text keygate did not issue ends here, alike for
//    known and unknown key_ids, so nothing but keygate's own keys ever reaches steps 4 and 5;
// 4. the row by primary key; a warm entry that matched this very hash: no hash work;
// 5. one hash compare against the current secret's hash, and during a grace rotation the
//    previous one's (for bcrypt shared by concurrent requests with the same text, and waiting
//    in a bounded queue), remembered either way. A key hashed otherwise than the setting asks
//    is rehashed once it matched.
// Then what the key may do, from the entry (so, as fresh as step 1 or 4 proved it): status,
// expiry (and the end of a grace), the scopes the caller requires, the per-key rate limit the
// caller applies, and last a quota's use, the one write (only keys with a quota pay it), so that
// a refused verification never uses up a quota. Each outcome of a key's own secret, valid or
// refused by one of these, is noted for the key's usage history (use-recorder.ts: in memory, so
// nothing here waits for it); text that is no key's secret is refused before any of them.
// Warm entries and refusals are keyed by an HMAC under a key that lives only in this process:
// the cache holds no key, and nothing in it is useful outside this process.
// Steps 1 to 3 need no promise: a warm key without a quota is settled synchronously (verifyNow)
// where the per-key rate limit counts in memory, which the HTTP route turns into its answer in
// the same tick; a quota's use, or counters in Redis, take a round trip.

export interface VerifiedKey {
  userId: string;
  keyId: string;
  name: string;
  expiresAt: string;
  environment: Environment;
  scopes: readonly string[];
  metadata: Readonly<Record<string, unknown>>;
}

/** A valid key; `remaining`: for a key with a quota, the verifications left after this one. */
export type Verification = { valid: true; key: VerifiedKey; remaining?: number } | ({ valid: false } & RefusedKey);

/**
 * Counts a verification of a valid key against its per-key limit (`max`: the key's own, or the
 * caller's default when null), and says when that refuses it. The server's rate limits are one
 * (src/http/rate-limits.ts); synchronous where the counters are in memory.
 */
export type KeyRateLimit = (keyId: string, max: number | null) => MaybePromise<TooManyRequests | undefined>;

/** What the caller asks beyond a valid key. */
export interface VerifyRequirements {
  /** Scopes the key must all have; a key lacking one is refused as insufficient_scope. */
  scopes?: readonly string[];
  rateLimit?: KeyRateLimit;
}

/** What the verifier reports; the server counts it for /metrics, the library may ignore it. */
export interface VerifierObserver {
  verified(result: VerificationResult, seconds: number): void;
  warmCache(hit: boolean): void;
  /** A key's row was read: never for a warm key while its freshness is proven. */
  rowRead(): void;
  hashCompared(): void;
}

interface WarmEntry {
  /** The same object for as long as the row's version is unchanged: what exchanged tokens are cached by. */
  key: VerifiedKey;
  /** The hash this text matched: the key's current one, or during a grace the previous one. */
  keyHash: string;
  /** The row's version the entry was made from. */
  version: number;
  status: KeyStatus;
  expiresAtMs: number;
  /** When this text stops working before the key does: the end of a grace; Infinity for the current secret. */
  secretEndsAtMs: number;
  rateLimit: number | null;
  /** The quota's settings, and the refill period last seen (a use moves it on). */
  quota: QuotaState | null;
  /** The change stamp read before the row was: while it still reads the same, the row is as it was. */
  stamp: number | undefined;
}

const silentObserver: VerifierObserver = { verified() {}, warmCache() {}, rowRead() {}, hashCompared() {} };
const NO_REQUIREMENTS: VerifyRequirements = {};

export class KeyVerifier {
  private readonly cacheKeys = new FastHmac();
  private readonly warm: LRUCache<string, WarmEntry>;
  /** Texts refused for good (see step 2). */
  private readonly refused: LRUCache<string, true>;
  /** In-flight compares by text and hash: concurrent requests with one key share one bcrypt. */
  private readonly comparing = new Map<string, Promise<boolean>>();
  /** key_ids whose rehash is under way. */
  private readonly rehashing = new Set<string>();
  /** The cache keys of each key_id's warm entries: what a change to that key drops. */
  private readonly warmTexts = new Map<string, Set<string>>();
  /** Changes heard of so far, and the count at each recently changed key's last change. */
  private changesHeard = 0;
  private readonly lastChange: LRUCache<string, number>;
  /** The count at the last change of any key no longer in lastChange: what an unknown key may have had. */
  private forgottenChangesUpTo = 0;
  constructor(
    private readonly repository: ApiKeyRepository,
    /** The path of the changes verification makes: a rehash, a quota's refill (a quota's use is a count, see key-changes.ts). */
    private readonly changes: KeyChanges,
    /** What proves an entry fresh, and tells of changed keys. */
    private readonly feed: ChangeFeed,
    private readonly format: KeyFormat,
    private readonly hasher: KeyHasher,
    /** Told of each verification of a key's own secret, valid or refused (see use-recorder.ts). */
    private readonly uses: UseRecorder,
    cacheSize: number,
    private readonly observer: VerifierObserver = silentObserver,
    private readonly onError: (error: unknown) => void = () => {},
  ) {
    this.warm = new LRUCache({ max: cacheSize, dispose: (entry, cacheKey) => this.unindex(entry.key.keyId, cacheKey) });
    this.lastChange = new LRUCache({
      max: cacheSize,
      dispose: (count, _keyId, reason) => {
        if (reason === 'evict') this.forgottenChangesUpTo = Math.max(this.forgottenChangesUpTo, count);
      },
    });
    feed.onKeyChanged((keyId) => this.forget(keyId));
    this.refused = new LRUCache({ max: cacheSize });
  }

  async verify(presented: string, requirements: VerifyRequirements = NO_REQUIREMENTS): Promise<Verification> {
    return this.verifyNow(presented, requirements);
  }

  /** verify() without a promise where none is needed: a warm, remembered or forged key is settled at once. */
  verifyNow(presented: string, requirements: VerifyRequirements = NO_REQUIREMENTS): MaybePromise<Verification> {
    const started = performance.now();
    return andThen(this.check(presented, requirements), (verification) => this.observed(verification, started));
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

  /**
   * The key whose secret `presented` is (the current one, or during a grace the previous one),
   * whatever its status, expiry, scopes or quota; undefined for anything else. What a holder
   * revoking their own key needs: a leaked key is killed by whoever finds it, disabled or not.
   * Always from the row (a rare call, so exact without the change stamp), with no verification
   * counted and no last use noted.
   */
  async secretHolder(presented: string): Promise<Pick<VerifiedKey, 'userId' | 'keyId'> | undefined> {
    if (!this.format.hasKeyLength(presented)) return undefined;
    const cacheKey = this.cacheKeys.tag(presented);
    if (this.refused.has(cacheKey)) return undefined;
    const keyId = this.format.keyIdOf(presented);
    if (keyId === undefined) return undefined;
    return (await this.checkRow(presented, keyId, cacheKey, this.warm.peek(cacheKey)))?.key;
  }

  private observed(verification: Verification, started: number): Verification {
    this.observer.verified(verification.valid ? 'valid' : verification.reason, (performance.now() - started) / 1000);
    return verification;
  }

  private check(presented: string, requirements: VerifyRequirements): MaybePromise<Verification> {
    if (!this.format.hasKeyLength(presented)) return refuse('malformed');
    const cacheKey = this.cacheKeys.tag(presented);
    const entry = this.warm.get(cacheKey);
    // A warm entry was made from this very text after its format was checked: no need to parse
    // it again, only to prove that no key has changed since.
    if (entry !== undefined && entry.stamp !== undefined && entry.stamp === this.feed.stamp()) {
      this.observer.warmCache(true);
      return this.accept(cacheKey, entry, requirements);
    }
    if (this.refused.has(cacheKey)) return refuse('unknown');
    const keyId = this.format.keyIdOf(presented);
    if (keyId === undefined) return refuse('malformed');
    return this.checkRow(presented, keyId, cacheKey, entry)
      .then((warmed) => (warmed === undefined ? refuse('unknown') : this.accept(cacheKey, warmed, requirements)))
      .catch(overloadedOrThrow);
  }

  /** The entry of `presented` as its row now is, or undefined once it is refused for good. */
  private async checkRow(presented: string, keyId: string, cacheKey: string, entry: WarmEntry | undefined): Promise<WarmEntry | undefined> {
    // Read before the row: if it still reads the same later, the row is still as read here. A
    // change to this key heard while the row was read may postdate it: then the entry is not trusted.
    const stamp = this.feed.stamp();
    const heard = this.changesHeard;
    const row = await this.repository.findForVerification(keyId);
    this.observer.rowRead();
    // An entry made while the row was read (by a concurrent request with the same text) counts too.
    entry = this.warm.peek(cacheKey) ?? entry;
    const matched = row === undefined ? undefined : await this.matchedHash(cacheKey, presented, row, entry);
    if (row === undefined || matched === undefined || row.environment !== this.format.environmentOf(presented)) {
      this.refuseForGood(cacheKey);
      return undefined;
    }
    // The only place entries are made: after keyIdOf() accepted this very text, which is what
    // lets check() trust an entry without parsing the text again.
    const warmed = entry !== undefined && entry.version === row.version && entry.keyHash === matched ? entry : warmEntry(row, matched);
    // What verifications move without a new version: the quota's refill period.
    warmed.quota = quotaOfRow(row);
    warmed.stamp = (this.lastChange.get(keyId) ?? this.forgottenChangesUpTo) <= heard ? stamp : undefined;
    this.warm.set(cacheKey, warmed);
    this.index(keyId, cacheKey);
    if (matched === row.key_hash && entry?.keyHash !== matched) this.rehashIfOutdated(presented, row, warmed);
    return warmed;
  }

  /**
   * Which of the row's hashes `presented` matches: the current secret's, or during a grace the
   * previous one's; undefined for neither. A warm entry that matched one of them settles it with
   * no hash work, whether or not the row had to be read to be sure.
   */
  private async matchedHash(cacheKey: string, presented: string, row: VerificationRow, entry: WarmEntry | undefined): Promise<string | undefined> {
    const previous = graceRunning(row, Date.now()) ? row.previous_key_hash : null;
    const warmHit = entry !== undefined && (entry.keyHash === row.key_hash || entry.keyHash === previous);
    this.observer.warmCache(warmHit);
    if (warmHit) return entry.keyHash;
    if (await this.compare(cacheKey, presented, row.key_hash)) return row.key_hash;
    return previous !== null && (await this.compare(cacheKey, presented, previous)) ? previous : undefined;
  }

  /** Drops every warm entry of the key: it changed (on any instance). */
  private forget(keyId: string): void {
    this.changesHeard += 1;
    this.lastChange.set(keyId, this.changesHeard);
    const texts = this.warmTexts.get(keyId);
    if (texts === undefined) return;
    for (const cacheKey of [...texts]) this.warm.delete(cacheKey);
  }

  private index(keyId: string, cacheKey: string): void {
    const texts = this.warmTexts.get(keyId);
    if (texts === undefined) this.warmTexts.set(keyId, new Set([cacheKey]));
    else texts.add(cacheKey);
  }

  private unindex(keyId: string, cacheKey: string): void {
    const texts = this.warmTexts.get(keyId);
    if (texts === undefined) return;
    texts.delete(cacheKey);
    if (texts.size === 0) this.warmTexts.delete(keyId);
  }

  private refuseForGood(cacheKey: string): void {
    this.warm.delete(cacheKey);
    this.refused.set(cacheKey, true);
  }

  /** What the key may do, from a fresh entry: the stages after the secret. */
  private accept(cacheKey: string, entry: WarmEntry, requirements: VerifyRequirements): MaybePromise<Verification> {
    const now = Date.now();
    if (entry.secretEndsAtMs <= now) {
      // A grace that ended never comes back: this text is refused for good.
      this.refuseForGood(cacheKey);
      return refuse('unknown');
    }
    if (entry.status !== 'active') return this.refusedUse(entry, refuse('disabled'));
    if (entry.expiresAtMs <= now) return this.refusedUse(entry, refuse('expired'));
    if (requirements.scopes !== undefined && requirements.scopes.length > 0) {
      const missing = missingScopes(entry.key.scopes, requirements.scopes);
      if (missing.length > 0) return this.refusedUse(entry, insufficientScope(missing));
    }
    if (requirements.rateLimit === undefined) return this.used(entry);
    return andThen(requirements.rateLimit(entry.key.keyId, entry.rateLimit), (limited) =>
      limited === undefined ? this.used(entry) : this.refusedUse(entry, { valid: false, reason: 'rate_limited', error: limited }),
    );
  }

  /** A refusal of the key's own secret, counted in its usage. */
  private refusedUse(entry: WarmEntry, refusal: Verification): Verification {
    this.uses.refused(entry.key.keyId);
    return refusal;
  }

  /** The verification counted: its quota used, where the key has one, and its use noted. */
  private used(entry: WarmEntry): MaybePromise<Verification> {
    const { key, quota } = entry;
    if (quota === null) {
      this.uses.valid(key.keyId);
      return { valid: true, key };
    }
    const now = new Date();
    return this.useQuota(key, quota, now).then((use): Verification => {
      if (use === undefined) return this.refusedUse(entry, quotaExhausted(quota, now));
      quota.period = use.period;
      this.uses.valid(key.keyId);
      return { valid: true, key, remaining: use.remaining };
    });
  }

  /** One use of the key's quota, after the refill that is due, which is a change (audited). */
  private useQuota(key: VerifiedKey, quota: QuotaState, now: Date): Promise<QuotaUse | undefined> {
    const period = dueRefill(quota, now);
    if (period === undefined) return this.repository.consumeQuota(key.keyId);
    const refill = { period, from: quota.period, amount: quota.refill!.amount };
    return this.changes
      .apply(
        'quota_refilled',
        SYSTEM,
        (writes) => writes.refillQuota(key.keyId, refill),
        (use) => use && { action: 'key.quota_refilled', keyId: key.keyId, ownerId: key.userId, detail: { period, amount: refill.amount } },
      )
      .then((refilled) => refilled ?? this.repository.consumeQuota(key.keyId));
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
   * answer does not wait for a hash it does not need, the hash waits until no compare does (a
   * switch to bcrypt followed by a cold burst would otherwise spend compare slots on rehashes),
   * and a key being rehashed is not rehashed twice at once. The warm entry takes the new hash,
   * which this very text matches, so no warm entry needs to be cooled (the change is not noted:
   * see key-changes.ts). A failure leaves the old hash, which still verifies, and the next
   * verification of a cold text tries again; only a failure other than a full queue is reported.
   */
  private rehashIfOutdated(presented: string, row: VerificationRow, entry: WarmEntry): void {
    if (!this.hasher.isOutdated(row.key_hash) || this.rehashing.has(row.key_id)) return;
    this.rehashing.add(row.key_id);
    const rehash = async () => {
      const rehashed = await this.hasher.hash(presented, 'background');
      const replaced = await this.changes.apply(
        'rehashed',
        SYSTEM,
        (writes) => writes.rehash(row.key_id, row.key_hash, rehashed),
        // Which scheme, not the hashes: those stay out of the trail.
        (done) => (done ? { action: 'key.rehashed', keyId: row.key_id, ownerId: row.user_id, detail: { scheme: this.hasher.scheme } } : undefined),
      );
      if (replaced) entry.keyHash = rehashed;
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

/** A full hash queue is a refusal to retry (its own error says when), not a failure of the verification. */
function overloadedOrThrow(error: unknown): Verification {
  if (error instanceof QueueFull) return { valid: false, reason: 'overloaded', error };
  throw error;
}

function insufficientScope(missing: string[]): Verification {
  const scopes = missing.join(' ');
  const error = new Forbidden(`insufficient_scope: the key lacks the required scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, {
    missingScope: scopes,
  });
  return { valid: false, reason: 'insufficient_scope', error };
}

function quotaExhausted(quota: QuotaState, now: Date): Verification {
  const { nextRefillAt } = quotaAsOf(quota, now);
  const detail =
    nextRefillAt === null
      ? "This key's usage limit is reached: it has no verifications left"
      : `This key's usage limit is reached until it refills at ${nextRefillAt}`;
  const retryAfter = nextRefillAt === null ? undefined : Math.max(1, Math.ceil((Date.parse(nextRefillAt) - now.getTime()) / 1000));
  return { valid: false, reason: 'quota_exhausted', error: new TooManyRequests(detail, retryAfter) };
}

function warmEntry(row: VerificationRow, matchedHash: string): WarmEntry {
  const settings = settingsOfRow(row);
  return {
    key: {
      userId: row.user_id,
      keyId: row.key_id,
      name: row.name,
      expiresAt: row.expires_at,
      environment: environmentOfRow(row),
      scopes: Object.freeze(settings.scopes),
      // At most 16 levels and 4 KiB, frozen once per version of the row.
      metadata: deepFrozen(settings.metadata),
    },
    keyHash: matchedHash,
    version: row.version,
    status: settings.status,
    expiresAtMs: Date.parse(row.expires_at),
    secretEndsAtMs: matchedHash === row.key_hash ? Infinity : Date.parse(row.previous_key_expires_at!),
    rateLimit: row.rate_limit,
    quota: quotaOfRow(row),
    stamp: undefined,
  };
}
