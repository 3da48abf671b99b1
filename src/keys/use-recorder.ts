import type { ApiKeyRepository } from '../store/api-keys-repository.js';
import type { HourUsage } from '../store/usage-repository.js';

// What verifications tell about each key, written behind: when it was last used, and how many
// of its verifications succeeded and were refused in each UTC hour. A verification only updates
// maps in memory (the hot path: no I/O, and in the steady state no allocation); a timer writes
// at most one last-use time and one count per key and hour per interval, all in one transaction.
// Counts are added to the stored ones, so several processes on one database add up exactly.
// close() writes what is left, so a clean shutdown loses nothing.
//
// What counts as refused: a key's own secret (current, or previous during a grace) refused for
// what the key may do (disabled, expired, missing scope, rate limited, quota exhausted). Text
// that is no key's secret (wrong, forged, revoked, rotated away) is counted for no key: without
// a matching row there is nothing to attribute it to (a key_id in forged text proves nothing),
// and the path that refuses remembered text must stay free of any bookkeeping.

const HOUR_MS = 60 * 60 * 1000;

/** One key's counts in one hour, added to in place. */
interface Tally {
  valid: number;
  refused: number;
}

/** Counts by hour start (ms), then by key_id. */
type Counts = Map<number, Map<string, Tally>>;

export class UseRecorder {
  private lastUse = new Map<string, number>();
  private counts: Counts = new Map();
  /** The hour being counted, and its keys' tallies in `counts`: found once an hour, not per verification. */
  private hourStart = 0;
  private hourTallies: Map<string, Tally> | undefined;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly repository: Pick<ApiKeyRepository, 'recordUse'>,
    flushIntervalMs: number,
    private readonly onError: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => void this.flush(), flushIntervalMs);
    this.timer.unref(); // never keeps a process alive on its own
  }

  /** A successful verification of the key, now. */
  valid(keyId: string): void {
    const now = this.now();
    this.lastUse.set(keyId, now);
    this.tally(keyId, now).valid += 1;
  }

  /** The key's own secret refused for what the key may do (see above), now. */
  refused(keyId: string): void {
    this.tally(keyId, this.now()).refused += 1;
  }

  /** Writes everything noted so far; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private tally(keyId: string, now: number): Tally {
    let tallies = this.hourTallies;
    // Another hour (or a clock set back into an earlier one), or a flush took the counts.
    if (tallies === undefined || now < this.hourStart || now >= this.hourStart + HOUR_MS) {
      this.hourStart = now - (now % HOUR_MS);
      tallies = this.talliesOf(this.hourStart);
      this.hourTallies = tallies;
    }
    let tally = tallies.get(keyId);
    if (tally === undefined) {
      tally = { valid: 0, refused: 0 };
      tallies.set(keyId, tally);
    }
    return tally;
  }

  private talliesOf(hourStart: number): Map<string, Tally> {
    let tallies = this.counts.get(hourStart);
    if (tallies === undefined) {
      tallies = new Map();
      this.counts.set(hourStart, tallies);
    }
    return tallies;
  }

  private async writePending(): Promise<void> {
    if (this.lastUse.size === 0 && this.counts.size === 0) return;
    const lastUse = this.lastUse;
    const counts = this.counts;
    this.lastUse = new Map();
    this.counts = new Map();
    this.hourTallies = undefined;
    const times = new Map([...lastUse].map(([keyId, at]) => [keyId, new Date(at).toISOString()]));
    try {
      await this.repository.recordUse(times, usageOf(counts));
    } catch (error) {
      this.putBack(lastUse, counts);
      this.onError(error);
    }
  }

  /**
   * A batch that was not written goes back, for the next flush to retry: a last-use time unless
   * a newer one is already noted, counts added to those noted since (none written, none lost).
   */
  private putBack(lastUse: Map<string, number>, counts: Counts): void {
    for (const [keyId, at] of lastUse) if (!this.lastUse.has(keyId)) this.lastUse.set(keyId, at);
    for (const [hourStart, tallies] of counts) {
      const into = this.talliesOf(hourStart);
      for (const [keyId, tally] of tallies) {
        const noted = into.get(keyId);
        if (noted === undefined) {
          into.set(keyId, tally);
        } else {
          noted.valid += tally.valid;
          noted.refused += tally.refused;
        }
      }
    }
  }
}

function usageOf(counts: Counts): HourUsage[] {
  const usage: HourUsage[] = [];
  for (const [hourStart, tallies] of counts) {
    const hour = new Date(hourStart).toISOString();
    for (const [keyId, { valid, refused }] of tallies) usage.push({ keyId, hour, valid, refused });
  }
  return usage;
}
