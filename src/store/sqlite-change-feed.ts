import SqliteDatabase from 'better-sqlite3';
import { LeaseFeed, MAX_LEASE_MS, sleep, type Acknowledgements, type Publication } from '../keys/change-feed.js';
import type { KeyWrites } from './api-keys-repository.js';
import type { FeedSettings } from './postgres-change-feed.js';

// The change feed on SQLite: the lease protocol of src/keys/change-feed.ts, with a table as the
// transport (every process that opens the file reads it; see 0005_sqlite_change_feed.ts).
// - A change inserts its row into keygate_key_changes as the last statement of its transaction.
//   SQLite has one writer at a time, holding the lock from its first write to its commit, so
//   positions (AUTOINCREMENT, never reused) follow commit order: an instance that has read every
//   row up to P has heard every change before P, and acknowledging P says so.
// - Every process that holds warm entries looks every POLL_MS, on a connection of its own, at
//   PRAGMA data_version (which moves when another connection commits, and costs no I/O when
//   nothing did); when it moved, it reads the rows after the last one it read, drops the warm
//   entries of each key, and acknowledges with its lease renewal (renewed every lease/3
//   besides). So the per-request read of data_version is gone: one read a tick per process.
//   A last_used flush or an unrelated key's change moves data_version too, and costs that tick
//   one indexed read of no rows; no warm entry cools.
// - The writer answers once every other instance with a live lease has acknowledged its
//   position, or that lease has run out.
// - Leases are in ms of the machine's monotonic clock (process.hrtime: CLOCK_MONOTONIC on Linux,
//   the same for every process), not the wall clock, which NTP or a resumed VM may step: every
//   process on a SQLite file in WAL mode is on one machine (WAL needs shared memory). The clock
//   is read inside the statements (keygate_clock_ms()), under the write lock, so that "this lease
//   still holds" (a renewal) and "this lease ran out" (a writer's eviction) are decided in one
//   order: a renewal can never extend a lease that a writer has already stopped waiting for.
//   A reboot starts the clock again: rows whose lease ends further off than any lease can are
//   of processes from before it, and are cleared.
// - Statements on the feed's connection run synchronously with busy_timeout 0: one that finds
//   the database locked fails at once and is tried again on the next tick (or poll), so the feed
//   never blocks the event loop while another connection of this same process holds the lock.
// - The log is trimmed of rows every live instance has acknowledged, at every renewal.

/** How often a process that holds warm entries looks for changes. */
const POLL_MS = 2;
/** Rows of instances dead this long are cleared when an instance registers. */
const DEAD_INSTANCE_MS = 60 * 60 * 1000;
const BUSY_RETRY_MAX_MS = 16;

/** The machine's monotonic clock in ms: the same for every process on the machine. */
export function machineClockMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

export interface SqliteFeedSettings extends FeedSettings {
  path: string;
  /** Tests: the clock of the leases in the database, and this process's own (default: machineClockMs, performance.now). */
  clocks?: { shared: () => number; own: () => number };
  /** Tests: false, and the test calls poll() itself. */
  timer?: boolean;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Runs `work` (synchronous) until the database is not locked, looking again after 1 ms, doubling up to 16. */
async function whenUnlocked<T>(work: () => T): Promise<T> {
  for (let waitMs = 1; ; waitMs = Math.min(BUSY_RETRY_MAX_MS, waitMs * 2)) {
    try {
      return work();
    } catch (error) {
      if (!isBusy(error)) throw error;
    }
    await sleep(waitMs);
  }
}

export class SqliteChangeFeed extends LeaseFeed {
  private readonly connection: SqliteDatabase.Database;
  private readonly statements: Statements;
  private timer: NodeJS.Timeout | undefined;
  private registered = false;
  private closed = false;
  /** data_version when the rows were last read; undefined: read them on the next tick. */
  private seenVersion: number | undefined;
  /** Another instance's change has been heard and not yet acknowledged. */
  private owesAcknowledgement = false;
  /** When (by this process's clock) the lease is next renewed. */
  private renewAt = -Infinity;
  /** A failure reported and not yet followed by a tick that worked: failures are told once a streak. */
  private failing = false;

  private constructor(private readonly settings: SqliteFeedSettings) {
    super(settings.leaseMs, settings.clocks?.own);
    const shared = settings.clocks?.shared ?? machineClockMs;
    const connection = new SqliteDatabase(settings.path, { fileMustExist: true });
    connection.pragma('busy_timeout = 0');
    // As keygate's own connection (database.ts): in WAL mode a commit then syncs nothing, so that
    // an acknowledgement or a renewal never waits for the disk on the event loop. A lease or an
    // acknowledgement lost to a power cut is one of processes that died with it.
    connection.pragma('synchronous = NORMAL');
    connection.function('keygate_clock_ms', { deterministic: false }, () => shared());
    this.connection = connection;
    this.statements = prepareStatements(connection);
  }

  /** Registers this instance (where the settings say it holds warm entries) before it returns. */
  static async open(settings: SqliteFeedSettings): Promise<SqliteChangeFeed> {
    const feed = new SqliteChangeFeed(settings);
    if (!settings.listens) return feed;
    try {
      await whenUnlocked(() => feed.register());
    } catch (error) {
      feed.connection.close();
      throw error;
    }
    if (settings.timer !== false) feed.timer = setInterval(() => feed.poll(), POLL_MS).unref();
    return feed;
  }

  async publish(writes: KeyWrites, keyId: string): Promise<Publication> {
    const { position } = await writes.transaction
      .insertInto('keygate_key_changes')
      .values({ key_id: keyId, writer: this.instanceId })
      .returning('position')
      .executeTakeFirstOrThrow();
    return { position };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.distrust();
    // Writers need not wait for an instance that is gone.
    if (this.registered) await whenUnlocked(() => this.statements.leave.run(this.instanceId)).catch(() => undefined);
    this.connection.close();
  }

  /**
   * One tick: the changes committed since the last (if data_version moved), then the
   * acknowledgement and renewal where one is owed or due. A statement that finds the database
   * locked leaves the rest to the next tick.
   */
  poll(): void {
    if (this.closed) return;
    try {
      if (!this.registered) return this.register();
      const version = this.statements.dataVersion.get() as number;
      if (version !== this.seenVersion) {
        // data_version first: a commit after it moves it again, and is read on the next tick.
        for (const change of this.statements.changesAfter.all(this.heardUpTo)) {
          if (change.writer !== this.instanceId) this.owesAcknowledgement = true;
          this.heard(change.position, change.writer, change.key_id);
        }
        this.seenVersion = version;
      }
      if (this.owesAcknowledgement || this.now() >= this.renewAt) this.renew();
      this.failing = false;
    } catch (error) {
      if (isBusy(error)) return;
      if (!this.failing) this.settings.onError(error);
      this.failing = true;
    }
  }

  protected acknowledgements(): Acknowledgements {
    const { statements } = this;
    const instance = this.instanceId;
    return {
      unacknowledged: (position) =>
        whenUnlocked(() => {
          const rows = statements.unacknowledged.all({ instance, position });
          return { live: rows.filter((row) => row.live === 1).length, lapsed: rows.filter((row) => row.live !== 1).map((row) => row.instance_id) };
        }),
      evictLapsed: (ids, position) =>
        whenUnlocked(() => statements.evictLapsed.immediate(instance, ids, position) as string[]),
      evictUnacknowledged: (position) => whenUnlocked(() => statements.evict.immediate(instance, position) as number),
    };
  }

  /** Registers at the last committed position (under the write lock, no change is in flight), then trusts. */
  private register(): void {
    const asked = this.now();
    const position = this.statements.register.immediate(this.instanceId, this.leaseMs) as number;
    this.heardUpTo = Math.max(this.heardUpTo, position);
    this.seenVersion = undefined;
    this.owesAcknowledgement = false;
    this.registered = true;
    this.renewAt = asked + this.leaseMs / 3;
    this.trust(asked);
  }

  /**
   * Acknowledges what was heard and extends the lease. A lease that lapsed is not extended (its
   * row is gone or out of date): writers stopped waiting for this instance, and nothing proves
   * it heard their changes, so it starts over, trusting nothing from before.
   */
  private renew(): void {
    const asked = this.now();
    const { changes } = this.statements.renew.run({ instance: this.instanceId, leaseMs: this.leaseMs, position: this.heardUpTo });
    if (changes === 0) {
      this.distrust();
      this.registered = false;
      return this.register();
    }
    this.owesAcknowledgement = false;
    if (asked >= this.renewAt) {
      this.renewAt = asked + this.leaseMs / 3;
      try {
        this.statements.trim.run();
      } catch (error) {
        if (!isBusy(error)) throw error;
      }
    }
    this.trust(asked);
  }
}

type Statements = ReturnType<typeof prepareStatements>;

/** The feed's statements, on its own connection (which has keygate_clock_ms()). */
function prepareStatements(connection: SqliteDatabase.Database) {
  const others = 'instance_id <> @instance and acked_position < @position';
  const trim = connection.prepare(
    `delete from keygate_key_changes
     where position <= (select min(acked_position) from keygate_instances where lease_expires_ms > keygate_clock_ms())`,
  );
  return {
    dataVersion: connection.prepare('PRAGMA data_version').pluck(),
    changesAfter: connection.prepare<[number], { position: number; key_id: string; writer: string }>(
      'select position, key_id, writer from keygate_key_changes where position > ? order by position',
    ),
    /** Clears the rows of dead instances (a lease ended long ago, or one from before a reboot), then registers. */
    register: connection.transaction((instance: string, leaseMs: number): number => {
      connection
        .prepare('delete from keygate_instances where lease_expires_ms < keygate_clock_ms() - ? or lease_expires_ms > keygate_clock_ms() + ?')
        .run(DEAD_INSTANCE_MS, MAX_LEASE_MS);
      const position = connection
        .prepare(
          `insert into keygate_instances (instance_id, lease_expires_ms, acked_position)
           values (?, keygate_clock_ms() + ?, coalesce((select max(position) from keygate_key_changes), 0))
           on conflict (instance_id) do update set lease_expires_ms = excluded.lease_expires_ms, acked_position = excluded.acked_position
           returning acked_position`,
        )
        .pluck()
        .get(instance, leaseMs) as number;
      trim.run();
      return position;
    }),
    // Only a lease that still holds is extended (see SqliteChangeFeed.renew).
    renew: connection.prepare<{ instance: string; leaseMs: number; position: number }>(
      `update keygate_instances set lease_expires_ms = keygate_clock_ms() + @leaseMs, acked_position = max(acked_position, @position)
       where instance_id = @instance and lease_expires_ms > keygate_clock_ms()`,
    ),
    trim,
    leave: connection.prepare<[string]>('delete from keygate_instances where instance_id = ?'),
    unacknowledged: connection.prepare<{ instance: string; position: number }, { instance_id: string; live: number }>(
      `select instance_id, lease_expires_ms > keygate_clock_ms() as live from keygate_instances where ${others}`,
    ),
    // Under the write lock, on the latest rows: a read's snapshot may predate a renewal that
    // committed before the lease lapsed; that lease is kept (and waited for). A renewal after
    // finds the row gone.
    evictLapsed: connection.transaction((instance: string, ids: string[], position: number): string[] => {
      const remove = connection.prepare<{ instance: string; position: number; id: string }>(
        `delete from keygate_instances where instance_id = @id and ${others} and lease_expires_ms <= keygate_clock_ms()`,
      );
      return ids.filter((id) => remove.run({ instance, position, id }).changes > 0);
    }),
    /** Removes the instances that have not acknowledged; how long the longest of their leases still runs. */
    evict: connection.transaction((instance: string, position: number): number => {
      const remaining = connection
        .prepare(`select max(lease_expires_ms - keygate_clock_ms()) from keygate_instances where ${others} and lease_expires_ms > keygate_clock_ms()`)
        .pluck()
        .get({ instance, position }) as number | null;
      connection.prepare(`delete from keygate_instances where ${others}`).run({ instance, position });
      return Math.max(0, remaining ?? 0);
    }),
  };
}
