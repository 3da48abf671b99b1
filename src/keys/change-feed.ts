import { randomUUID } from 'node:crypto';
import type { KeyWrites } from '../store/api-keys-repository.js';

// What proves a warm entry fresh, and what carries the news of a change to every process that
// holds warm entries. One protocol, lease-based invalidation as in Google's Chubby (LeaseFeed
// below), with two transports:
// - PostgreSQL (src/store/postgres-change-feed.ts): a change is numbered and NOTIFYed in its own
//   transaction; every instance LISTENs on a connection of its own.
// - SQLite (src/store/sqlite-change-feed.ts): a change is numbered by a row of
//   keygate_key_changes in its own transaction; every process on the file looks, every few ms
//   on a connection of its own, whether PRAGMA data_version moved, and if so reads the rows
//   after the last one it saw.
// Either way an instance drops the warm entries of each changed key alone (other keys stay warm)
// and acknowledges; the writer answers only once every instance with a live lease has, or that
// lease ran out. An instance trusts its warm entries only while its own lease holds by its own
// monotonic clock, so a warm verification touches no store at all: one clock read and compare.
// There is no log to replay: an instance whose lease lapsed starts over with nothing warm
// trusted, which costs a row read per key (no hash work) and keeps the protocol small.

/** A change as its transaction recorded it, for committed() to wait on; undefined where there is nothing to wait for. */
export interface Publication {
  position: number;
}

export interface ChangeFeed {
  /**
   * undefined: nothing can be proven fresh now (every verification reads its row). Else a value
   * that stays the same for as long as every change is seen: an entry made under it is fresh
   * while the stamp still reads the same and no change to its key was announced (onKeyChanged).
   */
  stamp(): number | undefined;
  /** `listener` hears of every changed key: this process's own changes on commit, others' as they arrive. */
  onKeyChanged(listener: (keyId: string) => void): void;
  /** In the change's transaction, its last statement: what makes every instance hear of it once it commits. */
  publish(writes: KeyWrites, keyId: string): Promise<Publication | undefined>;
  /**
   * After the commit: this process forgets the key at once; resolves once no other instance can
   * answer from what it knew before (each acknowledged, or its lease ran out).
   */
  committed(keyId: string, publication: Publication | undefined): Promise<void>;
  close(): Promise<void>;
}

/**
 * A failure of the change feed's own connection or statements, as told to onError: it tries
 * again by itself, and until its lease is renewed no warm entry is trusted (each verification
 * reads its key's row). Not a write that was lost: nothing is kept for later.
 */
export class ChangeFeedError extends Error {
  constructor(cause: unknown) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super(`change feed: ${what}; it tries again by itself, and until its lease is renewed every verification reads its key's row`, { cause });
    this.name = 'ChangeFeedError';
  }
}

/** The longest KEYGATE_LEASE_MS: no instance's lease can run longer than this from now. */
export const MAX_LEASE_MS = 60_000;
/**
 * How long a writer waits before it looks again, besides when it hears an acknowledgement (only
 * a listening PostgreSQL instance does): 1 ms, doubling up to this. Acknowledgements take a few
 * ms, so a writer that does not listen (the CLI) answers about as soon as one that does.
 */
const MAX_POLL_MS = 16;

/** What a writer asks of the instances' table (keygate_instances), on either database. */
export interface Acknowledgements {
  /**
   * The instances (this one aside) that have not acknowledged `position` yet: how many have a
   * live lease, and the ids of those whose lease has lapsed, as the read saw them. A read can
   * see a lease as lapsed while its renewal, made before it lapsed, is still to commit: a lapse
   * is relied on only once evictLapsed has made it so for good.
   */
  unacknowledged(position: number): Promise<{ live: number; lapsed: string[] }>;
  /**
   * Removes those of `ids` whose lease has lapsed and who have not acknowledged `position`, in a
   * statement that waits for a renewal under way and looks again after it (a renewed lease is
   * not removed); the ids removed. An instance removed finds no row at its next renewal and
   * starts over, trusting nothing from before.
   */
  evictLapsed(ids: string[], position: number): Promise<string[]>;
  /**
   * Ends the leases of those (none of them can renew a lapsed lease, so each must register
   * again, trusting nothing from before) and says how long, in ms, the longest of them still
   * runs on its own clock: what the writer must still wait.
   */
  evictUnacknowledged(position: number): Promise<number>;
}

/**
 * How many instances the writer must still wait for: the live ones that have not acknowledged,
 * and those that looked lapsed but could not be removed (renewed meanwhile, or acknowledged, or
 * gone: the next look tells).
 */
async function pending(acknowledgements: Acknowledgements, position: number): Promise<number> {
  const { live, lapsed } = await acknowledgements.unacknowledged(position);
  if (lapsed.length === 0) return live;
  const evicted = await acknowledgements.evictLapsed(lapsed, position);
  return live + lapsed.length - evicted.length;
}

/**
 * Resolves once no live instance but this one can answer from what it knew before the change at
 * `position`: each acknowledged it, or its lease ran out (and its row was removed, so that it
 * cannot renew it). One that keeps its lease for a whole lease without acknowledging (a
 * PostgreSQL listener that does not hear, behind a pooler in transaction mode, say) is evicted
 * and waited out. Never fails: the change is committed, and
 * whoever made it must get its answer (a rotation's new secret); if the database cannot be asked,
 * the longest lease is waited out on this clock.
 */
export async function waitUntilAcknowledged(
  acknowledgements: Acknowledgements,
  position: number,
  options: { leaseMs: number; wake: (pollMs: number) => Promise<void> },
): Promise<void> {
  const evictAt = performance.now() + options.leaseMs;
  try {
    for (let pollMs = 1; (await pending(acknowledgements, position)) > 0; pollMs = Math.min(MAX_POLL_MS, pollMs * 2)) {
      if (performance.now() >= evictAt) {
        // No lease runs longer than MAX_LEASE_MS: a longer remainder is a row of a dead process
        // whose clock is not this one's (SQLite's leases are by the machine's monotonic clock,
        // which a reboot starts again).
        return await sleep(Math.min(MAX_LEASE_MS, await acknowledgements.evictUnacknowledged(position)));
      }
      await options.wake(pollMs);
    }
  } catch {
    await sleep(options.leaseMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The protocol both transports share: the instance's lease as this process trusts it, the
 * listeners, what was heard, and the writer's side of a change. A transport registers the
 * instance and renews its lease (calling trust()), tells of each change it reads (heard()),
 * starts over when its lease lapsed or its transport failed (distrust()), and answers the
 * writer's questions (Acknowledgements).
 */
export abstract class LeaseFeed implements ChangeFeed {
  protected readonly instanceId = randomUUID();
  private readonly listeners: ((keyId: string) => void)[] = [];
  /** Moves whenever the instance starts over: entries made before are never trusted again. */
  private epoch = 0;
  /** Until when (by `now`) the lease holds by this process's own clock; -Infinity: not trusted. */
  private trustedUntil = -Infinity;
  /** Every change up to this position has been heard (and its keys forgotten). */
  protected heardUpTo = 0;

  protected constructor(
    /** How long the lease lasts; a writer waits at most this long for a frozen or cut-off instance. */
    protected readonly leaseMs: number,
    /** This process's monotonic clock, in ms. */
    protected readonly now: () => number = () => performance.now(),
  ) {}

  stamp(): number | undefined {
    return this.now() < this.trustedUntil ? this.epoch : undefined;
  }

  onKeyChanged(listener: (keyId: string) => void): void {
    this.listeners.push(listener);
  }

  abstract publish(writes: KeyWrites, keyId: string): Promise<Publication>;

  async committed(keyId: string, publication: Publication | undefined): Promise<void> {
    this.forget(keyId);
    if (publication === undefined) return;
    await waitUntilAcknowledged(this.acknowledgements(), publication.position, { leaseMs: this.leaseMs, wake: (pollMs) => this.wake(pollMs) });
  }

  abstract close(): Promise<void>;

  /** The instances' table as this instance's writes see it: every instance but this one. */
  protected abstract acknowledgements(): Acknowledgements;

  /** Resolves once a writer should look again: after `pollMs`, or sooner when an acknowledgement is heard. */
  protected wake(pollMs: number): Promise<void> {
    return sleep(pollMs);
  }

  /**
   * The lease, renewed by a request asked at `askedAt` (by `now`, before it was sent), holds
   * until then plus the lease by the database's clock: this process trusts it until a margin
   * before, so that it stops trusting before any writer stops waiting for it.
   */
  protected trust(askedAt: number): void {
    const margin = Math.max(50, this.leaseMs / 5);
    this.trustedUntil = askedAt + this.leaseMs - margin;
  }

  /** Trusts nothing warm, now or ever again from before: the instance starts over. */
  protected distrust(): void {
    this.trustedUntil = -Infinity;
    this.epoch += 1;
  }

  /** The change at `position` to `keyId` by `writer` (an instance id) was read. */
  protected heard(position: number, writer: string, keyId: string): void {
    // This instance's own changes were forgotten on commit (committed()), before it answered.
    if (writer !== this.instanceId) this.forget(keyId);
    this.heardUpTo = Math.max(this.heardUpTo, position);
  }

  private forget(keyId: string): void {
    for (const listener of this.listeners) listener(keyId);
  }
}

/**
 * The feed of a database no other process can open (SQLite's :memory:): this process's own
 * changes are all there are, and each is forgotten on commit, so warm entries are always fresh.
 */
export class LocalFeed implements ChangeFeed {
  private readonly listeners: ((keyId: string) => void)[] = [];

  stamp(): number {
    return 0;
  }

  onKeyChanged(listener: (keyId: string) => void): void {
    this.listeners.push(listener);
  }

  async publish(): Promise<undefined> {
    return undefined;
  }

  async committed(keyId: string): Promise<void> {
    for (const listener of this.listeners) listener(keyId);
  }

  async close(): Promise<void> {}
}
