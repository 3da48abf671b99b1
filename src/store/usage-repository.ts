import type { Transaction } from 'kysely';
import type { KeygateDb } from './database.js';
import type { Database } from './schema.js';

/** Verifications of one key in one UTC hour: what a flush adds, and what a reader gets. */
export interface HourUsage {
  keyId: string;
  /** The hour's start, ISO-8601 UTC with milliseconds. */
  hour: string;
  valid: number;
  refused: number;
}

/** Rows per statement: 4 parameters each stays far below SQLite's and PostgreSQL's limits. */
const UPSERT_BATCH = 500;

/**
 * Adds `usage` to the stored counts, in the caller's transaction. Additive (the upsert adds to
 * what is there, never replaces it), so that every process's flushes add up exactly. In key_id
 * and hour order, the order every process takes the rows' locks in: two flushes of the same rows
 * in PostgreSQL wait for each other instead of deadlocking.
 */
export async function addUsage(trx: Transaction<Database>, usage: readonly HourUsage[]): Promise<void> {
  const rows = usage
    .map((counted) => ({ key_id: counted.keyId, hour: counted.hour, valid: counted.valid, refused: counted.refused }))
    .sort((a, b) => compare(a.key_id, b.key_id) || compare(a.hour, b.hour));
  for (let start = 0; start < rows.length; start += UPSERT_BATCH) {
    await trx
      .insertInto('key_usage')
      .values(rows.slice(start, start + UPSERT_BATCH))
      .onConflict((conflict) =>
        conflict.columns(['key_id', 'hour']).doUpdateSet((eb) => ({
          valid: eb('key_usage.valid', '+', eb.ref('excluded.valid')),
          refused: eb('key_usage.refused', '+', eb.ref('excluded.refused')),
        })),
      )
      .execute();
  }
}

/** Byte order, as both databases compare these ASCII columns; not the locale's. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class UsageRepository {
  constructor(private readonly db: KeygateDb) {}

  /** The key's stored hours from `from` (inclusive) to `to` (exclusive), oldest first; hours without a row had no verification. */
  async find(keyId: string, from: string, to: string): Promise<HourUsage[]> {
    const rows = await this.db
      .selectFrom('key_usage')
      .select(['hour', 'valid', 'refused'])
      .where('key_id', '=', keyId)
      .where('hour', '>=', from)
      .where('hour', '<', to)
      .orderBy('hour')
      .execute();
    return rows.map((row) => ({ keyId, hour: row.hour, valid: row.valid, refused: row.refused }));
  }

  /**
   * Deletes the hours that start before `before`; how many rows. One statement: the server purges
   * every hour, so each purge takes only the hour or so that has passed its retention since.
   */
  async purgeBefore(before: string): Promise<number> {
    const { numDeletedRows } = await this.db.deleteFrom('key_usage').where('hour', '<', before).executeTakeFirst();
    return Number(numDeletedRows);
  }
}
