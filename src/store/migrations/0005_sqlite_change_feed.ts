import { PostgresAdapter, sql, type Kysely } from 'kysely';

// What the SQLite change feed keeps (src/store/sqlite-change-feed.ts): the log of changes to
// keys, numbered in commit order (AUTOINCREMENT: a position is never drawn twice, even after the
// log is trimmed), and the instances that hold warm entries, each with its lease and the last
// change it acknowledged, as PostgreSQL's 0004 has them. PostgreSQL needs no log (NOTIFY carries
// each change) and has its instances already, so only SQLite gets these.

export async function up(db: Kysely<unknown>): Promise<void> {
  if (onPostgres(db)) return;
  await sql`create table keygate_key_changes (
    position integer primary key autoincrement,
    key_id varchar(64) not null,
    writer varchar(40) not null
  )`.execute(db);
  await db.schema
    .createTable('keygate_instances')
    .addColumn('instance_id', 'varchar(40)', (column) => column.primaryKey())
    // In ms of the machine's monotonic clock: the one clock all processes on the file share.
    .addColumn('lease_expires_ms', 'integer', (column) => column.notNull())
    .addColumn('acked_position', 'integer', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (onPostgres(db)) return;
  await db.schema.dropTable('keygate_instances').execute();
  await db.schema.dropTable('keygate_key_changes').execute();
}

function onPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
