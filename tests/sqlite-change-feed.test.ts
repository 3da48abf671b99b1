import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { openKeygate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ChangeFeedError, sleep } from '../src/keys/change-feed.js';
import { KeyWrites } from '../src/store/api-keys-repository.js';
import { openDatabase, type Store } from '../src/store/database.js';
import { SqliteChangeFeed } from '../src/store/sqlite-change-feed.js';
import { sqliteOnly, temporaryFolder, TEST_SECRET } from './support/keygate.js';

// The SQLite change feed's protocol, on one real file, with a clock the test moves and ticks the
// test makes (no timer): several feeds on one file are several instances, as in several
// processes. The same protocol across real processes: tests/exact-at-scale.test.ts.

const LEASE_MS = 1000;
/** LeaseFeed's margin for this lease: max(50, lease / 5). */
const MARGIN_MS = 200;

describe('the SQLite change feed', { skip: sqliteOnly }, () => {
  const folder = temporaryFolder();
  const path = join(folder, 'keygate.db');
  let store: Store;
  let clock = 1_000_000;
  const errors: unknown[] = [];
  const open: SqliteChangeFeed[] = [];

  before(async () => {
    store = await openDatabase({ kind: 'sqlite', path });
  });
  after(async () => {
    for (const feed of open) await feed.close();
    await store.db.destroy();
    rmSync(folder, { recursive: true, force: true });
    assert.deepEqual(errors, []);
  });

  async function instance(listens = true): Promise<{ feed: SqliteChangeFeed; heard: string[] }> {
    const feed = await SqliteChangeFeed.open({
      path,
      leaseMs: LEASE_MS,
      listens,
      onError: (error) => errors.push(error),
      clocks: { shared: () => clock, own: () => clock },
      timer: false,
    });
    open.push(feed);
    const heard: string[] = [];
    feed.onKeyChanged((keyId) => heard.push(keyId));
    return { feed, heard };
  }

  /** A change to `keyId` by `writer`, as KeyChanges makes it: published in its transaction, then committed. */
  async function change(writer: SqliteChangeFeed, keyId: string): Promise<{ answered: () => boolean; done: Promise<void> }> {
    const publication = await store.db.transaction().execute((trx) => writer.publish(new KeyWrites(trx), keyId));
    let answered = false;
    const done = writer.committed(keyId, publication).then(() => {
      answered = true;
    });
    return { answered: () => answered, done };
  }

  const tick = () => new Promise((resolve) => setTimeout(resolve, 20));
  const instances = async () =>
    (await sql<{ count: number }>`select count(*) as count from keygate_instances`.execute(store.db)).rows[0]!.count;
  const logRows = async () =>
    (await sql<{ count: number }>`select count(*) as count from keygate_key_changes`.execute(store.db)).rows[0]!.count;

  test('trusts its lease until a margin before it ends, by its own clock; a tick renews it every third of a lease', async () => {
    const registeredAt = clock;
    const { feed } = await instance();
    assert.notEqual(feed.stamp(), undefined);
    clock = registeredAt + LEASE_MS / 3 - 1;
    feed.poll(); // not due yet
    clock = registeredAt + LEASE_MS - MARGIN_MS - 1;
    assert.notEqual(feed.stamp(), undefined);
    clock = registeredAt + LEASE_MS - MARGIN_MS;
    assert.equal(feed.stamp(), undefined, 'trusted to the end of the lease, margin included');
    // The lease itself still holds by the shared clock: the tick renews it, from now.
    const renewedAt = clock;
    feed.poll();
    assert.notEqual(feed.stamp(), undefined);
    clock = renewedAt + LEASE_MS - MARGIN_MS;
    assert.equal(feed.stamp(), undefined);
    await feed.close();
  });

  test("another instance's change is heard by its key alone, and its writer answers only once every instance acknowledged", async () => {
    const a = await instance();
    const b = await instance();
    const c = await instance();
    const stamp = a.feed.stamp();
    const revoke = await change(b.feed, 'key-x');
    assert.deepEqual(b.heard, ['key-x'], 'the writer forgets the key at once');
    await tick();
    assert.equal(revoke.answered(), false, 'answered before A and C heard of it');
    a.feed.poll();
    assert.deepEqual(a.heard, ['key-x']);
    await tick();
    assert.equal(revoke.answered(), false, 'answered before C heard of it');
    c.feed.poll();
    await revoke.done;
    assert.deepEqual(c.heard, ['key-x']);
    assert.equal(a.feed.stamp(), stamp, "other keys' entries stay warm");
    // The writer hears its own change again on its tick, and tells nobody twice.
    b.feed.poll();
    assert.deepEqual(b.heard, ['key-x']);
    for (const feed of [a, b, c]) await feed.feed.close();
  });

  test('a commit that changes no key (a last_used flush) is heard as nothing, and cools nothing', async () => {
    const a = await instance();
    const stamp = a.feed.stamp();
    a.feed.poll();
    await sql`insert into settings (name, value) values ('unrelated', 'commit')`.execute(store.db);
    a.feed.poll();
    assert.deepEqual(a.heard, []);
    assert.equal(a.feed.stamp(), stamp);
    await a.feed.close();
  });

  test('an instance that stops answering holds a writer up until its lease ran out, then starts over trusting nothing from before', async () => {
    const frozen = await instance();
    const writer = await instance();
    const before = frozen.feed.stamp();
    const revoke = await change(writer.feed, 'key-y');
    await tick();
    assert.equal(revoke.answered(), false, 'answered while the lease of an instance that did not hear still held');
    clock += LEASE_MS; // the frozen instance's lease runs out by the shared clock
    await revoke.done;
    assert.equal(frozen.feed.stamp(), undefined, 'still trusted once its lease ran out');
    // It thaws: it hears the change, finds it cannot renew a lease that lapsed, and registers again.
    frozen.feed.poll();
    assert.deepEqual(frozen.heard, ['key-y']);
    const after = frozen.feed.stamp();
    assert.notEqual(after, undefined, 'registered again');
    assert.notEqual(after, before, 'entries from before the freeze are trusted again');
    // Registered again, it is waited for again.
    const next = await change(writer.feed, 'key-z');
    await tick();
    assert.equal(next.answered(), false);
    frozen.feed.poll();
    await next.done;
    await frozen.feed.close();
    await writer.feed.close();
  });

  test('a writer waits for no instance that closed, nor for itself, nor for a process that holds no warm entries (the CLI)', async () => {
    const registered = await instances();
    const cli = await instance(false);
    assert.equal(await instances(), registered, 'the CLI registered');
    assert.equal(cli.feed.stamp(), undefined, 'the CLI trusts warm entries');
    const gone = await instance();
    await gone.feed.close();
    const writer = await instance();
    await (await change(writer.feed, 'key-w')).done;
    // The CLI's own change waits for the instances, as any writer's does.
    const fromCli = await change(cli.feed, 'key-v');
    writer.feed.poll();
    await fromCli.done;
    assert.deepEqual(writer.heard, ['key-w', 'key-v']);
    await writer.feed.close();
    await cli.feed.close();
  });

  test('the log is trimmed, at a renewal, of the rows every live instance acknowledged', async () => {
    const a = await instance();
    const b = await instance();
    const first = await change(a.feed, 'key-t');
    b.feed.poll();
    await first.done;
    assert.ok((await logRows()) > 0);
    clock += LEASE_MS / 2; // due for a renewal
    a.feed.poll();
    b.feed.poll();
    assert.equal(await logRows(), 0);
    await a.feed.close();
    await b.feed.close();
  });
});

describe("the change feed's errors, as keygate tells them", { skip: sqliteOnly }, () => {
  test('say they are the change feed\'s, not a background write\'s, and keep their cause', async () => {
    const folder = temporaryFolder();
    const errors: unknown[] = [];
    const config = loadConfig({ DATABASE_URL: `sqlite:${join(folder, 'keygate.db')}`, KEYGATE_SECRET: TEST_SECRET, KEYGATE_LEASE_MS: '300' });
    const keygate = await openKeygate(config, (error) => errors.push(error));
    try {
      // The feed's next renewal finds no table to renew in.
      const other = new SqliteDatabase(join(folder, 'keygate.db'));
      other.exec('drop table keygate_instances');
      other.close();
      for (let i = 0; i < 10_000 && errors.length === 0; i += 1) await sleep(1);
      assert.ok(errors.length > 0, 'the failure was told');
      const error = errors[0];
      assert.ok(error instanceof ChangeFeedError);
      assert.match(error.message, /^change feed: no such table: keygate_instances/);
      assert.equal((error.cause as { code?: unknown }).code, 'SQLITE_ERROR');
    } finally {
      await keygate.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
