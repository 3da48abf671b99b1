import type { Updateable } from 'kysely';
import { sql } from 'kysely';
import { sleep, waitUntilAcknowledged, type Acknowledgements } from '../../src/keys/change-feed.js';
import type { KeygateDb } from '../../src/store/database.js';
import { announceKeyChange, postgresAcknowledgements } from '../../src/store/postgres-change-feed.js';
import { machineClockMs } from '../../src/store/sqlite-change-feed.js';
import type { ApiKeyTable } from '../../src/store/schema.js';
import { onPostgres } from './keygate.js';

// What no keygate route can do (move a key's expiry or refill period into the past), done to its
// row directly, as a test needs it; and then announced as keygate announces its own changes (a
// row of keygate_key_changes on SQLite, a NOTIFY on PostgreSQL: src/keys/change-feed.ts), and
// this waits, as a writer does, until every instance has heard of it.

export async function changeRowBehindKeygate(db: KeygateDb, keyId: string, change: Updateable<ApiKeyTable>): Promise<void> {
  const position = await db.transaction().execute(async (trx) => {
    await trx.updateTable('api_keys').set(change).where('key_id', '=', keyId).execute();
    if (onPostgres) return (await announceKeyChange(trx, keyId)).position;
    const row = await trx.insertInto('keygate_key_changes').values({ key_id: keyId, writer: '-' }).returning('position').executeTakeFirstOrThrow();
    return row.position;
  });
  await waitUntilAcknowledged(onPostgres ? postgresAcknowledgements(db, '') : sqliteAcknowledgements(db), position, { leaseMs: 60_000, wake: sleep });
}

/** Every live instance's acknowledgement, read through Kysely (a test waits for leases to run out, it evicts nobody). */
function sqliteAcknowledgements(db: KeygateDb): Acknowledgements {
  return {
    async unacknowledged(position) {
      const { rows } = await sql<{ count: number }>`
        select count(*) as count from keygate_instances where acked_position < ${position} and lease_expires_ms > ${machineClockMs()}`.execute(db);
      return { live: rows[0]!.count, lapsed: [] };
    },
    async evictLapsed() {
      return [];
    },
    async evictUnacknowledged() {
      return 0;
    },
  };
}
