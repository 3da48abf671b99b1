import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, keygateForTests, spawnKeygate, TEST_SECRET, type KeygateProcess, type RunningKeygate } from './support/keygate.js';

// Issue #11's grace rotation: POST .../rotate with {"grace_seconds": N} keeps the old secret
// working beside the new one for N seconds, on every process on the database, and not one
// verification longer; a second rotation ends an earlier grace at once.

const BASE = '/api/v1/api-keys';
const INVALID = { detail: 'Invalid API key' };
const ROTATED_FIELDS = ['key_id', 'message', 'new_api_key'];
const MAX_GRACE_SECONDS = 7 * 24 * 3600;

let userCount = 0;

interface TestKey {
  token: string;
  keyId: string;
  apiKey: string;
}

async function newKey(server: RunningKeygate): Promise<TestKey> {
  const token = await server.tokenFor(`grace-user-${++userCount}-${process.pid}`);
  const created = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'rotating key' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { token, keyId: created.body.key_id, apiKey: created.body.api_key };
}

const verify = (baseUrl: string, apiKey: string) => call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': apiKey } });

async function accepted(baseUrl: string, apiKey: string, keyId: string, what: string): Promise<void> {
  const answer = await verify(baseUrl, apiKey);
  assert.equal(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.key_id, keyId, what);
}

async function refused(baseUrl: string, apiKey: string, what: string): Promise<void> {
  const answer = await verify(baseUrl, apiKey);
  assert.equal(answer.status, 401, `${what}: ${JSON.stringify(answer.body)}`);
  assert.deepEqual(answer.body, INVALID, what);
}

/** Rotates with `body` (undefined: no body at all); the new key, once the answer is checked to be exactly the seed's. */
async function rotate(server: RunningKeygate, key: TestKey, body?: unknown): Promise<string> {
  const rotated = await call(server.baseUrl, 'POST', `${BASE}/${key.keyId}/rotate`, { token: key.token, json: body });
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.deepEqual(Object.keys(rotated.body).sort(), ROTATED_FIELDS);
  assert.equal(rotated.body.key_id, key.keyId);
  assert.notEqual(rotated.body.new_api_key, key.apiKey);
  return rotated.body.new_api_key;
}

const details = async (server: RunningKeygate, key: TestKey) => {
  const got = await call(server.baseUrl, 'GET', `${BASE}/${key.keyId}`, { token: key.token });
  assert.equal(got.status, 200, JSON.stringify(got.body));
  return got.body;
};

/** Waits until just past `iso` (a grace's end): a few ms of margin, no more. */
async function waitUntilPast(iso: string): Promise<void> {
  const wait = Date.parse(iso) - Date.now() + 50;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  assert.ok(Date.now() > Date.parse(iso));
}

describe('rotation with a grace period', () => {
  const server = keygateForTests();
  let second: KeygateProcess;
  before(async () => {
    second = await spawnKeygate({ DATABASE_URL: server.databaseUrl, KEYGATE_SECRET: TEST_SECRET }, server.folder);
  });
  after(async () => {
    await second?.stop();
  });

  test('during the grace both secrets verify, on both processes; GET shows when the old one stops', async () => {
    const key = await newKey(server);
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'before, here');
    await accepted(second.baseUrl, key.apiKey, key.keyId, 'before, there'); // warm on both
    const before = Date.now();
    const newKey_ = await rotate(server, key, { grace_seconds: 3600 });
    const afterwards = Date.now();
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      for (let i = 0; i < 3; i++) {
        await accepted(baseUrl, key.apiKey, key.keyId, `old secret during the grace (${baseUrl})`);
        await accepted(baseUrl, newKey_, key.keyId, `new secret during the grace (${baseUrl})`);
      }
    }
    const shown = await details(server, key);
    const ends = Date.parse(shown.previous_key_expires_at);
    assert.ok(ends >= before + 3600_000 - 1000 && ends <= afterwards + 3600_000 + 1000, shown.previous_key_expires_at);
    // The key is the same key: its name and expiry are kept.
    assert.equal(shown.name, 'rotating key');
  });

  test('a key never rotated, or rotated without a grace, shows no previous_key_expires_at', async () => {
    const key = await newKey(server);
    assert.equal((await details(server, key)).previous_key_expires_at, null);
    await rotate(server, key);
    assert.equal((await details(server, key)).previous_key_expires_at, null);
  });

  test('no body, an empty body and grace_seconds 0 all rotate at once, as before', async () => {
    for (const body of [undefined, {}, { grace_seconds: 0 }]) {
      const key = await newKey(server);
      await accepted(server.baseUrl, key.apiKey, key.keyId, 'warm');
      await accepted(second.baseUrl, key.apiKey, key.keyId, 'warm there');
      const fresh = await rotate(server, key, body);
      await refused(server.baseUrl, key.apiKey, `old secret right after a rotation with ${JSON.stringify(body)}`);
      await refused(second.baseUrl, key.apiKey, `old secret there, with ${JSON.stringify(body)}`);
      await accepted(server.baseUrl, fresh, key.keyId, 'new secret');
      await accepted(second.baseUrl, fresh, key.keyId, 'new secret there');
      assert.equal((await details(server, key)).previous_key_expires_at, null);
    }
  });

  test('a grace out of range or not an integer is a 422 in FastAPI\'s shape, and rotates nothing', async () => {
    const key = await newKey(server);
    for (const grace of [-1, MAX_GRACE_SECONDS + 1, 1.5, '60', true, [5], { seconds: 5 }]) {
      const answer = await call(server.baseUrl, 'POST', `${BASE}/${key.keyId}/rotate`, { token: key.token, json: { grace_seconds: grace } });
      assert.equal(answer.status, 422, `${JSON.stringify(grace)}: ${JSON.stringify(answer.body)}`);
      assert.ok(Array.isArray(answer.body.detail), JSON.stringify(answer.body));
      assert.deepEqual(answer.body.detail[0].loc, ['body', 'grace_seconds'], JSON.stringify(answer.body));
      assert.equal(typeof answer.body.detail[0].msg, 'string');
      assert.equal(typeof answer.body.detail[0].type, 'string');
    }
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'the key was not rotated');
    assert.equal((await details(server, key)).previous_key_expires_at, null);
  });

  test('grace_seconds null is refused as not an integer, as the documented integer schema says, and rotates nothing', async () => {
    const key = await newKey(server);
    const answer = await call(server.baseUrl, 'POST', `${BASE}/${key.keyId}/rotate`, { token: key.token, json: { grace_seconds: null } });
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.detail[0].loc, ['body', 'grace_seconds']);
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'the key was not rotated');
  });

  test('the longest grace (7 days) is accepted', async () => {
    const key = await newKey(server);
    const before = Date.now();
    const fresh = await rotate(server, key, { grace_seconds: MAX_GRACE_SECONDS });
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'old secret');
    await accepted(server.baseUrl, fresh, key.keyId, 'new secret');
    const ends = Date.parse((await details(server, key)).previous_key_expires_at);
    assert.ok(Math.abs(ends - (before + MAX_GRACE_SECONDS * 1000)) < 5000);
  });

  test('after a short grace the old secret fails on its very next verification, warm as it was', async () => {
    const key = await newKey(server);
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'warm');
    const fresh = await rotate(server, key, { grace_seconds: 2 });
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'old secret in its grace'); // warm as the previous secret
    await accepted(server.baseUrl, fresh, key.keyId, 'new secret in the grace');
    const { previous_key_expires_at: ends } = await details(server, key);
    assert.ok(ends !== null && Date.parse(ends) > Date.now());
    await waitUntilPast(ends);
    await refused(server.baseUrl, key.apiKey, 'old secret once the grace is over');
    await refused(server.baseUrl, key.apiKey, 'and again');
    await accepted(server.baseUrl, fresh, key.keyId, 'the new secret keeps working');
    assert.equal((await details(server, key)).previous_key_expires_at, null, 'no grace shown once it is over');
  });

  test('another process that had the old secret warm refuses it once the grace is over', async () => {
    const key = await newKey(server);
    await accepted(second.baseUrl, key.apiKey, key.keyId, 'warm there');
    const fresh = await rotate(server, key, { grace_seconds: 2 });
    await accepted(second.baseUrl, key.apiKey, key.keyId, 'old secret there, in its grace');
    await accepted(second.baseUrl, fresh, key.keyId, 'new secret there');
    const { previous_key_expires_at: ends } = await details(server, key);
    await waitUntilPast(ends);
    await refused(second.baseUrl, key.apiKey, 'old secret there, once the grace is over');
    await refused(server.baseUrl, key.apiKey, 'old secret here too');
    await accepted(second.baseUrl, fresh, key.keyId, 'new secret there');
  });

  test('another process warm with the old secret from before the rotation, untouched during the grace, refuses it after', async () => {
    const key = await newKey(server);
    await accepted(second.baseUrl, key.apiKey, key.keyId, 'warm there, as the current secret');
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'warm here, as the current secret');
    const fresh = await rotate(server, key, { grace_seconds: 1 });
    const { previous_key_expires_at: ends } = await details(server, key);
    await waitUntilPast(ends);
    await refused(second.baseUrl, key.apiKey, 'old secret there, first use after the grace');
    await refused(server.baseUrl, key.apiKey, 'old secret here, first use after the grace');
    await accepted(second.baseUrl, fresh, key.keyId, 'new secret there');
  });

  test('a second rotation during a grace ends the first grace at once; with a grace of its own the second secret keeps working', async () => {
    const key = await newKey(server);
    const secondSecret = await rotate(server, key, { grace_seconds: 3600 });
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      await accepted(baseUrl, key.apiKey, key.keyId, 'first secret in its grace'); // warm as the previous secret
      await accepted(baseUrl, secondSecret, key.keyId, 'second secret');
    }
    const before = Date.now();
    const thirdSecret = await rotate(server, key, { grace_seconds: 3600 });
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      await refused(baseUrl, key.apiKey, `first secret, its grace ended by the second rotation (${baseUrl})`);
      await accepted(baseUrl, secondSecret, key.keyId, `second secret, in the second rotation's grace (${baseUrl})`);
      await accepted(baseUrl, thirdSecret, key.keyId, `third secret (${baseUrl})`);
    }
    const ends = Date.parse((await details(server, key)).previous_key_expires_at);
    assert.ok(ends >= before + 3600_000 - 1000, 'the grace shown is the second rotation\'s');
  });

  test('a second rotation without a grace ends the first grace and the second secret at once', async () => {
    const key = await newKey(server);
    const secondSecret = await rotate(server, key, { grace_seconds: 3600 });
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      await accepted(baseUrl, key.apiKey, key.keyId, 'first secret in its grace');
      await accepted(baseUrl, secondSecret, key.keyId, 'second secret');
    }
    const thirdSecret = await rotate(server, key);
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      await refused(baseUrl, key.apiKey, `first secret (${baseUrl})`);
      await refused(baseUrl, secondSecret, `second secret (${baseUrl})`);
      await accepted(baseUrl, thirdSecret, key.keyId, `third secret (${baseUrl})`);
    }
    assert.equal((await details(server, key)).previous_key_expires_at, null);
  });

  test('a revoke during a grace ends both secrets at once', async () => {
    const key = await newKey(server);
    const fresh = await rotate(server, key, { grace_seconds: 3600 });
    await accepted(second.baseUrl, key.apiKey, key.keyId, 'old secret there');
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'old secret here');
    assert.equal((await call(server.baseUrl, 'DELETE', `${BASE}/${key.keyId}`, { token: key.token })).status, 204);
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      await refused(baseUrl, key.apiKey, 'old secret after the revoke');
      await refused(baseUrl, fresh, 'new secret after the revoke');
    }
  });
});

describe('rotation with KEYGATE_MAX_GRACE_SECONDS set', () => {
  const server = keygateForTests({ KEYGATE_MAX_GRACE_SECONDS: '60' });

  test('the configured maximum is accepted, one more second is not', async () => {
    const key = await newKey(server);
    const tooLong = await call(server.baseUrl, 'POST', `${BASE}/${key.keyId}/rotate`, { token: key.token, json: { grace_seconds: 61 } });
    assert.equal(tooLong.status, 422, JSON.stringify(tooLong.body));
    assert.deepEqual(tooLong.body.detail[0].loc, ['body', 'grace_seconds']);
    assert.match(tooLong.body.detail[0].msg, /60/);
    const fresh = await rotate(server, key, { grace_seconds: 60 });
    await accepted(server.baseUrl, key.apiKey, key.keyId, 'old secret');
    await accepted(server.baseUrl, fresh, key.keyId, 'new secret');
  });
});
