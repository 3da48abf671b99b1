import { sql, type Transaction } from 'kysely';
import pg from 'pg';
import { LeaseFeed, type Acknowledgements, type Publication } from '../keys/change-feed.js';
import type { KeyWrites } from './api-keys-repository.js';
import type { KeygateDb } from './database.js';
import type { Database } from './schema.js';

// The change feed on PostgreSQL: lease-based invalidation, as in Chubby, with NOTIFY as the
// transport (see src/keys/change-feed.ts for what it promises).
// - A change takes the feed's advisory lock as the last statement of its transaction, draws the
//   next position and NOTIFYs it with its key_id. NOTIFY is delivered only on commit, in commit
//   order; the lock makes positions follow that order too, so an instance that has heard position
//   P has heard every change before it, and acknowledging P says so.
// - Every instance that holds warm entries LISTENs on a connection of its own, drops the warm
//   entries of each key it hears of, and acknowledges (batched, and with every lease renewal).
// - The writer answers once every other instance with a live lease has acknowledged its position,
//   or that lease has run out by the database's clock and the writer removed its row (a DELETE
//   that waits for a renewal under way and keeps a lease it renewed: evictLapsed), so that the
//   instance cannot renew it, and starts over instead.
// - An instance trusts its warm entries only while its lease holds by its own monotonic clock,
//   counted from before it asked for the renewal and less a margin, so that it stops trusting
//   before the database's lease ends; and only while its listener is connected. A listener that
//   was lost starts over: nothing warm from before is trusted again (one row read per key, no
//   hash work), and its position is read under the lock, so it claims no change still in flight.

const CHANGES = 'keygate_key_changes';
const ACKS = 'keygate_change_acks';
/** Takes the advisory lock that orders changes (any constant, as long as every keygate takes the same). */
const TAKE_ORDER_LOCK = "select pg_advisory_xact_lock(hashtext('keygate_change_position'))";
const DATABASE_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
/** The last position drawn; with the lock held, the last one committed. */
const LAST_POSITION = '(select case when is_called then last_value else 0 end from keygate_change_position)';
/** Rows of instances dead this long are cleared when an instance registers. */
const DEAD_INSTANCE_MS = 60 * 60 * 1000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;

/**
 * In a transaction that changed the key, as its last statements: takes the order lock, draws the
 * change's position and NOTIFYs it, so every listening instance hears of it once it commits.
 */
export async function announceKeyChange(trx: Transaction<Database>, keyId: string, writer = '-'): Promise<Publication> {
  // One statement, so that the lock is held for one round trip and the commit: the lock first
  // (the CTE it is in must be read before the position is drawn), then the position, then NOTIFY.
  const { rows } = await sql<{ position: string }>`
    with locked as (select pg_advisory_xact_lock(hashtext('keygate_change_position'))),
         drawn as (select nextval('keygate_change_position') as position from locked)
    select position, pg_notify(${CHANGES}, position || ' ' || ${writer} || ' ' || ${keyId}) from drawn`.execute(trx);
  return { position: Number(rows[0]!.position) };
}

/** keygate_instances on PostgreSQL, as `exceptInstance`'s writes see it (see Acknowledgements). */
export function postgresAcknowledgements(db: KeygateDb, exceptInstance: string): Acknowledgements {
  return {
    async unacknowledged(position) {
      const { rows } = await sql<{ instance_id: string; live: boolean }>`
        select instance_id, lease_expires_ms > ${sql.raw(DATABASE_NOW_MS)} as live from keygate_instances
        where instance_id <> ${exceptInstance} and acked_position < ${position}`.execute(db);
      return { live: rows.filter((row) => row.live).length, lapsed: rows.filter((row) => !row.live).map((row) => row.instance_id) };
    },
    async evictLapsed(ids, position) {
      // Read committed: a renewal that ran before unacknowledged's read and commits after it was
      // not seen by that read; this waits for its row lock and looks again at the row it wrote,
      // so a renewed lease stays (and is waited for). One removed cannot renew (see renew).
      const { rows } = await sql<{ instance_id: string }>`
        delete from keygate_instances
        where instance_id = any(${ids}) and lease_expires_ms <= ${sql.raw(DATABASE_NOW_MS)} and acked_position < ${position}
        returning instance_id`.execute(db);
      return rows.map((row) => row.instance_id);
    },
    async evictUnacknowledged(position) {
      // None of them can renew a lapsed lease (see renew).
      const { rows } = await sql<{ remaining: string | null }>`
        with stale as (
          select instance_id, lease_expires_ms - ${sql.raw(DATABASE_NOW_MS)} as remaining from keygate_instances
          where instance_id <> ${exceptInstance} and acked_position < ${position} and lease_expires_ms > ${sql.raw(DATABASE_NOW_MS)}
          for update
        )
        update keygate_instances set lease_expires_ms = 0 from stale where keygate_instances.instance_id = stale.instance_id
        returning stale.remaining`.execute(db);
      return Math.max(0, ...rows.map((row) => Number(row.remaining)));
    },
  };
}

/** What either transport of the change feed is opened with. */
export interface FeedSettings {
  /** How long an instance's lease lasts; a writer waits at most this long for a frozen or cut-off instance. */
  leaseMs: number;
  /**
   * Whether this process holds warm entries, so that writers must wait for it: the server and
   * the library do; the CLI only writes (it waits for the others, and trusts nothing warm).
   */
  listens: boolean;
  /** Told when the feed's own connection fails (it starts over by itself). */
  onError: (error: unknown) => void;
}

export class PostgresChangeFeed extends LeaseFeed {
  private readonly waiting = new Set<() => void>();
  private client: pg.Client | undefined;
  private ackScheduled = false;
  private renewal: NodeJS.Timeout | undefined;
  /** When the renewal under way was asked; undefined: none is. */
  private renewingSince: number | undefined;
  private closed = false;
  private reconnectMs = RECONNECT_MIN_MS;

  private constructor(
    private readonly db: KeygateDb,
    private readonly settings: FeedSettings & { url: string },
  ) {
    super(settings.leaseMs);
  }

  /** Listens (where the settings say so) and registers this instance before it returns. */
  static async open(db: KeygateDb, settings: FeedSettings & { url: string }): Promise<PostgresChangeFeed> {
    const feed = new PostgresChangeFeed(db, settings);
    if (settings.listens) {
      await feed.listen();
      feed.renewal = setInterval(() => void feed.renew(), Math.max(50, Math.floor(settings.leaseMs / 3))).unref();
    }
    return feed;
  }

  publish(writes: KeyWrites, keyId: string): Promise<Publication> {
    return announceKeyChange(writes.transaction, keyId, this.instanceId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.distrust();
    clearInterval(this.renewal);
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    // Writers need not wait for an instance that is gone.
    await client.query('delete from keygate_instances where instance_id = $1', [this.instanceId]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  protected acknowledgements(): Acknowledgements {
    return postgresAcknowledgements(this.db, this.instanceId);
  }

  /** Resolves when an acknowledgement is heard, or `ms` have passed. */
  protected override wake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  /** Connects, LISTENs, and registers at the last committed position; then trusts. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.settings.url, connectionTimeoutMillis: 3000, keepAlive: true });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    client.on('notification', (message) => this.notified(message));
    try {
      await client.connect();
      await client.query(`listen ${CHANGES}; listen ${ACKS}`);
      const asked = performance.now();
      // Under the lock no change is in flight, so every position up to the last is committed and,
      // LISTEN being in place, anything after it will be heard.
      await client.query('begin');
      await client.query(TAKE_ORDER_LOCK);
      const { rows } = await client.query<{ position: string }>(
        `insert into keygate_instances (instance_id, lease_expires_ms, acked_position)
         values ($1, ${DATABASE_NOW_MS} + $2, ${LAST_POSITION})
         on conflict (instance_id) do update set lease_expires_ms = excluded.lease_expires_ms, acked_position = excluded.acked_position
         returning acked_position as position`,
        [this.instanceId, this.settings.leaseMs],
      );
      await client.query(`delete from keygate_instances where lease_expires_ms < ${DATABASE_NOW_MS} - $1`, [DEAD_INSTANCE_MS]);
      await client.query('commit');
      this.heardUpTo = Math.max(this.heardUpTo, Number(rows[0]!.position));
      if (this.closed) throw new Error('closed while registering');
      this.client = client;
      this.reconnectMs = RECONNECT_MIN_MS;
      this.trust(asked);
    } catch (error) {
      // Writers need not wait for a registration that did not take (or for a feed now closed).
      await client.query('delete from keygate_instances where instance_id = $1', [this.instanceId]).catch(() => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  private notified(message: pg.Notification): void {
    if (message.channel === ACKS) {
      for (const wake of [...this.waiting]) wake();
      return;
    }
    if (message.channel !== CHANGES || message.payload === undefined) return;
    // "position writer key_id": a key_id has no space, nor does an instance id.
    const [position, writer, keyId] = message.payload.split(' ');
    if (writer === undefined || keyId === undefined) return;
    this.heard(Number(position), writer, keyId);
    this.scheduleAcknowledgement();
  }

  /** Acknowledges once for all that this turn of the event loop heard. */
  private scheduleAcknowledgement(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const client = this.client;
      if (client === undefined) return;
      client
        .query(
          `with acked as (update keygate_instances set acked_position = greatest(acked_position, $2) where instance_id = $1 returning 1)
           select pg_notify('${ACKS}', '') from acked`,
          [this.instanceId, this.heardUpTo],
        )
        .catch((error: unknown) => this.lost(client, error));
    });
  }

  /**
   * Extends the lease (with the acknowledgement), and trusts for as long as it now holds. Only a
   * lease that still holds is extended, as in Chubby: once it has lapsed, writers stopped waiting
   * for this instance, and nothing proves it heard their changes, so it starts over (a new epoch,
   * nothing warm trusted). On the listener's own connection, so that a renewal cannot succeed on a
   * connection other than the one that hears the changes.
   */
  private async renew(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    // One at a time; one unanswered for a whole lease means a connection that died silently.
    if (this.renewingSince !== undefined) {
      if (performance.now() - this.renewingSince > this.settings.leaseMs) void this.restart(client, new Error('lease renewal unanswered'));
      return;
    }
    const asked = performance.now();
    this.renewingSince = asked;
    try {
      const { rowCount } = await client.query(
        `update keygate_instances set lease_expires_ms = ${DATABASE_NOW_MS} + $2, acked_position = greatest(acked_position, $3)
         where instance_id = $1 and lease_expires_ms > ${DATABASE_NOW_MS}`,
        [this.instanceId, this.settings.leaseMs, this.heardUpTo],
      );
      if (rowCount === 0) return await this.restart(client, undefined);
      if (client === this.client) this.trust(asked);
    } catch (error) {
      this.lost(client, error);
    } finally {
      this.renewingSince = undefined;
    }
  }

  private lost(client: pg.Client, error: unknown): void {
    if (client !== this.client) return;
    void this.restart(client, error);
  }

  /** Drops the listener and everything it vouched for, and connects again (with backoff). */
  private async restart(client: pg.Client, error: unknown): Promise<void> {
    if (client !== this.client) return;
    this.client = undefined;
    this.distrust();
    if (error !== undefined) this.settings.onError(error);
    client.end().catch(() => undefined);
    while (!this.closed && this.client === undefined) {
      try {
        await this.listen();
      } catch (failure) {
        if (this.closed) return;
        this.settings.onError(failure);
        await new Promise((resolve) => setTimeout(resolve, this.reconnectMs).unref());
        this.reconnectMs = Math.min(RECONNECT_MAX_MS, this.reconnectMs * 2);
      }
    }
  }
}
