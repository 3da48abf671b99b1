import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Migration } from 'kysely';
import pg from 'pg';
import { openKeygate, type Keygate } from '../src/app.js';
import { loadConfig, parseDatabaseUrl } from '../src/config.js';
import { createKeyVerifier } from '../src/index.js';
import { migrations } from '../src/store/migrations/index.js';
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from '../src/store/migrations/state.js';
import { freshDatabase, temporaryFolder, TEST_SECRET, type TestDatabase } from './support/keygate.js';
import { userActor } from '../src/audit/actor.js';

// The library inside a host application: it opens only a database keygate's server made,
// never creates or migrates one, and reads no environment unless told to. The server, for its
// part, keeps its migrations in tables of its own, next to a host's Kysely migrations.

/** A Kysely of no particular schema on the database at `url`: what a host application holds. */
function hostDb(url: string): Kysely<any> {
  const location = parseDatabaseUrl(url);
  const dialect =
    location.kind === 'sqlite'
      ? new SqliteDialect({ database: new SqliteDatabase(location.path) })
      : new PostgresDialect({ pool: new pg.Pool({ connectionString: location.url, max: 2 }) });
  return new Kysely<any>({ dialect });
}

/** Table names in the database, as a sorted list (PostgreSQL: of the public schema). */
async function tables(db: Kysely<any>): Promise<string[]> {
  const found = await db.introspection.getTables({ withInternalKyselyTables: true });
  return found.map((table) => table.name).sort();
}

async function migrationRows(db: Kysely<any>, table: string): Promise<string[]> {
  return (await db.selectFrom(table).select('name').orderBy('name').execute()).map((row) => row.name);
}

const serverConfig = (databaseUrl: string) => loadConfig({ DATABASE_URL: databaseUrl, KEYGATE_SECRET: TEST_SECRET, KEYGATE_LOG_LEVEL: 'silent' });

/** A fresh database per test, dropped (and its folder deleted) after the file. */
function databases(): () => Promise<TestDatabase> {
  const made: TestDatabase[] = [];
  let folder: string;
  before(() => {
    folder = temporaryFolder();
  });
  after(async () => {
    for (const database of made) await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });
  let count = 0;
  return async () => {
    const own = join(folder, String(++count));
    mkdirSync(own);
    const database = await freshDatabase(own);
    made.push(database);
    return database;
  };
}

describe('createKeyVerifier on a database keygate did not make', () => {
  const fresh = databases();

  test('a SQLite path with no database: refused, naming it, and no file or folder is created', async () => {
    const folder = temporaryFolder();
    try {
      const path = join(folder, 'nothing-here', 'keygate.db');
      await assert.rejects(createKeyVerifier({ databaseUrl: `sqlite:${path}` }), {
        message: `no keygate database at sqlite:${path}: start keygate's server on it first`,
      });
      assert.equal(existsSync(join(folder, 'nothing-here')), false);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("a host application's database, with its own Kysely migrations: refused and left as it was", async () => {
    const database = await fresh();
    const host = hostDb(database.url);
    try {
      await host.schema.createTable('kysely_migration').addColumn('name', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('timestamp', 'varchar(255)', (c) => c.notNull()).execute();
      await host.insertInto('kysely_migration').values({ name: '0001_initial', timestamp: new Date().toISOString() }).execute();
      await host.schema.createTable('orders').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
      const before = await tables(host);

      await assert.rejects(createKeyVerifier({ databaseUrl: database.url }), {
        message: /^no keygate database at .*: start keygate's server on it first$/,
      });
      assert.deepEqual(await tables(host), before, 'no table created');
      assert.deepEqual(await migrationRows(host, 'kysely_migration'), ['0001_initial']);
    } finally {
      await host.destroy();
    }
  });

  test('a database migrated by a newer keygate: refused, saying so', async () => {
    const database = await fresh();
    const keygate = await openKeygate(serverConfig(database.url));
    await keygate.db.insertInto('keygate_migration' as any).values({ name: '9999_future', timestamp: new Date().toISOString() }).execute();
    await keygate.close();
    await assert.rejects(createKeyVerifier({ databaseUrl: database.url }), /was migrated by a newer keygate \(9999_future\): upgrade keygate/);
  });
});

describe("createKeyVerifier and the host's environment", () => {
  const fresh = databases();
  let keygate: Keygate;
  let databaseUrl: string;
  let apiKey: string;

  before(async () => {
    databaseUrl = (await fresh()).url;
    keygate = await openKeygate(serverConfig(databaseUrl));
    apiKey = (await keygate.apiKeys.create(userActor('env-user'), { name: 'env' })).apiKey;
  });
  after(async () => {
    await keygate.close();
  });

  test("reads neither DATABASE_URL nor KEYGATE_* unless told to", async () => {
    process.env.DATABASE_URL = databaseUrl;
    process.env.KEYGATE_KEY_PREFIX = 'somebody_elses_';
    try {
      await assert.rejects(createKeyVerifier({} as never), { name: 'TypeError', message: /needs databaseUrl/ });
      // The host's KEYGATE_KEY_PREFIX is not keygate's: the key still verifies.
      const verifier = await createKeyVerifier({ databaseUrl });
      try {
        assert.equal((await verifier.verify(apiKey)).valid, true);
      } finally {
        await verifier.close();
      }
      const fromEnvironment = await createKeyVerifier({ fromEnvironment: true });
      try {
        assert.deepEqual(await fromEnvironment.verify(apiKey), { valid: false, reason: 'malformed' }, 'asked to, it reads the prefix too');
      } finally {
        await fromEnvironment.close();
      }
      const overridden = await createKeyVerifier({ fromEnvironment: true, keyPrefix: 'mcpkey_live_' });
      try {
        assert.equal((await overridden.verify(apiKey)).valid, true, 'options given in code win over the environment');
      } finally {
        await overridden.close();
      }
    } finally {
      delete process.env.DATABASE_URL;
      delete process.env.KEYGATE_KEY_PREFIX;
    }
  });
});

/** Every migration this keygate applies, in order. */
const ALL_MIGRATIONS = Object.keys(migrations).sort();

/**
 * What keygate 0.1.0 left behind: its schema (0001_initial) with its migrations recorded under
 * Kysely's default table names. Made by a current keygate, its later migrations taken back
 * down (the rows keep their 0001 columns), then renamed.
 */
async function asMigratedByKeygate010(url: string): Promise<void> {
  const db = hostDb(url);
  try {
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
    });
    assert.equal((await migrator.migrateTo('0001_initial')).error, undefined);
    await sql`alter table keygate_migration rename to kysely_migration`.execute(db);
    await sql`alter table keygate_migration_lock rename to kysely_migration_lock`.execute(db);
  } finally {
    await db.destroy();
  }
}

describe('a database migrated under Kysely\'s default table names (keygate 0.1.0)', () => {
  const fresh = databases();

  // The schema and its rows are what this is about: keys 0.1.0 itself issued had no tag and are
  // refused until rotated (README, Keys), so the key here is one of today's, stored in a
  // database then given 0.1.0's migration tables.
  test('keeps its rows: the library waits for the server, which adopts and migrates it without touching kysely_migration', async () => {
    const { url } = await fresh();
    const first = await openKeygate(serverConfig(url));
    const { apiKey, keyId } = await first.apiKeys.create(userActor('legacy-user'), { name: 'from 0.1.0' });
    await first.close();
    await asMigratedByKeygate010(url);

    // Recognised as keygate's, at an older schema: the library migrates nothing, and says so.
    await assert.rejects(createKeyVerifier({ databaseUrl: url }), /lacks migrations 0002_key_authority, 0003_operators, 0004_change_feed, 0005_sqlite_change_feed, 0006_accounts: start this version of keygate's server on it first/);
    const probe = hostDb(url);
    try {
      assert.ok(!(await tables(probe)).includes('keygate_migration'), 'the library changed no schema');

      const upgraded = await openKeygate(serverConfig(url));
      try {
        assert.equal((await upgraded.verifier.verify(apiKey)).valid, true);
        assert.deepEqual((await upgraded.apiKeys.list('legacy-user')).map((key) => key.keyId), [keyId]);
        // The 0.1.0 row, migrated: live, active, no scope, no quota.
        const details = await upgraded.apiKeys.get(userActor('legacy-user'), keyId);
        assert.equal(details.environment, 'live');
        assert.deepEqual(details.settings, { scopes: [], metadata: {}, status: 'active', rateLimit: null, quota: null });
      } finally {
        await upgraded.close();
      }
      assert.deepEqual(await migrationRows(probe, 'keygate_migration'), ALL_MIGRATIONS);
      assert.deepEqual(await migrationRows(probe, 'kysely_migration'), ['0001_initial'], 'copied, not moved');

      const verifier = await createKeyVerifier({ databaseUrl: url });
      try {
        const verified = await verifier.verify(apiKey);
        assert.ok(verified.valid);
        assert.equal(verified.key.keyId, keyId);
      } finally {
        await verifier.close();
      }
    } finally {
      await probe.destroy();
    }
  });

  test('several servers starting on it at once adopt it once', async () => {
    const { url } = await fresh();
    const first = await openKeygate(serverConfig(url));
    const { apiKey } = await first.apiKeys.create(userActor('legacy-user'), { name: 'k' });
    await first.close();
    await asMigratedByKeygate010(url);

    const servers = await Promise.all(Array.from({ length: 4 }, () => openKeygate(serverConfig(url))));
    try {
      for (const server of servers) assert.equal((await server.verifier.verify(apiKey)).valid, true);
    } finally {
      // One after the other: in one process, better-sqlite3 would wait synchronously for another
      // connection's last-use flush to commit, blocking the very thread that commits it.
      for (const server of servers) await server.close();
    }
    const probe = hostDb(url);
    try {
      assert.deepEqual(await migrationRows(probe, 'keygate_migration'), ALL_MIGRATIONS);
    } finally {
      await probe.destroy();
    }
  });
});

describe("keygate's server next to a host application's Kysely migrations", () => {
  const fresh = databases();

  // The host's first migration has keygate's very name: only keygate's tables tell them apart.
  const hostMigrations: Record<string, Migration> = {
    '0001_initial': { up: (db) => db.schema.createTable('orders').addColumn('id', 'integer', (c) => c.primaryKey()).execute() },
    '0002_customers': { up: (db) => db.schema.createTable('customers').addColumn('id', 'integer', (c) => c.primaryKey()).execute() },
  };
  const hostMigrator = (db: Kysely<any>, upTo: string) =>
    new Migrator({ db, provider: { getMigrations: async () => hostMigrations } }).migrateTo(upTo);

  for (const upTo of ['0001_initial', '0002_customers']) {
    test(`leaves the host's kysely_migration alone (host at ${upTo}), and the host keeps migrating`, async () => {
      const { url } = await fresh();
      const host = hostDb(url);
      try {
        assert.equal((await hostMigrator(host, upTo)).error, undefined);
        const hostRows = await migrationRows(host, 'kysely_migration');

        const keygate = await openKeygate(serverConfig(url));
        const { apiKey } = await keygate.apiKeys.create(userActor('next-to-host'), { name: 'k' });
        await keygate.close();
        assert.deepEqual(await migrationRows(host, 'kysely_migration'), hostRows, "the host's rows, untouched");
        assert.deepEqual(await migrationRows(host, 'keygate_migration'), ALL_MIGRATIONS);

        const { error } = await hostMigrator(host, '0002_customers');
        assert.equal(error, undefined, 'the host still migrates');
        assert.deepEqual(await migrationRows(host, 'kysely_migration'), ['0001_initial', '0002_customers']);

        const verifier = await createKeyVerifier({ databaseUrl: url });
        try {
          assert.equal((await verifier.verify(apiKey)).valid, true);
        } finally {
          await verifier.close();
        }
      } finally {
        await host.destroy();
      }
    });
  }
});
