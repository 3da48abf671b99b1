import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  call,
  freshDatabase,
  spawnKeygate,
  temporaryFolder,
  tokenFromDatabase,
  type KeygateProcess,
  type TestDatabase,
} from './support/keygate.js';
import { redisSkip, startRedis, type RunningRedis } from './support/redis.js';

// Two keygate processes behind an imaginary load balancer, on one database (PostgreSQL in the
// PostgreSQL pass, one SQLite file in the other) and one real Redis. Neither is given a secret:
// the user-token secret and the exchange signing key come from the database they share.

const INVALID = { detail: 'Invalid API key' };

describe('two instances on one database and one Redis', { skip: redisSkip }, () => {
  let folder: string;
  let database: TestDatabase;
  let redis: RunningRedis;
  let a: KeygateProcess;
  let b: KeygateProcess;
  let token: string;

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    redis = await startRedis();
    // Both start at once: migrations and generated secrets must come out the same for both.
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      KEYGATE_LAST_USED_FLUSH_MS: '50',
      KEYGATE_MAX_KEYS_PER_USER: '5',
      KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '40',
    };
    [a, b] = await Promise.all([spawnKeygate(env, folder), spawnKeygate(env, folder)]);
    token = await tokenFromDatabase(database.url, 'alice');
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
    await database?.drop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  const verify = (baseUrl: string, apiKey: string) =>
    call(baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': apiKey } });

  test('share the user-token secret and the exchange keys', async () => {
    for (const instance of [a, b]) assert.equal((await call(instance.baseUrl, 'GET', '/api/v1/api-keys/', { token })).status, 200);
    const jwksA = await call(a.baseUrl, 'GET', '/.well-known/jwks.json');
    const jwksB = await call(b.baseUrl, 'GET', '/.well-known/jwks.json');
    assert.equal(jwksA.body.keys.length, 1);
    assert.deepEqual(jwksA.body, jwksB.body);
  });

  test('create on A, verify on B; rotate on B, A refuses the old key at once; revoke on A, B refuses at once', async () => {
    const created = await call(a.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'shared' } });
    assert.equal(created.status, 201);
    const { key_id: keyId, api_key: firstKey } = created.body;
    assert.equal((await verify(b.baseUrl, firstKey)).status, 200);
    assert.equal((await verify(a.baseUrl, firstKey)).status, 200); // warm on both

    const rotated = await call(b.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token });
    assert.equal(rotated.status, 200);
    assert.deepEqual((await verify(a.baseUrl, firstKey)).body, INVALID);
    assert.equal((await verify(a.baseUrl, rotated.body.new_api_key)).status, 200);

    assert.equal((await call(a.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token })).status, 204);
    assert.deepEqual((await verify(b.baseUrl, rotated.body.new_api_key)).body, INVALID);
  });

  test('last_used written through either instance is visible through both', async () => {
    const created = await call(a.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'used' } });
    const { key_id: keyId, api_key: apiKey } = created.body;
    assert.equal((await verify(b.baseUrl, apiKey)).status, 200);
    const lastUsedThrough = async (instance: KeygateProcess) => {
      const listed = await call(instance.baseUrl, 'GET', '/api/v1/api-keys/', { token });
      return listed.body.find((key: { key_id: string }) => key.key_id === keyId).last_used as string | null;
    };
    let seen: string | null = null;
    for (let attempt = 0; attempt < 200 && seen === null; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      seen = await lastUsedThrough(a);
    }
    assert.ok(seen, 'A shows the use that B recorded');
    assert.equal(await lastUsedThrough(b), seen);
    await call(a.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token });
  });

  test('20 concurrent creates for one user spread over both leave exactly 5 keys', async () => {
    const burstToken = await tokenFromDatabase(database.url, 'burst-user');
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call((i % 2 === 0 ? a : b).baseUrl, 'POST', '/api/v1/api-keys/', { token: burstToken, json: { name: `burst ${i}` } }),
      ),
    );
    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 201).length, 5, String(statuses));
    assert.equal(statuses.filter((status) => status === 400).length, 15, String(statuses));
    for (const instance of [a, b]) {
      assert.equal((await call(instance.baseUrl, 'GET', '/api/v1/api-keys/', { token: burstToken })).body.length, 5);
    }
  });

  test('share one rate-limit count per user through Redis', async () => {
    const user = await tokenFromDatabase(database.url, 'limited-user');
    const statuses: number[] = [];
    for (let i = 0; i < 42; i++) {
      statuses.push((await call((i % 2 === 0 ? a : b).baseUrl, 'GET', '/api/v1/api-keys/', { token: user })).status);
    }
    // 40 a minute for the user, counted across both instances: the 41st and 42nd are refused,
    // one by each instance.
    assert.deepEqual(statuses.slice(0, 40), Array(40).fill(200));
    assert.deepEqual(statuses.slice(40), [429, 429]);
  });
});
