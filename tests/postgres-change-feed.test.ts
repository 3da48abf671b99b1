import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { sleep, waitUntilAcknowledged, type Acknowledgements } from '../src/keys/change-feed.js';
import { openDatabase, type Store } from '../src/store/database.js';
import { announceKeyChange, PostgresChangeFeed, postgresAcknowledgements } from '../src/store/postgres-change-feed.js';
import { createDatabase } from './support/postgres.js';

// The PostgreSQL change feed's writer side against the real database, with the races made by
// hand: a renewal held open in a transaction of the test's own, the database's clock watched
// until a lease has lapsed by it. What is asserted is the order of events, never a duration.

const ADMIN_URL = process.env.KEYGATE_TEST_POSTGRES_URL;
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

describe('the PostgreSQL change feed', { skip: ADMIN_URL === undefined ? 'PostgreSQL only: runs in the PostgreSQL pass' : false }, () => {
  let database: { url: string; drop(): Promise<void> };
  let store: Store;

  before(async () => {
    database = await createDatabase(ADMIN_URL!);
    store = await openDatabase({ kind: 'postgres', url: database.url });
  });
  after(async () => {
    await store.db.destroy();
    await database.drop();
  });

  async function until(condition: () => Promise<boolean> | boolean, what: string): Promise<void> {
    for (let i = 0; i < 10_000; i += 1) {
      if (await condition()) return;
      await sleep(1);
    }
    throw new Error(`never: ${what}`);
  }

  async function databaseNowMs(): Promise<number> {
    const { rows } = await sql<{ now: string }>`select ${sql.raw(NOW_MS)} as now`.execute(store.db);
    return Number(rows[0]!.now);
  }

  test('a writer waits for an instance whose renewal was in flight when its lease lapsed', async () => {
    const instance = 'renewing-instance';
    // A lease about to lapse, by the database's clock.
    await sql`insert into keygate_instances (instance_id, lease_expires_ms, acked_position)
              values (${instance}, ${sql.raw(NOW_MS)} + 200, 0)`.execute(store.db);
    const { rows } = await sql<{ lease: string }>`select lease_expires_ms as lease from keygate_instances where instance_id = ${instance}`.execute(store.db);
    const oldLease = Number(rows[0]!.lease);

    // The instance's renewal, as PostgresChangeFeed.renew makes it: it runs while the lease holds,
    // and its commit is held back.
    const renewal = new pg.Client({ connectionString: database.url });
    await renewal.connect();
    try {
      await renewal.query('begin');
      const renewed = await renewal.query(
        `update keygate_instances set lease_expires_ms = ${NOW_MS} + 60000 where instance_id = $1 and lease_expires_ms > ${NOW_MS}`,
        [instance],
      );
      assert.equal(renewed.rowCount, 1, 'the renewal ran while the lease held');
      await until(async () => (await databaseNowMs()) > oldLease, 'the old lease lapsed by the database clock');

      const position = (await store.db.transaction().execute((trx) => announceKeyChange(trx, 'key_1', 'writer'))).position;
      const events: string[] = [];
      const acknowledgements = recorded(postgresAcknowledgements(store.db, 'writer'), events);
      const answered = waitUntilAcknowledged(acknowledgements, position, { leaseMs: 60_000, wake: sleep }).then(() => {
        events.push('writer answered');
      });

      // The writer's look sees the old row (lease lapsed), and must not rely on it: either it
      // answers now (the defect) or it waits for the renewal's row lock.
      await until(
        async () => events.includes('writer answered') || (await waitingOnLocks()) > 0,
        'the writer answered or waited on the renewal',
      );
      assert.deepEqual(events, ['looked: 0 live, lapsed renewing-instance'], 'the writer answered while the renewal was in flight');

      // Told before the commit is sent: the eviction's answer can arrive before the commit's.
      events.push('renewal commits');
      await renewal.query('commit');
      // The eviction looked again at the renewed row and kept it; the writer looks again and
      // finds a live lease to wait for.
      await until(() => events.filter((event) => event.startsWith('looked')).length >= 2, 'the writer looked again');
      assert.deepEqual(events.slice(0, 4), [
        'looked: 0 live, lapsed renewing-instance',
        'renewal commits',
        'evicted: none',
        'looked: 1 live, lapsed none',
      ]);
      assert.ok(!events.includes('writer answered'), 'the writer answered before the renewed instance acknowledged');

      await sql`update keygate_instances set acked_position = ${position} where instance_id = ${instance}`.execute(store.db);
      events.push('instance acknowledged');
      await answered;
      assert.equal(events.at(-1), 'writer answered');
      assert.ok(events.indexOf('instance acknowledged') < events.indexOf('writer answered'), 'answered once the instance acknowledged');
    } finally {
      await renewal.query('rollback').catch(() => undefined);
      await renewal.end();
      await sql`delete from keygate_instances where instance_id = ${instance}`.execute(store.db);
    }
  });

  test('an instance whose lapsed lease a writer evicted starts over at its next renewal, trusting nothing warm', async () => {
    const feed = await PostgresChangeFeed.open(store.db, { url: database.url, leaseMs: 300, listens: true, onError: () => {} });
    try {
      const epoch = feed.stamp();
      assert.notEqual(epoch, undefined);
      const instance = await sql<{ instance_id: string }>`select instance_id from keygate_instances`.execute(store.db);
      const id = instance.rows[0]!.instance_id;
      const position = (await store.db.transaction().execute((trx) => announceKeyChange(trx, 'key_2', 'writer'))).position;
      // Its lease lapses by the database's clock (the instance does not hear of it), and it has
      // not acknowledged: the writer removes its row, then answers.
      await sql`update keygate_instances set lease_expires_ms = 0, acked_position = 0 where instance_id = ${id}`.execute(store.db);
      const evicted: string[] = [];
      const acknowledgements = postgresAcknowledgements(store.db, 'writer');
      await waitUntilAcknowledged(
        {
          ...acknowledgements,
          async evictLapsed(ids, at) {
            const gone = await acknowledgements.evictLapsed(ids, at);
            evicted.push(...gone);
            return gone;
          },
        },
        position,
        { leaseMs: 60_000, wake: sleep },
      );
      // Unless its renewal came first and started over on the lapsed lease (the same path).
      await until(() => feed.stamp() !== undefined && feed.stamp() !== epoch, 'the instance started over');
      assert.ok(evicted.length <= 1);
      const again = await sql<{ acked: string }>`select acked_position as acked from keygate_instances where instance_id = ${id}`.execute(store.db);
      assert.ok(Number(again.rows[0]!.acked) >= position, 'registered again at the last committed position');
    } finally {
      await feed.close();
    }
  });

  /** Backends of this test's database waiting for a lock (the writer's eviction on the renewal's row). */
  async function waitingOnLocks(): Promise<number> {
    const { rows } = await sql<{ count: string }>`
      select count(*) as count from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(store.db);
    return Number(rows[0]!.count);
  }
});

/** `acknowledgements`, with what each answer was told in `events`. */
function recorded(acknowledgements: Acknowledgements, events: string[]): Acknowledgements {
  return {
    async unacknowledged(position) {
      const answer = await acknowledgements.unacknowledged(position);
      events.push(`looked: ${answer.live} live, lapsed ${answer.lapsed.join(' ') || 'none'}`);
      return answer;
    },
    async evictLapsed(ids, position) {
      const gone = await acknowledgements.evictLapsed(ids, position);
      events.push(`evicted: ${gone.join(' ') || 'none'}`);
      return gone;
    },
    evictUnacknowledged: (position) => acknowledgements.evictUnacknowledged(position),
  };
}
