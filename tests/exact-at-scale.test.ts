import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startLaggingProxy } from './support/lagging-proxy.js';
import { call, freshDatabase, metric, onPostgres, spawnKeygate, temporaryFolder, tokenFromDatabase, type KeygateProcess, type TestDatabase } from './support/keygate.js';
import { createDatabase, startPostgres } from './support/postgres.js';

// The guarantee of the PostgreSQL change feed (src/store/postgres-change-feed.ts), with three
// keygate processes on one database: once a change that narrows a key has been answered on one
// instance, no instance accepts what it forbids, although every instance verifies warm keys from
// memory; and an instance that stops answering (frozen, killed) holds a writer up for at most its
// lease. PostgreSQL only: on SQLite every commit moves data_version, which every process reads.

const TRIALS = Number(process.env.KEYGATE_TEST_TRIALS ?? 10_000);
const LEASE_MS = 1500;
const KEYS = '/api/v1/api-keys/';

const skip = onPostgres ? false : 'the PostgreSQL change feed: covered by the PostgreSQL pass';

describe('three instances on one PostgreSQL database', { skip }, () => {
  let folder: string;
  let database: TestDatabase;
  let instances: KeygateProcess[];
  let token: string;

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    instances = await Promise.all([0, 1, 2].map(() => spawnKeygate(env(), folder)));
    token = await tokenFromDatabase(database.url, 'trials');
  });

  const env = () => ({
    DATABASE_URL: database.url,
    // Creates and rotations at HMAC speed: the trials are about propagation, not bcrypt.
    KEYGATE_KEY_HASH: 'hmac-sha256',
    KEYGATE_LEASE_MS: String(LEASE_MS),
    KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0',
    KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '0',
    KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0',
    KEYGATE_MAX_KEYS_PER_USER: '1000',
  });
  after(async () => {
    for (const instance of instances ?? []) {
      instance.child.kill('SIGCONT');
      await instance.stop();
    }
    await database?.drop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  const verify = async (instance: KeygateProcess, apiKey: string, scope?: string) =>
    (await call(instance.baseUrl, 'POST', `${KEYS}verify${scope ? `?scope=${scope}` : ''}`, { headers: { 'x-api-key': apiKey } })).status;
  const manage = async (method: string, path: string, json?: unknown) => {
    const response = await call(instances[0]!.baseUrl, method, path, { token, json });
    assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  };
  const create = async (json: Record<string, unknown> = {}) => (await manage('POST', KEYS, { name: 'trial', ...json })) as { key_id: string; api_key: string };

  /** Both other instances accept `apiKey` (so hold it warm), as `scope` asks. */
  async function warmOnOthers(apiKey: string, scope?: string): Promise<void> {
    for (const instance of instances.slice(1)) assert.equal(await verify(instance, apiKey, scope), 200, 'warm before the change');
  }

  test(`${TRIALS} trials of a narrowing change on A, then verification on B and C: nothing forbidden is accepted`, { timeout: 900_000 }, async () => {
    const kinds = ['disable', 'remove scope', 'rotate', 'end grace', 'revoke'] as const;
    const accepted: Record<(typeof kinds)[number], number> = { disable: 0, 'remove scope': 0, rotate: 0, 'end grace': 0, revoke: 0 };
    const lanes = 8;
    const perLane = Math.ceil(TRIALS / lanes);
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        let key = await create({ scopes: ['read', 'write'] });
        for (let trial = 0; trial < perLane && lane * perLane + trial < TRIALS; trial += 1) {
          const kind = kinds[(lane + trial) % kinds.length]!;
          const path = `${KEYS}${key.key_id}`;
          let forbidden: { apiKey: string; scope?: string };
          switch (kind) {
            case 'disable':
              await warmOnOthers(key.api_key);
              await manage('PATCH', path, { status: 'disabled' });
              forbidden = { apiKey: key.api_key };
              break;
            case 'remove scope':
              await warmOnOthers(key.api_key, 'write');
              await manage('PATCH', path, { scopes: ['read'] });
              forbidden = { apiKey: key.api_key, scope: 'write' };
              break;
            case 'rotate': {
              await warmOnOthers(key.api_key);
              const rotated = (await manage('POST', `${path}/rotate`, {})) as { new_api_key: string };
              forbidden = { apiKey: key.api_key };
              key = { ...key, api_key: rotated.new_api_key };
              break;
            }
            case 'end grace': {
              const graced = (await manage('POST', `${path}/rotate`, { grace_seconds: 600 })) as { new_api_key: string };
              await warmOnOthers(key.api_key); // the old secret, in its grace
              const ended = (await manage('POST', `${path}/rotate`, {})) as { new_api_key: string };
              assert.ok(graced.new_api_key);
              forbidden = { apiKey: key.api_key };
              key = { ...key, api_key: ended.new_api_key };
              break;
            }
            case 'revoke':
              await warmOnOthers(key.api_key);
              await manage('DELETE', path);
              forbidden = { apiKey: key.api_key };
              break;
          }
          for (const instance of instances.slice(1)) {
            const status = await verify(instance, forbidden.apiKey, forbidden.scope);
            if (status < 300) accepted[kind] += 1;
          }
          // Back to a key the next trial can narrow.
          if (kind === 'revoke') key = await create({ scopes: ['read', 'write'] });
          else if (kind === 'disable') await manage('PATCH', path, { status: 'active' });
          else if (kind === 'remove scope') await manage('PATCH', path, { scopes: ['read', 'write'] });
        }
        await manage('DELETE', `${KEYS}${key.key_id}`);
      }),
    );
    assert.deepEqual(accepted, { disable: 0, 'remove scope': 0, rotate: 0, 'end grace': 0, revoke: 0 });
  });

  test('an instance whose database connection lags is still never stale: the writer waits for its acknowledgement', { timeout: 120_000 }, async () => {
    const url = new URL(database.url);
    const proxy = await startLaggingProxy({ host: url.hostname, port: Number(url.port) }, 150);
    const lagging = await spawnKeygate(
      { ...env(), DATABASE_URL: Object.assign(new URL(database.url), { port: String(proxy.port) }).toString() },
      folder,
    );
    try {
      let accepted = 0;
      for (let trial = 0; trial < 30; trial += 1) {
        const key = await create();
        assert.equal(await verify(lagging, key.api_key), 200, 'warm on the lagging instance');
        await manage('DELETE', `${KEYS}${key.key_id}`);
        if ((await verify(lagging, key.api_key)) < 300) accepted += 1;
      }
      assert.equal(accepted, 0);
    } finally {
      await lagging.stop();
      await proxy.close();
    }
  });

  test('a frozen instance holds a revoke up for at most its lease, and refuses the key at once when it thaws', { timeout: 60_000 }, async () => {
    const [a, , c] = instances as [KeygateProcess, KeygateProcess, KeygateProcess];
    const key = await create();
    await warmOnOthers(key.api_key);
    c.child.kill('SIGSTOP');
    try {
      // Past the first renewal that C misses: it no longer answers for its warm entries.
      const started = performance.now();
      const revoked = await call(a.baseUrl, 'DELETE', `${KEYS}${key.key_id}`, { token });
      const waited = performance.now() - started;
      assert.equal(revoked.status, 204);
      assert.ok(waited <= LEASE_MS * 2, `the revoke waited ${Math.round(waited)} ms, more than the lease allows`);
    } finally {
      c.child.kill('SIGCONT');
    }
    assert.equal(await verify(c, key.api_key), 401, 'the first request after the thaw');
    assert.equal(await verify(instances[1]!, key.api_key), 401);
  });

  test('a killed instance holds revokes elsewhere up for at most its lease, then not at all', { timeout: 60_000 }, async () => {
    const [a, b, c] = instances as [KeygateProcess, KeygateProcess, KeygateProcess];
    const first = await create();
    const second = await create();
    await warmOnOthers(first.api_key);
    c.child.kill('SIGKILL');
    await new Promise((resolve) => c.child.once('exit', resolve));
    const started = performance.now();
    assert.equal((await call(a.baseUrl, 'DELETE', `${KEYS}${first.key_id}`, { token })).status, 204);
    const firstWait = performance.now() - started;
    assert.ok(firstWait <= LEASE_MS * 2, `the revoke waited ${Math.round(firstWait)} ms`);
    assert.equal(await verify(b, first.api_key), 401);
    // The dead instance's lease has run out: the next revoke waits for nobody but B.
    const again = performance.now();
    assert.equal((await call(a.baseUrl, 'DELETE', `${KEYS}${second.key_id}`, { token })).status, 204);
    assert.ok(performance.now() - again < LEASE_MS, 'no wait for an instance whose lease is over');
  });
});

describe('PostgreSQL restarted under an instance', { skip }, () => {
  test('while its listener is down nothing warm is accepted; once it is back, warm keys need no read again', { timeout: 120_000 }, async () => {
    const cluster = await startPostgres();
    const database = await createDatabase(cluster.adminUrl);
    const folder = temporaryFolder();
    const env = { DATABASE_URL: database.url, KEYGATE_KEY_HASH: 'hmac-sha256', KEYGATE_LEASE_MS: String(LEASE_MS), KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0' };
    const instance = await spawnKeygate(env, folder);
    try {
      const token = await tokenFromDatabase(database.url, 'restart');
      const created = await call(instance.baseUrl, 'POST', KEYS, { token, json: { name: 'survivor' } });
      const apiKey: string = created.body.api_key;
      const verify = async () => (await call(instance.baseUrl, 'POST', `${KEYS}verify`, { headers: { 'x-api-key': apiKey } })).status;
      const rowReads = () => metric(instance.baseUrl, 'keygate_verify_cache_total{outcome="miss"}');
      assert.equal(await verify(), 200);
      const warmReads = await rowReads();
      assert.equal(await verify(), 200);
      assert.equal(await rowReads(), warmReads, 'warm: no row read');

      await cluster.pause();
      // However warm the key, with the listener gone nothing vouches for it: the row is asked
      // for, and the database's silence is a 503, never a 200 from memory.
      for (let i = 0; i < 5; i += 1) assert.equal(await verify(), 503);

      await cluster.resume();
      for (let tries = 0; (await verify()) !== 200; tries += 1) {
        assert.ok(tries < 200, 'the instance never served again');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // The listener reconnects with backoff: once it has, verifications are warm again.
      let reads = await rowReads();
      for (let tries = 0; ; tries += 1) {
        assert.equal(await verify(), 200);
        const now = await rowReads();
        if (now === reads) break;
        reads = now;
        assert.ok(tries < 200, 'verifications never became warm again');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await instance.stop();
      await database.drop();
      await cluster.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
