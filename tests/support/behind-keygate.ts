import type { Updateable } from 'kysely';
import type { KeygateDb } from '../../src/store/database.js';
import { announceKeyChange, sleep, waitUntilAcknowledged } from '../../src/store/postgres-change-feed.js';
import type { ApiKeyTable } from '../../src/store/schema.js';
import { onPostgres } from './keygate.js';

// What no keygate route can do (move a key's expiry or refill period into the past), done to its
// row directly, as a test needs it; and then announced as keygate announces its own changes. On
// SQLite any commit moves data_version, which every process sees; on PostgreSQL a change is seen
// only when it is announced (src/store/postgres-change-feed.ts), and this waits, as a writer
// does, until every instance has heard of it.

export async function changeRowBehindKeygate(db: KeygateDb, keyId: string, change: Updateable<ApiKeyTable>): Promise<void> {
  const publication = await db.transaction().execute(async (trx) => {
    await trx.updateTable('api_keys').set(change).where('key_id', '=', keyId).execute();
    return onPostgres ? announceKeyChange(trx, keyId) : undefined;
  });
  if (publication === undefined) return;
  await waitUntilAcknowledged(db, publication.position, {
    exceptInstance: '',
    leaseMs: 60_000,
    wake: sleep,
  });
}
