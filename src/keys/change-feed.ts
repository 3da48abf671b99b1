import type { KeyWrites } from '../store/api-keys-repository.js';

// What proves a warm entry fresh, and what carries the news of a change to every process that
// holds warm entries. Two transports:
// - SQLite (DataVersionStamp): one file, so any commit by another process moves SQLite's
//   data_version; a stamp is that counter plus this process's own changes, read per
//   verification. Any change cools every warm entry of every process.
// - PostgreSQL (src/store/postgres-change-feed.ts): a change is numbered and NOTIFYed in its own
//   transaction; every instance LISTENs, drops the warm entries of that key alone and
//   acknowledges; the writer answers only once every instance with a live lease has, or that
//   lease ran out. An instance trusts its warm entries only while its own lease holds and its
//   listener is connected, so a warm verification needs no database round trip. There is no
//   log to replay: an instance that lost its listener starts over with nothing warm trusted,
//   which costs a row read per key (no hash work) and keeps the protocol small.

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
 * SQLite's feed: other processes' commits through data_version (which does not move for this
 * connection's own commits), this process's through a counter. Both only grow, so their sum
 * moves whenever either does.
 */
export class DataVersionStamp implements ChangeFeed {
  private localWrites = 0;

  constructor(private readonly dataVersion: () => number) {}

  stamp(): number {
    return this.dataVersion() + this.localWrites;
  }

  onKeyChanged(): void {
    // Every change moves the stamp, which cools every entry: nothing per key to tell.
  }

  async publish(): Promise<undefined> {
    return undefined;
  }

  async committed(): Promise<void> {
    this.localWrites += 1;
  }

  async close(): Promise<void> {}
}
