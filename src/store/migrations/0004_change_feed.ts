import { PostgresAdapter, sql, type Kysely } from 'kysely';

// What the PostgreSQL change feed keeps (src/store/postgres-change-feed.ts): a sequence that
// numbers changes to keys in commit order, and the instances that hold warm entries, each with
// its lease and the last change it acknowledged. SQLite's feed keeps a log and instances of
// its own shape (0005), so only PostgreSQL gets these.

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!onPostgres(db)) return;
  await sql`create sequence keygate_change_position`.execute(db);
  await db.schema
    .createTable('keygate_instances')
    .addColumn('instance_id', 'varchar(40)', (column) => column.primaryKey())
    // In milliseconds since the epoch, by the database's clock: the one clock all instances share.
    .addColumn('lease_expires_ms', 'bigint', (column) => column.notNull())
    .addColumn('acked_position', 'bigint', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!onPostgres(db)) return;
  await db.schema.dropTable('keygate_instances').execute();
  await sql`drop sequence keygate_change_position`.execute(db);
}

function onPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
