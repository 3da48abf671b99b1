import { sql, type Kysely } from 'kysely';
import { migrations } from './index.js';

// Where keygate records its migrations. Not Kysely's default kysely_migration: a host
// application on the same database may keep its own Kysely migrations there, and each
// Migrator refuses a table holding migrations it does not know.
export const MIGRATION_TABLE = 'keygate_migration';
export const MIGRATION_LOCK_TABLE = 'keygate_migration_lock';

/**
 * keygate 0.1.0 recorded its migrations under Kysely's default name. Frozen: every later
 * migration is recorded in MIGRATION_TABLE only, so no other set of rows there is keygate's.
 */
const LEGACY_TABLE = 'kysely_migration';
const LEGACY_MIGRATIONS = ['0001_initial'];
const KEYGATE_TABLES = ['api_keys', 'key_owners', 'settings'];

export type SqlDialect = 'sqlite' | 'postgres';

/** Why a database cannot be verified against: not keygate's, or not at this keygate's schema. */
export class SchemaMismatch extends Error {}

/** Resolves the name the way an unqualified query would: PostgreSQL by its search_path. */
async function tableExists<DB>(db: Kysely<DB>, dialect: SqlDialect, name: string): Promise<boolean> {
  const found =
    dialect === 'sqlite'
      ? await sql`select 1 from sqlite_master where type = 'table' and name = ${name}`.execute(db)
      : await sql`select 1 where to_regclass(${name}::text) is not null`.execute(db);
  return found.rows.length > 0;
}

async function namesIn<DB>(db: Kysely<DB>, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(table)} order by name`.execute(db);
  return rows.map((row) => row.name);
}

/** Rows in MIGRATION_TABLE; an empty or missing table records nothing. */
async function recorded<DB>(db: Kysely<DB>, dialect: SqlDialect): Promise<string[]> {
  return (await tableExists(db, dialect, MIGRATION_TABLE)) ? namesIn(db, MIGRATION_TABLE) : [];
}

/**
 * Whether LEGACY_TABLE is keygate 0.1.0's: exactly its migrations, and its tables there. Any
 * other rows are a host application's, and keygate never reads them as its own.
 */
async function isLegacyKeygate<DB>(db: Kysely<DB>, dialect: SqlDialect): Promise<boolean> {
  if (!(await tableExists(db, dialect, LEGACY_TABLE))) return false;
  const names = await namesIn(db, LEGACY_TABLE);
  if (names.join('\n') !== LEGACY_MIGRATIONS.join('\n')) return false;
  for (const table of KEYGATE_TABLES) if (!(await tableExists(db, dialect, table))) return false;
  return true;
}

/**
 * Before migrating, with the migration lock held: a database keygate 0.1.0 migrated gets its
 * rows copied into MIGRATION_TABLE, so the Migrator finds them applied. The legacy rows stay
 * (copied, not moved): an older keygate instance still running on the database, as in a rolling
 * upgrade, keeps finding its own.
 */
export async function adoptLegacyMigrations<DB>(db: Kysely<DB>, dialect: SqlDialect): Promise<void> {
  if ((await recorded(db, dialect)).length > 0 || !(await isLegacyKeygate(db, dialect))) return;
  // The columns Kysely's Migrator itself creates, so that it accepts the table as its own.
  await db.schema
    .createTable(MIGRATION_TABLE)
    .ifNotExists()
    .addColumn('name', 'varchar(255)', (column) => column.notNull().primaryKey())
    .addColumn('timestamp', 'varchar(255)', (column) => column.notNull())
    .execute();
  await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, ${sql.ref('timestamp')})
            select name, ${sql.ref('timestamp')} from ${sql.table(LEGACY_TABLE)}`.execute(db);
}

/**
 * For processes that must not migrate (the library, inside a host application): passes only
 * on a keygate database at exactly this keygate's latest migration. `where` names the
 * database in the messages, without a password.
 */
export async function checkSchema<DB>(db: Kysely<DB>, dialect: SqlDialect, where: string): Promise<void> {
  let applied = await recorded(db, dialect);
  if (applied.length === 0 && (await isLegacyKeygate(db, dialect))) applied = LEGACY_MIGRATIONS;
  if (applied.length === 0) throw new SchemaMismatch(`no keygate database at ${where}: start keygate's server on it first`);
  const known = Object.keys(migrations).sort();
  const unknown = applied.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new SchemaMismatch(
      `the keygate database at ${where} was migrated by a newer keygate (${unknown.join(', ')}): upgrade keygate in this application`,
    );
  }
  const pending = known.filter((name) => !applied.includes(name));
  if (pending.length > 0) {
    throw new SchemaMismatch(
      `the keygate database at ${where} lacks migrations ${pending.join(', ')}: start this version of keygate's server on it first`,
    );
  }
}
