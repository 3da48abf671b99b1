import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import pg from 'pg';
import { Unavailable } from '../errors.js';
import type { ChangeFeed, Publication } from '../keys/change-feed.js';
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
//   or that lease has run out by the database's clock.
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
/** How often a writer looks again, besides when an acknowledgement is heard. */
const WAIT_POLL_MS = 20;
/** Rows of instances dead this long are cleared when an instance registers. */
const DEAD_INSTANCE_MS = 60 * 60 * 1000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;

/**
 * In a transaction that changed the key, as its last statements: takes the order lock, draws the
 * change's position and NOTIFYs it, so every listening instance hears of it once it commits.
 */
export async function announceKeyChange(trx: Transaction<Database>, keyId: string): Promise<Publication> {
  await sql.raw(TAKE_ORDER_LOCK).execute(trx);
  const { rows } = await sql<{ position: string }>`select nextval('keygate_change_position') as position`.execute(trx);
  const position = Number(rows[0]!.position);
  await sql`select pg_notify(${CHANGES}, ${`${position} ${keyId}`})`.execute(trx);
  return { position };
}

/** How many live instances (but `exceptInstance`) have not acknowledged `position` yet. */
export async function unacknowledged(db: KeygateDb, position: number, exceptInstance = ''): Promise<number> {
  const { count } = await db
    .selectFrom('keygate_instances')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('instance_id', '<>', exceptInstance)
    .where('acked_position', '<', String(position))
    .where('lease_expires_ms', '>', sql.raw<string>(DATABASE_NOW_MS))
    .executeTakeFirstOrThrow();
  return Number(count);
}

export interface FeedSettings {
  url: string;
  /** How long an instance's lease lasts; a writer waits at most this long for a frozen or cut-off instance. */
  leaseMs: number;
  /**
   * Whether this process holds warm entries, so that writers must wait for it: the server and
   * the library do; the CLI only writes (it waits for the others, and trusts nothing warm).
   */
  listens: boolean;
  /** Told when the listener connection fails (it reconnects by itself). */
  onError: (error: unknown) => void;
}

export class PostgresChangeFeed implements ChangeFeed {
  private readonly instanceId = randomUUID();
  private readonly listeners: ((keyId: string) => void)[] = [];
  private readonly waiting = new Set<() => void>();
  private client: pg.Client | undefined;
  /** Moves whenever the listener starts over: entries made before are never trusted again. */
  private epoch = 0;
  /** Until when (performance.now()) the lease holds by this process's own clock; -Infinity: not trusted. */
  private trustedUntil = -Infinity;
  /** Every change up to this position has been heard (and its keys forgotten). */
  private heardUpTo = 0;
  private seen = 0;
  private ackScheduled = false;
  private renewal: NodeJS.Timeout | undefined;
  private closed = false;
  private reconnectMs = RECONNECT_MIN_MS;

  private constructor(
    private readonly db: KeygateDb,
    private readonly settings: FeedSettings,
  ) {}

  /** Listens (where the settings say so) and registers this instance before it returns. */
  static async open(db: KeygateDb, settings: FeedSettings): Promise<PostgresChangeFeed> {
    const feed = new PostgresChangeFeed(db, settings);
    if (settings.listens) {
      await feed.listen();
      feed.renewal = setInterval(() => void feed.renew(), Math.max(50, Math.floor(settings.leaseMs / 3))).unref();
    }
    return feed;
  }

  stamp(): number | undefined {
    return performance.now() < this.trustedUntil ? this.epoch : undefined;
  }

  changesSeen(): number {
    return this.seen;
  }

  onKeyChanged(listener: (keyId: string) => void): void {
    this.listeners.push(listener);
  }

  publish(writes: KeyWrites, keyId: string): Promise<Publication> {
    return announceKeyChange(writes.transaction, keyId);
  }

  async committed(keyId: string, publication: Publication | undefined): Promise<void> {
    this.forget(keyId);
    if (publication === undefined) return;
    // Past every lease there is no instance left to wait for, unless one keeps renewing without
    // acknowledging, which the renewal itself prevents (it carries the acknowledgement).
    const giveUpAt = performance.now() + 10 * this.settings.leaseMs;
    while ((await this.unacknowledged(publication.position)) > 0) {
      if (performance.now() > giveUpAt) {
        throw new Unavailable('The change is made, but some keygate instances did not confirm it in time', { retryAfterSeconds: 1 });
      }
      await this.acknowledgementOrPoll();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.trustedUntil = -Infinity;
    clearInterval(this.renewal);
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    // Writers need not wait for an instance that is gone.
    await client.query('delete from keygate_instances where instance_id = $1', [this.instanceId]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  private unacknowledged(position: number): Promise<number> {
    return unacknowledged(this.db, position, this.instanceId);
  }

  private acknowledgementOrPoll(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, WAIT_POLL_MS);
      this.waiting.add(done);
    });
  }

  private forget(keyId: string): void {
    this.seen += 1;
    for (const listener of this.listeners) listener(keyId);
  }

  /** Connects, LISTENs, and registers at the last committed position; then trusts. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.settings.url, connectionTimeoutMillis: 3000 });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    client.on('notification', (message) => this.heard(message));
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
      this.client = client;
      this.reconnectMs = RECONNECT_MIN_MS;
      this.trust(asked);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  private trust(askedAt: number): void {
    const margin = Math.max(50, this.settings.leaseMs / 5);
    this.trustedUntil = askedAt + this.settings.leaseMs - margin;
  }

  private heard(message: pg.Notification): void {
    if (message.channel === ACKS) {
      for (const wake of [...this.waiting]) wake();
      return;
    }
    if (message.channel !== CHANGES || message.payload === undefined) return;
    const space = message.payload.indexOf(' ');
    const position = Number(message.payload.slice(0, space));
    this.forget(message.payload.slice(space + 1));
    this.heardUpTo = Math.max(this.heardUpTo, position);
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

  /** Extends the lease (with the acknowledgement), and trusts for as long as it now holds. */
  private async renew(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    const asked = performance.now();
    try {
      const { rowCount } = await client.query(
        `update keygate_instances set lease_expires_ms = ${DATABASE_NOW_MS} + $2, acked_position = greatest(acked_position, $3)
         where instance_id = $1`,
        [this.instanceId, this.settings.leaseMs, this.heardUpTo],
      );
      // No row: it was cleared as dead while this process stood still; register again.
      if (rowCount === 0) return this.restart(client, undefined);
      if (client === this.client) this.trust(asked);
    } catch (error) {
      this.lost(client, error);
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
    this.trustedUntil = -Infinity;
    this.epoch += 1;
    if (error !== undefined) this.settings.onError(error);
    client.end().catch(() => undefined);
    while (!this.closed && this.client === undefined) {
      try {
        await this.listen();
      } catch (failure) {
        this.settings.onError(failure);
        await new Promise((resolve) => setTimeout(resolve, this.reconnectMs).unref());
        this.reconnectMs = Math.min(RECONNECT_MAX_MS, this.reconnectMs * 2);
      }
    }
  }
}
