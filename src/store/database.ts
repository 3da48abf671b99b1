import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { describeDatabase, type DatabaseLocation } from '../config.js';
import { guardedDialect, QueryGuard } from './guarded-dialect.js';
import { migrations } from './migrations/index.js';
import { explainedOpenFailure } from './open-failures.js';
import { adoptLegacyMigrations, checkSchema, MIGRATION_LOCK_TABLE, MIGRATION_TABLE, SchemaMismatch } from './migrations/state.js';
import { DatabaseOutages } from './outage.js';
import { postgresDoesNotAnswer, sqliteDoesNotAnswer } from './unreachable.js';
import type { Database } from './schema.js';

export type KeygateDb = Kysely<Database>;

export interface Store {
  db: KeygateDb;
  /** Tells its watchers when the database stops answering and when it answers again. */
  readonly outages: DatabaseOutages;
}

const POSTGRES_POOL_SIZE = 10;
/**
 * A server that is down refuses at once, but one out of reach (a network partition, a failover
 * in progress) never answers: without a bound, requests would hang on it instead of getting 503.
 */
const POSTGRES_CONNECT_TIMEOUT_MS = 3000;

export interface OpenOptions {
  /**
   * true (keygate's server and CLI): create the database if need be and bring its schema up to
   * date. false (the library, inside a host application): open only an existing keygate
   * database at exactly this keygate's schema, and change no schema.
   */
  migrate: boolean;
}

/** Opens the database named by the config: migrated, or only checked (see OpenOptions). */
export function openDatabase(location: DatabaseLocation, options: OpenOptions = { migrate: true }): Promise<Store> {
  return explainingFailures(location, () => openAsAsked(location, options));
}

/** `open`, with a failure of a usual kind (unreachable, refused, not a database) told in one line. */
async function explainingFailures(location: DatabaseLocation, open: () => Promise<Store>): Promise<Store> {
  try {
    return await open();
  } catch (error) {
    throw explainedOpenFailure(location, error);
  }
}

function openAsAsked(location: DatabaseLocation, options: OpenOptions): Promise<Store> {
  if (!options.migrate) return openExisting(location);
  return location.kind === 'postgres' ? openPostgres(location.url, migratePostgres) : openSqlite(location.path, migrateSqlite);
}

/** A database keygate's server has made: never created, migrated or switched to WAL here. */
function openExisting(location: DatabaseLocation): Promise<Store> {
  const where = describeDatabase(location);
  if (location.kind === 'postgres') return openPostgres(location.url, (db) => checkSchema(db, 'postgres', where));
  // Checked before opening: opening a missing file would create it.
  if (location.path === ':memory:' || !existsSync(location.path)) {
    return Promise.reject(new SchemaMismatch(`no keygate database at ${where}: start keygate's server on it first`));
  }
  return openSqlite(location.path, (db) => checkSchema(db, 'sqlite', where), { create: false });
}

/**
 * PostgreSQL, for several instances. Kysely's PostgreSQL adapter holds an advisory lock while
 * it migrates, so instances starting together apply each migration once.
 */
async function openPostgres(url: string, prepare: (db: KeygateDb) => Promise<void>): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: POSTGRES_POOL_SIZE, connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS });
  // An idle connection that the server drops (a restart, a failover) must not crash keygate:
  // the pool discards it, and the next query opens a new one.
  pool.on('error', () => undefined);
  // So must a connection dropped while checked out between two queries (inside a transaction,
  // say): pg-pool takes its own listener off a checked-out client, and an 'error' event with no
  // listener is an uncaught exception. The pending or next query fails and is answered as an
  // outage; on release the pool sees the client is no longer queryable and discards it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const outages = new DatabaseOutages();
  const dialect = guardedDialect(new PostgresDialect({ pool }), new QueryGuard(postgresDoesNotAnswer, outages));
  const db = new Kysely<Database>({ dialect });
  await closedOnFailure(db, () => prepare(db));
  return { db, outages };
}

/**
 * Adoption of a keygate 0.1.0 database takes a lock of keygate's own, in a transaction: every
 * keygate that migrates adopts first, so no Migrator writes keygate_migration while another
 * process is adopting.
 */
async function migratePostgres(db: KeygateDb): Promise<void> {
  await db.transaction().execute(async (transaction) => {
    await sql`select pg_advisory_xact_lock(hashtext(${MIGRATION_LOCK_TABLE}))`.execute(transaction);
    await adoptLegacyMigrations<Database>(transaction, 'postgres');
  });
  const { error } = await migratorFor(db, { transactional: true }).migrateToLatest();
  if (error) throw error;
}

async function openSqlite(
  path: string,
  prepare: (db: KeygateDb, sqlite: SqliteDatabase.Database) => Promise<void>,
  options = { create: true },
): Promise<Store> {
  const sqlite = openSqliteFile(path, options.create);
  const outages = new DatabaseOutages();
  const guard = new QueryGuard(sqliteDoesNotAnswer, outages);
  const db = new Kysely<Database>({ dialect: guardedDialect(new SqliteDialect({ database: sqlite }), guard) });
  await closedOnFailure(db, () => prepare(db, sqlite));
  return { db, outages };
}

/** create: false opens only an existing file, and leaves its mode and journal as they are. */
function openSqliteFile(path: string, create: boolean): SqliteDatabase.Database {
  if (!create) return withConnectionPragmas(new SqliteDatabase(path, { fileMustExist: true }));
  if (path !== ':memory:') {
    // The file holds the token secret and key hashes: only its owner may read it.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }
  const sqlite = new SqliteDatabase(path);
  if (path !== ':memory:') chmodSync(path, 0o600);
  // WAL lets readers in other processes go on while one writes; busy_timeout makes a
  // writer wait for another process's write instead of failing at once.
  sqlite.pragma('journal_mode = WAL');
  return withConnectionPragmas(sqlite);
}

/** Settings of this connection only, unlike journal_mode, which the file keeps. */
function withConnectionPragmas(sqlite: SqliteDatabase.Database): SqliteDatabase.Database {
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}

/**
 * better-sqlite3 waits for a lock synchronously, blocking the very thread whose pending work
 * would release it; so migrations within one process take turns here, and so does any write
 * made while another connection of this process may be migrating (the server secrets created
 * at start). The database lock below is left to separate processes.
 */
let localTurns: Promise<unknown> = Promise.resolve();

/** Runs `work` after every earlier turn of this process has ended. */
export function inLocalTurn<T>(work: () => Promise<T>): Promise<T> {
  const done = localTurns.then(work);
  localTurns = done.catch(() => undefined);
  return done;
}

/**
 * Kysely's SQLite adapter takes no lock, so two processes starting on a new file could both
 * run the first migration. BEGIN IMMEDIATE takes the database's write lock first: the other
 * process waits (busy_timeout), then finds the migrations applied.
 */
function migrateSqlite(db: KeygateDb, sqlite: SqliteDatabase.Database): Promise<void> {
  return inLocalTurn(() => migrateSqliteLocked(db, sqlite));
}

async function migrateSqliteLocked(db: KeygateDb, sqlite: SqliteDatabase.Database): Promise<void> {
  sqlite.exec('BEGIN IMMEDIATE');
  try {
    await adoptLegacyMigrations(db, 'sqlite');
    const { error } = await migratorFor(db, { transactional: false }).migrateToLatest();
    if (error) throw error;
    sqlite.exec('COMMIT');
  } catch (error) {
    sqlite.exec('ROLLBACK');
    throw error;
  }
}

async function closedOnFailure(db: KeygateDb, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/** transactional: false where the caller already holds a transaction around the migration. */
function migratorFor(db: KeygateDb, options: { transactional: boolean }): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    disableTransactions: !options.transactional,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
}

export async function pingDatabase(db: KeygateDb): Promise<void> {
  await sql`select 1`.execute(db);
}
