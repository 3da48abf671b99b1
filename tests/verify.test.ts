import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { createKeyVerifier, keygateExpress, keygateFastify } from '../src/index.js';
import { openKeygate } from '../src/app.js';
import { loadConfig, parseDatabaseUrl } from '../src/config.js';
import { openDatabase } from '../src/store/database.js';
import {
  call,
  freshDatabase,
  keygateForTests,
  metric,
  spawnKeygate,
  startKeygate,
  temporaryFolder,
  TEST_SECRET,
  type RunningKeygate,
} from './support/keygate.js';
import { forgedKey, unknownKey } from './support/keys.js';
import { userActor } from '../src/audit/actor.js';

const VERIFIED_FIELDS = ['environment', 'expires_at', 'key_id', 'metadata', 'name', 'scopes', 'user_id', 'valid'];
const INVALID = { detail: 'Invalid API key' };

let userCount = 0;

async function newKey(server: RunningKeygate, name = 'a key'): Promise<{ userToken: string; keyId: string; apiKey: string }> {
  const userToken = await server.tokenFor(`verify-user-${++userCount}`);
  const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token: userToken, json: { name } });
  assert.equal(created.status, 201);
  return { userToken, keyId: created.body.key_id, apiKey: created.body.api_key };
}

const verify = (baseUrl: string, apiKey: string) =>
  call(baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': apiKey } });

const bcryptCompares = (baseUrl: string) => metric(baseUrl, 'keygate_key_hash_compares_total');
const rowReads = (baseUrl: string) => metric(baseUrl, 'keygate_key_row_reads_total');


describe('POST /api/v1/api-keys/verify', () => {
  const server = keygateForTests();

  test('accepts the key from X-API-Key, Authorization: ApiKey and Authorization: Bearer', async () => {
    const { keyId, apiKey } = await newKey(server, 'gateway');
    const headerSets: Record<string, string>[] = [{ 'x-api-key': apiKey }, { authorization: `ApiKey ${apiKey}` }, { authorization: `Bearer ${apiKey}` }];
    for (const headers of headerSets) {
      const response = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers });
      assert.equal(response.status, 200, JSON.stringify(headers));
      assert.deepEqual(Object.keys(response.body).sort(), VERIFIED_FIELDS);
      assert.equal(response.body.valid, true);
      assert.equal(response.body.key_id, keyId);
      assert.equal(response.body.name, 'gateway');
      assert.match(response.body.user_id, /^verify-user-/);
    }
  });

  test('answers 400 when no key is presented', async () => {
    const headerSets: Record<string, string>[] = [{}, { authorization: 'Basic abc' }, { 'x-api-key': '  ' }];
    for (const headers of headerSets) {
      const response = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers });
      assert.equal(response.status, 400);
      assert.match(response.body.detail, /X-API-Key/);
    }
  });

  test('refuses malformed, unknown, forged, expired, revoked and rotated-away keys with one detail', async () => {
    const live = await newKey(server);
    const expired = await newKey(server);
    await server.keygate.db.updateTable('api_keys').set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('key_id', '=', expired.keyId).execute();
    const revoked = await newKey(server);
    assert.equal((await verify(server.baseUrl, revoked.apiKey)).status, 200);
    await call(server.baseUrl, 'DELETE', `/api/v1/api-keys/${revoked.keyId}`, { token: revoked.userToken });
    const rotated = await newKey(server);
    assert.equal((await verify(server.baseUrl, rotated.apiKey)).status, 200);
    await call(server.baseUrl, 'POST', `/api/v1/api-keys/${rotated.keyId}/rotate`, { token: rotated.userToken });

    const refused: [string, string][] = [
      ['malformed', 'not-a-key'],
      ['mistyped', `${live.apiKey.slice(0, -1)}${live.apiKey.endsWith('a') ? 'b' : 'a'}`],
      ['truncated', live.apiKey.slice(0, -3)],
      ['unknown key_id', unknownKey()],
      ['forged secret', forgedKey(live.keyId)],
      ['expired', expired.apiKey],
      ['revoked', revoked.apiKey],
      ['rotated away', rotated.apiKey],
    ];
    for (const [what, apiKey] of refused) {
      const response = await verify(server.baseUrl, apiKey);
      assert.equal(response.status, 401, what);
      assert.deepEqual(response.body, INVALID, what);
    }
    assert.equal((await verify(server.baseUrl, live.apiKey)).status, 200);
  });

  test('a rotate or revoke fails the very next verification in the same process', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    assert.equal((await verify(server.baseUrl, apiKey)).status, 200); // warm now
    const rotated = await call(server.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken });
    assert.equal((await verify(server.baseUrl, apiKey)).status, 401);
    assert.equal((await verify(server.baseUrl, rotated.body.new_api_key)).status, 200);
    await call(server.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token: userToken });
    assert.equal((await verify(server.baseUrl, rotated.body.new_api_key)).status, 401);
  });

  test('a warm key is settled at once, without a promise, until a change may concern it', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    const { verifier } = server.keygate;
    const first = verifier.verifyNow(apiKey);
    assert.ok(first instanceof Promise, 'a cold key needs the row');
    assert.equal((await first).valid, true);
    const warm = verifier.verifyNow(apiKey);
    assert.ok(!(warm instanceof Promise));
    assert.equal(warm.valid && warm.key.keyId, keyId);
    assert.deepEqual(verifier.verifyNow('garbage'), { valid: false, reason: 'malformed' });

    await call(server.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token: userToken });
    const afterRevoke = verifier.verifyNow(apiKey);
    assert.ok(afterRevoke instanceof Promise, 'after any change the row is read again');
    assert.deepEqual(await afterRevoke, { valid: false, reason: 'unknown' });
  });

  test('a warm key costs exactly one bcrypt compare, even when its first requests arrive together', async () => {
    const { apiKey } = await newKey(server);
    const before = await bcryptCompares(server.baseUrl);
    const first = await Promise.all(Array.from({ length: 10 }, () => verify(server.baseUrl, apiKey)));
    for (let i = 0; i < 20; i++) assert.equal((await verify(server.baseUrl, apiKey)).status, 200);
    assert.deepEqual(first.map((response) => response.status), Array(10).fill(200));
    assert.equal((await bcryptCompares(server.baseUrl)) - before, 1);
  });

  test('a forged secret costs no row read and no hash compare; a rotated-away key one compare, then none', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    const { verifier } = server.keygate;
    const before = await bcryptCompares(server.baseUrl);
    // Settled synchronously (no promise): nothing was read, nothing was hashed.
    assert.deepEqual(verifier.verifyNow(forgedKey(keyId)), { valid: false, reason: 'malformed' });
    assert.equal((await verify(server.baseUrl, forgedKey(keyId))).status, 401);
    assert.equal((await bcryptCompares(server.baseUrl)) - before, 0);

    await call(server.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken });
    assert.deepEqual(await verifier.verifyNow(apiKey), { valid: false, reason: 'unknown' });
    assert.equal((await bcryptCompares(server.baseUrl)) - before, 1);
    // From now on the old key is refused from memory: no row read, on either database.
    const readsBefore = await rowReads(server.baseUrl);
    for (let i = 0; i < 5; i++) assert.deepEqual(verifier.verifyNow(apiKey), { valid: false, reason: 'unknown' });
    assert.equal((await verify(server.baseUrl, apiKey)).status, 401);
    assert.equal((await bcryptCompares(server.baseUrl)) - before, 1);
    assert.equal(await rowReads(server.baseUrl), readsBefore);
  });

  test('a flood of forged secrets for known key_ids from 16 connections costs no hash compare and refuses no real key', async () => {
    const warm = await newKey(server);
    const cold = await newKey(server);
    assert.equal((await verify(server.baseUrl, warm.apiKey)).status, 200);
    const before = await bcryptCompares(server.baseUrl);
    // Both shapes anyone who knows a key_id can make: random junk of a key's shape, and distinct
    // secrets with a correct checksum.
    const junkFor = (keyId: string, i: number) =>
      i % 2 === 0 ? forgedKey(keyId) : `mcpkey_live_${keyId}_${'x'.repeat(48)}${String(i).padStart(6, '0')}`;
    let flooding = true;
    const refusedStatuses = new Set<number>();
    const flood = Array.from({ length: 16 }, async (_, connection) => {
      for (let i = 0; flooding && i < 200; i++) {
        const target = (connection + i) % 2 === 0 ? warm.keyId : cold.keyId;
        refusedStatuses.add((await verify(server.baseUrl, junkFor(target, i))).status);
      }
    });
    // During the flood: the cold key verifies at its first try, the warm one every time.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const coldFirst = await verify(server.baseUrl, cold.apiKey);
    const warmDuring = await Promise.all(Array.from({ length: 20 }, () => verify(server.baseUrl, warm.apiKey)));
    flooding = false;
    await Promise.all(flood);
    assert.equal(coldFirst.status, 200, JSON.stringify(coldFirst.body));
    assert.deepEqual(warmDuring.map((response) => response.status), Array(20).fill(200));
    assert.deepEqual([...refusedStatuses], [401], 'every forgery is a plain 401, never a 429 or 503');
    assert.equal((await bcryptCompares(server.baseUrl)) - before, 1, 'the one compare is the cold key\'s own');
  });

  test('unknown and known key_ids with a wrong secret are answered alike: status, body, and the same work', async (t) => {
    const { keyId } = await newKey(server);
    const { verifier } = server.keygate;
    const known = () => forgedKey(keyId);
    // Same code path, provably: both are settled without a promise, so neither reads the database.
    assert.deepEqual(verifier.verifyNow(known()), verifier.verifyNow(unknownKey()));
    assert.ok(!(verifier.verifyNow(known()) instanceof Promise) && !(verifier.verifyNow(unknownKey()) instanceof Promise));
    const timings: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    const bodies = new Set<string>();
    for (let i = 0; i < 100; i++) {
      for (const [kind, key] of [['known', known()], ['unknown', unknownKey()]] as const) {
        const started = performance.now();
        const response = await verify(server.baseUrl, key);
        timings[kind].push(performance.now() - started);
        assert.equal(response.status, 401);
        bodies.add(JSON.stringify(response.body) + response.headers.get('www-authenticate'));
      }
    }
    assert.equal(bodies.size, 1, [...bodies].join(' | '));
    const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!.toFixed(3);
    t.diagnostic(`median ms over 100 each: known key_id ${median(timings.known)}, unknown key_id ${median(timings.unknown)}`);
  });

  test('metrics count verifications, cache hits and misses, and hold no secret', async () => {
    const { apiKey } = await newKey(server);
    await verify(server.baseUrl, apiKey);
    await verify(server.baseUrl, apiKey);
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    assert.match(text, /^keygate_verifications_total\{result="valid"\} [1-9]\d*$/m);
    assert.match(text, /^keygate_verifications_total\{result="unknown"\} [1-9]\d*$/m);
    assert.match(text, /^keygate_verify_cache_total\{outcome="hit"\} [1-9]\d*$/m);
    assert.match(text, /^keygate_verify_cache_total\{outcome="miss"\} [1-9]\d*$/m);
    assert.match(text, /^keygate_verification_duration_seconds_count [1-9]\d*$/m);
    assert.ok(!text.includes(apiKey) && !text.includes(apiKey.slice(-54, -6)));
  });

  test('the latency histogram reads as Prometheus expects: cumulative buckets up to +Inf = count', async () => {
    const { apiKey } = await newKey(server);
    const series = async () => {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      assert.match(text, /^# TYPE keygate_verification_duration_seconds histogram$/m);
      const buckets = [...text.matchAll(/^keygate_verification_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)];
      const count = Number(/^keygate_verification_duration_seconds_count (\d+)$/m.exec(text)?.[1]);
      const sum = Number(/^keygate_verification_duration_seconds_sum (\S+)$/m.exec(text)?.[1]);
      return { bounds: buckets.map((bucket) => bucket[1]), counts: buckets.map((bucket) => Number(bucket[2])), count, sum };
    };
    const before = await series();
    await verify(server.baseUrl, apiKey); // cold: a bcrypt compare, milliseconds
    await verify(server.baseUrl, apiKey); // warm
    const after = await series();
    assert.equal(after.count - before.count, 2);
    assert.ok(after.sum > before.sum);
    assert.equal(after.bounds.at(-1), '+Inf');
    assert.equal(after.counts.at(-1), after.count);
    after.counts.forEach((count, i) => assert.ok(i === 0 || count >= after.counts[i - 1]!, `bucket ${after.bounds[i]} is cumulative`));
    // The cold verification took longer than the smallest bucket (50 µs): not every bucket grew by 2.
    assert.ok(after.counts[0]! - before.counts[0]! < 2);
  });
});

describe('cold keys in a burst', () => {
  test('200 first verifications of 200 real keys at once all answer 200: they wait for bcrypt, not refused', async () => {
    // The wait bound is raised from its default (30 s) so that a slow or shared machine, where
    // 200 compares take longer, still tests the queue and not the machine's speed.
    const server = await startKeygate({
      KEYGATE_MAX_KEYS_PER_USER: '200',
      KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0',
      KEYGATE_BCRYPT_QUEUE_WAIT_MS: '300000',
    });
    try {
      const token = await server.tokenFor('burst-user');
      const keys = await Promise.all(
        Array.from({ length: 200 }, () => server.keygate.apiKeys.create(userActor('burst-user'), { name: 'burst' }).then((key) => key.apiKey)),
      );
      assert.equal((await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token })).body.length, 200);
      const before = await bcryptCompares(server.baseUrl);
      const responses = await Promise.all(keys.map((apiKey) => verify(server.baseUrl, apiKey)));
      assert.deepEqual(responses.map((response) => response.status), Array(200).fill(200));
      assert.equal((await bcryptCompares(server.baseUrl)) - before, 200);
    } finally {
      await server.close();
    }
  });

  test('beyond the queue\'s bounds: 503 with Retry-After at once, and every key verifies afterwards', async () => {
    const server = await startKeygate({
      KEYGATE_BCRYPT_CONCURRENCY: '1',
      KEYGATE_BCRYPT_QUEUE_LENGTH: '2',
      KEYGATE_MAX_KEYS_PER_USER: '10',
    });
    try {
      const keys = [];
      for (let i = 0; i < 8; i++) keys.push(await newKey(server));
      const responses = await Promise.all(keys.map(({ apiKey }) => verify(server.baseUrl, apiKey)));
      const statuses = responses.map((response) => response.status);
      assert.equal(statuses.filter((status) => status === 200).length, 3, `one running and two waiting: ${statuses}`);
      const overloaded = responses.filter((response) => response.status === 503);
      assert.equal(overloaded.length, 5, String(statuses));
      assert.equal(overloaded[0]!.headers.get('retry-after'), '1');
      assert.match(overloaded[0]!.body.detail, /retry/);
      // Refused, not lost: once the burst is over each key verifies.
      for (const { apiKey } of keys) assert.equal((await verify(server.baseUrl, apiKey)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('the 503 of a full queue says how long the compares ahead of it take, not a flat second', async () => {
    // One compare at a time and 60 in line: sixty-odd bcrypt compares (tens of ms each, a pace
    // the queue has seen in the hashes of the creates) are seconds of work ahead of a refusal.
    const server = await startKeygate({ KEYGATE_BCRYPT_CONCURRENCY: '1', KEYGATE_BCRYPT_QUEUE_LENGTH: '60' });
    try {
      const keys = [];
      for (let i = 0; i < 80; i++) keys.push(await newKey(server));
      const responses = await Promise.all(keys.map(({ apiKey }) => verify(server.baseUrl, apiKey)));
      const overloaded = responses.filter((response) => response.status === 503);
      assert.ok(overloaded.length > 0, `the line never filled: ${responses.map((response) => response.status)}`);
      for (const response of overloaded) assert.ok(Number(response.headers.get('retry-after')) >= 2, `Retry-After: ${response.headers.get('retry-after')}`);
    } finally {
      await server.close();
    }
  });

  test('a compare that waited KEYGATE_BCRYPT_QUEUE_WAIT_MS answers 503 with Retry-After, however short the line', async () => {
    // One compare at a time, and a wait bound of 1 ms, far below one bcrypt compare (tens of
    // milliseconds): of keys arriving together, those behind the first outwait the bound. The
    // line's length (1000) is never reached, so each 503 is the wait bound's.
    const server = await startKeygate({
      KEYGATE_BCRYPT_CONCURRENCY: '1',
      KEYGATE_BCRYPT_QUEUE_LENGTH: '1000',
      KEYGATE_BCRYPT_QUEUE_WAIT_MS: '1',
      KEYGATE_MAX_KEYS_PER_USER: '10',
    });
    try {
      const keys = [];
      for (let i = 0; i < 8; i++) keys.push(await newKey(server)); // one at a time: each hash waits for none
      const responses = await Promise.all(keys.map(({ apiKey }) => verify(server.baseUrl, apiKey)));
      const statuses = responses.map((response) => response.status);
      assert.ok(statuses.includes(200), `the first compare waits for none: ${statuses}`);
      assert.deepEqual(statuses.filter((status) => status !== 200 && status !== 503), [], String(statuses));
      const overloaded = responses.find((response) => response.status === 503);
      assert.ok(overloaded !== undefined, `the others outwait the bound: ${statuses}`);
      assert.equal(overloaded.headers.get('retry-after'), '1');
      for (const { apiKey } of keys) assert.equal((await verify(server.baseUrl, apiKey)).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('the hash scheme', () => {
  test('switching to hmac-sha256 and back rehashes each key on its next success, with no reissue', async () => {
    const bcryptServer = await startKeygate();
    const hmacServer = await startKeygate({ DATABASE_URL: bcryptServer.databaseUrl, KEYGATE_KEY_HASH: 'hmac-sha256' });
    const storedHash = async (keyId: string) =>
      (await bcryptServer.keygate.db.selectFrom('api_keys').select('key_hash').where('key_id', '=', keyId).executeTakeFirstOrThrow()).key_hash;
    // A rehash runs behind the answer that triggered it: the stored hash changes shortly after.
    const hashOnceItMatches = async (keyId: string, pattern: RegExp) => {
      let hash = await storedHash(keyId);
      for (let attempt = 0; attempt < 200 && !pattern.test(hash); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        hash = await storedHash(keyId);
      }
      return hash;
    };
    try {
      const { keyId, apiKey } = await newKey(bcryptServer);
      assert.match(await storedHash(keyId), /^\$2b\$10\$/);
      assert.equal((await verify(bcryptServer.baseUrl, apiKey)).status, 200); // warm on the bcrypt instance
      assert.equal((await verify(hmacServer.baseUrl, apiKey)).status, 200);
      const rehashed = await hashOnceItMatches(keyId, /^hmac-sha256\$/);
      assert.match(rehashed, /^hmac-sha256\$/);
      assert.ok(!rehashed.includes(apiKey));
      // The other instance still accepts the key: from its warm entry (a rehash changes no answer,
      // so it is not announced on PostgreSQL), or from the changed row, matched to the new hash.
      assert.equal((await verify(bcryptServer.baseUrl, apiKey)).status, 200);
      // Switched back (an instance set to bcrypt that reads the row: a restarted one), and back it goes.
      const switchedBack = await startKeygate({ DATABASE_URL: bcryptServer.databaseUrl });
      try {
        assert.equal((await verify(switchedBack.baseUrl, apiKey)).status, 200);
        assert.match(await hashOnceItMatches(keyId, /^\$2b\$10\$/), /^\$2b\$10\$/, 'and back to bcrypt, the scheme that instance is set to');
      } finally {
        await switchedBack.close();
      }
      for (const server of [hmacServer, bcryptServer]) assert.equal((await verify(server.baseUrl, apiKey)).status, 200);

      // A key created under hmac-sha256 is hashed so at once, and a wrong key never matches it.
      const created = await newKey(hmacServer);
      assert.match(await storedHash(created.keyId), /^hmac-sha256\$/);
      assert.equal((await verify(hmacServer.baseUrl, created.apiKey)).status, 200);
      assert.equal((await verify(hmacServer.baseUrl, forgedKey(created.keyId))).status, 401);
    } finally {
      await hmacServer.close();
      await bcryptServer.close();
    }
  });

  test('KEYGATE_KEY_PEPPER keys the HMAC and is kept nowhere in the database: a dump alone verifies no key', async () => {
    const pepper = 'a-pepper-kept-in-the-environment-only-0123456789';
    const withPepper = { KEYGATE_KEY_HASH: 'hmac-sha256', KEYGATE_KEY_PEPPER: pepper };
    const server = await startKeygate(withPepper);
    try {
      const { keyId, apiKey } = await newKey(server);
      const { db } = server.keygate;
      const row = await db.selectFrom('api_keys').selectAll().where('key_id', '=', keyId).executeTakeFirstOrThrow();
      assert.equal(row.key_hash, `hmac-sha256$${createHmac('sha256', pepper).update(apiKey).digest('base64')}`);
      const everything = JSON.stringify([row, await db.selectFrom('settings').selectAll().execute()]);
      assert.ok(!everything.includes(pepper), 'neither the key row nor the generated secrets hold the pepper');
      // An instance with all the database holds (its generated pepper among it) but not this pepper:
      const withoutPepper = await startKeygate({ DATABASE_URL: server.databaseUrl, KEYGATE_KEY_HASH: 'hmac-sha256' });
      try {
        assert.equal((await verify(withoutPepper.baseUrl, apiKey)).status, 401);
      } finally {
        await withoutPepper.close();
      }
      const restarted = await startKeygate({ DATABASE_URL: server.databaseUrl, ...withPepper });
      try {
        assert.equal((await verify(restarted.baseUrl, apiKey)).status, 200);
      } finally {
        await restarted.close();
      }
    } finally {
      await server.close();
    }
  });
});

describe('another process on the same database', () => {
  const primary = keygateForTests();

  test('a rotate or revoke in one process fails the very next verification in another', async () => {
    const other = await spawnKeygate(
      { DATABASE_URL: primary.databaseUrl, KEYGATE_SECRET: TEST_SECRET },
      primary.folder,
    );
    try {
      const { userToken, keyId, apiKey } = await newKey(primary);
      assert.equal((await verify(other.baseUrl, apiKey)).status, 200);
      assert.equal((await verify(other.baseUrl, apiKey)).status, 200); // warm in the other process

      const rotated = await call(primary.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken });
      assert.deepEqual((await verify(other.baseUrl, apiKey)).body, INVALID);
      assert.equal((await verify(other.baseUrl, rotated.body.new_api_key)).status, 200);

      await call(primary.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token: userToken });
      assert.deepEqual((await verify(other.baseUrl, rotated.body.new_api_key)).body, INVALID);

      // Both processes sign exchange tokens with the same published key.
      const jwks = async (baseUrl: string) => (await call(baseUrl, 'GET', '/.well-known/jwks.json')).body;
      assert.deepEqual(await jwks(other.baseUrl), await jwks(primary.baseUrl));
    } finally {
      await other.stop();
    }
  });

  test('a refusal remembered in one process stays exact while another changes the key: no read for it, its successors verify', async () => {
    const other = await spawnKeygate({ DATABASE_URL: primary.databaseUrl, KEYGATE_SECRET: TEST_SECRET }, primary.folder);
    try {
      const { userToken, keyId, apiKey: first } = await newKey(primary);
      const rotate = async (json?: unknown) =>
        (await call(primary.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken, json })).body.new_api_key as string;
      const second = await rotate();
      assert.equal((await verify(other.baseUrl, first)).status, 401); // compared, then remembered there
      // Changes in the primary, each heard by the other: a PATCH, then a rotation whose grace
      // keeps the second secret (now the previous hash) working beside the third.
      assert.equal((await call(primary.baseUrl, 'PATCH', `/api/v1/api-keys/${keyId}`, { token: userToken, json: { name: 'renamed' } })).status, 200);
      const third = await rotate({ grace_seconds: 3600 });
      for (const key of [second, third]) assert.equal((await verify(other.baseUrl, key)).body.name, 'renamed');
      const reads = await rowReads(other.baseUrl);
      for (let i = 0; i < 3; i++) assert.deepEqual((await verify(other.baseUrl, first)).body, INVALID);
      assert.equal(await rowReads(other.baseUrl), reads, 'the first secret is still refused from memory');
    } finally {
      await other.stop();
    }
  });

  test('the library verifies in-process, exact after a rotate made by the server', async () => {
    const verifier = await createKeyVerifier({ databaseUrl: primary.databaseUrl });
    try {
      const { userToken, keyId, apiKey } = await newKey(primary, 'library');
      const verified = await verifier.verify(apiKey);
      assert.ok(verified.valid);
      assert.equal(verified.key.keyId, keyId);
      assert.equal(verified.key.name, 'library');
      assert.deepEqual(await verifier.verify('mcpkey_live_nonsense'), { valid: false, reason: 'malformed' });

      await call(primary.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken });
      assert.deepEqual(await verifier.verify(apiKey), { valid: false, reason: 'unknown' });
    } finally {
      await verifier.close();
    }
  });
});

describe('a new database opened by several keygates at once', () => {
  test('is migrated once, and every verifier opens it then', async () => {
    const folder = temporaryFolder();
    try {
      const database = await freshDatabase(folder);
      const config = loadConfig({ DATABASE_URL: database.url, KEYGATE_SECRET: TEST_SECRET, KEYGATE_LOG_LEVEL: 'silent' });
      const servers = await Promise.all(Array.from({ length: 4 }, () => openKeygate(config)));
      for (const server of servers) await server.close();
      // The library never migrates: it opens what keygate's server made.
      const verifiers = await Promise.all(Array.from({ length: 4 }, () => createKeyVerifier({ databaseUrl: database.url })));
      for (const verifier of verifiers) assert.deepEqual(await verifier.verify('x'), { valid: false, reason: 'malformed' });
      await Promise.all(verifiers.map((verifier) => verifier.close()));
      await database.drop();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('last_used', () => {
  test('appears in the list once flushed, at most one write per key per interval', async () => {
    const server = await startKeygate({ KEYGATE_LAST_USED_FLUSH_MS: '50' });
    try {
      const { userToken, apiKey } = await newKey(server);
      const listed = async () => (await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token: userToken })).body[0];
      assert.equal((await listed()).last_used, null);
      const before = Date.now();
      for (let i = 0; i < 5; i++) assert.equal((await verify(server.baseUrl, apiKey)).status, 200);
      let lastUsed: string | null = null;
      for (let attempt = 0; attempt < 100 && lastUsed === null; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        lastUsed = (await listed()).last_used;
      }
      assert.ok(lastUsed, 'last_used was written');
      assert.ok(Date.parse(lastUsed) >= before - 1000);
    } finally {
      await server.close();
    }
  });

  test('is flushed on shutdown', async () => {
    const server = await startKeygate({ KEYGATE_LAST_USED_FLUSH_MS: '3600000' });
    const { keyId, apiKey } = await newKey(server);
    // Read through a connection of its own: the server's is closed by the shutdown.
    const reader = await openDatabase(parseDatabaseUrl(server.databaseUrl));
    const lastUsed = async () =>
      (await reader.db.selectFrom('api_keys').select('last_used_at').where('key_id', '=', keyId).executeTakeFirstOrThrow()).last_used_at;
    try {
      assert.equal((await verify(server.baseUrl, apiKey)).status, 200);
      assert.equal(await lastUsed(), null, 'nothing is written before the interval');
      await server.keygate.close(); // what a clean shutdown does after the HTTP server stops
      assert.ok(await lastUsed(), 'the pending time was written at shutdown');
    } finally {
      await reader.db.destroy();
      await server.close();
    }
  });
});

describe('POST /api/v1/api-keys/validate', () => {
  const server = keygateForTests({ KEYGATE_EXCHANGE_ISSUER: 'https://keygate.test', KEYGATE_EXCHANGE_AUDIENCE: 'my-backend' });

  test('exchanges a key for a short-lived EdDSA JWT that verifies against the JWKS', async () => {
    const { keyId, apiKey } = await newKey(server, 'exchange');
    const response = await call(server.baseUrl, 'POST', '/api/v1/api-keys/validate', { headers: { 'x-api-key': apiKey } });
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body).sort(), [...VERIFIED_FIELDS, 'access_token', 'expires_in', 'token_type', 'username'].sort());
    // keygate knows no display names: the gateway plugin's username is the user id.
    assert.equal(response.body.username, response.body.user_id);
    assert.equal(response.body.token_type, 'bearer');
    assert.ok(response.body.expires_in > 0 && response.body.expires_in <= 300);

    const jwks = createRemoteJWKSet(new URL(`${server.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(response.body.access_token, jwks, {
      issuer: 'https://keygate.test',
      audience: 'my-backend',
      algorithms: ['EdDSA'],
    });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(payload.sub, response.body.user_id);
    assert.equal(payload.key_id, keyId);
    assert.equal(payload.environment, 'live');
    assert.equal(payload.scope, undefined, 'a key without scopes has no scope claim');
    assert.equal(payload.exp! - payload.iat!, 300);

    const published = (await call(server.baseUrl, 'GET', '/.well-known/jwks.json')).body.keys;
    assert.equal(published.length, 1);
    assert.equal(published[0].kid, decodeProtectedHeader(response.body.access_token).kid);
    assert.equal(published[0].d, undefined, 'the private part is never published');
  });

  test('refuses a revoked key like /verify does', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    assert.equal((await call(server.baseUrl, 'POST', '/api/v1/api-keys/validate', { headers: { 'x-api-key': apiKey } })).status, 200);
    await call(server.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token: userToken });
    const response = await call(server.baseUrl, 'POST', '/api/v1/api-keys/validate', { headers: { 'x-api-key': apiKey } });
    assert.equal(response.status, 401);
    assert.deepEqual(response.body, INVALID);
  });

  test('a rotated key gets a token of its own, never the one handed to its old secret', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    const exchange = (key: string) => call(server.baseUrl, 'POST', '/api/v1/api-keys/validate', { headers: { 'x-api-key': key } });
    const first = await exchange(apiKey);
    assert.equal((await exchange(apiKey)).body.access_token, first.body.access_token, 'reused while fresh');
    const rotated = await call(server.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken });
    assert.equal((await exchange(apiKey)).status, 401);
    const renewed = await exchange(rotated.body.new_api_key);
    assert.equal(renewed.status, 200);
    assert.notEqual(renewed.body.access_token, first.body.access_token);
  });

  test('a JWT minted from a key cannot manage keys: 403 on all four endpoints', async () => {
    const { keyId, apiKey } = await newKey(server);
    const exchanged = await call(server.baseUrl, 'POST', '/api/v1/api-keys/validate', { headers: { 'x-api-key': apiKey } });
    const token = exchanged.body.access_token;
    const attempts = [
      call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'escalation' } }),
      call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token }),
      call(server.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token }),
      call(server.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token }),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.status, 403);
      assert.match(response.body.detail, /cannot manage API keys/);
    }
    assert.equal((await verify(server.baseUrl, apiKey)).status, 200, 'the key was neither rotated nor revoked');
  });
});

describe('glue for other servers', () => {
  const server = keygateForTests();

  test('keygateFastify admits valid keys and answers others like keygate does', async () => {
    const { keyId, apiKey } = await newKey(server);
    const verifier = await createKeyVerifier({ databaseUrl: server.databaseUrl });
    const app = Fastify();
    app.get('/data', { preHandler: keygateFastify(verifier) }, async (request) => ({ key: request.apiKey?.keyId }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      assert.deepEqual((await call(base, 'GET', '/data', { headers: { 'x-api-key': apiKey } })).body, { key: keyId });
      const anonymous = await call(base, 'GET', '/data');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual((await call(base, 'GET', '/data', { headers: { authorization: `Bearer ${forgedKey(keyId)}` } })).body, INVALID);
    } finally {
      await app.close();
      await verifier.close();
    }
  });

  test('keygateExpress admits valid keys and answers others like keygate does', async () => {
    const { keyId, apiKey } = await newKey(server);
    const verifier = await createKeyVerifier({ databaseUrl: server.databaseUrl });
    const app = express();
    app.get('/data', keygateExpress(verifier), (request, response) => {
      response.json({ key: request.apiKey?.keyId });
    });
    const listener = app.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    try {
      const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
      assert.deepEqual((await call(base, 'GET', '/data', { headers: { authorization: `ApiKey ${apiKey}` } })).body, { key: keyId });
      const refused = await call(base, 'GET', '/data', { headers: { 'x-api-key': forgedKey(keyId) } });
      assert.equal(refused.status, 401);
      assert.deepEqual(refused.body, INVALID);
    } finally {
      listener.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
      await verifier.close();
    }
  });

  test('the Fastify and Express glue can require scopes: a key lacking one is 403 naming it, one that has it passes', async () => {
    const userToken = await server.tokenFor(`verify-user-${++userCount}`);
    const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token: userToken, json: { name: 'scoped', scopes: ['tools:read'] } });
    assert.equal(created.status, 201);
    const verifier = await createKeyVerifier({ databaseUrl: server.databaseUrl });
    const fastify = Fastify();
    fastify.get('/read', { preHandler: keygateFastify(verifier, { scopes: ['tools:read'] }) }, async () => ({ ok: true }));
    fastify.get('/call', { preHandler: keygateFastify(verifier, { scopes: ['tools:call'] }) }, async () => ({ ok: true }));
    await fastify.listen({ host: '127.0.0.1', port: 0 });
    const app = express();
    app.get('/read', keygateExpress(verifier, { scopes: ['tools:read'] }), (_request, response) => void response.json({ ok: true }));
    app.get('/call', keygateExpress(verifier, { scopes: ['tools:read', 'tools:call'] }), (_request, response) => void response.json({ ok: true }));
    const listener = app.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    try {
      const headers = { 'x-api-key': created.body.api_key };
      for (const base of [`http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, `http://127.0.0.1:${(listener.address() as AddressInfo).port}`]) {
        assert.deepEqual((await call(base, 'GET', '/read', { headers })).body, { ok: true });
        const refused = await call(base, 'GET', '/call', { headers });
        assert.equal(refused.status, 403);
        assert.match(refused.body.detail, /^insufficient_scope: the key lacks the required scope tools:call$/);
      }
    } finally {
      listener.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
      await fastify.close();
      await verifier.close();
    }
  });
});
