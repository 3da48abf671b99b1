import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { ConfigError, type DatabaseLocation } from '../config.js';
import { migrations } from './migrations/index.js';
import type { Database } from './schema.js';

export type KeygateDb = Kysely<Database>;

export interface Store {
  db: KeygateDb;
  /**
   * A counter that moves whenever another connection (another process) has committed, read
   * without a query; undefined where the database cannot tell that cheaply.
   */
  readonly externalChanges: (() => number) | undefined;
}

/** Opens the database named by the config and brings its schema up to date. */
export async function openDatabase(location: DatabaseLocation): Promise<Store> {
  if (location.kind === 'postgres') {
    throw new ConfigError('PostgreSQL is not supported yet: use DATABASE_URL=sqlite:<file>');
  }
  const sqlite = openSqliteFile(location.path);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrate(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  // SQLite bumps data_version for every commit by another connection, and only then.
  const dataVersion = sqlite.prepare('PRAGMA data_version').pluck();
  return { db, externalChanges: () => dataVersion.get() as number };
}

function openSqliteFile(path: string): SqliteDatabase.Database {
  if (path !== ':memory:') {
    // The file holds the token secret and key hashes: only its owner may read it.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }
  const sqlite = new SqliteDatabase(path);
  if (path !== ':memory:') chmodSync(path, 0o600);
  // WAL lets readers in other processes go on while one writes; busy_timeout makes a
  // writer wait for another process's write instead of failing at once.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}

async function migrate(db: KeygateDb): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

export async function pingDatabase(db: KeygateDb): Promise<void> {
  await sql`select 1`.execute(db);
}
