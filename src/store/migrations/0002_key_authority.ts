import { sql, type Kysely } from 'kysely';

// What a key may do and how much (scopes, metadata, status, environment, per-key rate limit,
// quota), a version for compare-and-set updates, and the previous secret of a rotation with a
// grace period. Every column has a default or is nullable, so the keys of a 0001 database keep
// working as before: live, active, no scope, no quota, version 1.

const COLUMNS: [name: string, type: 'text' | 'integer' | `varchar(${number})`, defaultValue?: string | number][] = [
  ['scopes', 'text', '[]'],
  ['metadata', 'text', '{}'],
  ['status', 'varchar(10)', 'active'],
  ['environment', 'varchar(10)', 'live'],
  ['rate_limit', 'integer'],
  ['quota_remaining', 'integer'],
  ['quota_refill_amount', 'integer'],
  ['quota_refill_interval', 'varchar(10)'],
  /** The start of the refill period that quota_remaining counts down (hour, day or month, UTC). */
  ['quota_period', 'varchar(30)'],
  ['previous_key_hash', 'varchar(100)'],
  ['previous_key_expires_at', 'varchar(30)'],
  ['version', 'integer', 1],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  for (const [name, type, defaultValue] of COLUMNS) {
    await db.schema
      .alterTable('api_keys')
      .addColumn(name, sql.raw(type), (column) => (defaultValue === undefined ? column : column.notNull().defaultTo(defaultValue)))
      .execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name] of [...COLUMNS].reverse()) await db.schema.alterTable('api_keys').dropColumn(name).execute();
}
