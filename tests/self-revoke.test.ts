import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, keygateForTests, spawnKeygate, TEST_SECRET, type KeygateProcess } from './support/keygate.js';
import { forgedKey, unknownKey } from './support/keys.js';

// POST /api/v1/api-keys/self-revoke: whoever holds a key can kill it, with the key as its only
// proof, and the very next verification anywhere refuses it.

const BASE = '/api/v1/api-keys';
const INVALID = { detail: 'Invalid API key' };

describe('POST /api/v1/api-keys/self-revoke', () => {
  const server = keygateForTests();
  let other: KeygateProcess;
  let users = 0;

  before(async () => {
    other = await spawnKeygate({ DATABASE_URL: server.databaseUrl, KEYGATE_SECRET: TEST_SECRET }, server.folder);
  });
  after(async () => {
    await other?.stop();
  });

  async function newKey(json: Record<string, unknown> = {}) {
    const token = await server.tokenFor(`self-revoke-${++users}`);
    const created = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'leaky', ...json } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return { token, keyId: created.body.key_id as string, apiKey: created.body.api_key as string };
  }
  const verify = (baseUrl: string, apiKey: string) => call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': apiKey } });
  const selfRevoke = (baseUrl: string, headers: Record<string, string>) => call(baseUrl, 'POST', `${BASE}/self-revoke`, { headers });

  test('the key is revoked by whoever presents it: 204, then 401 at the next verification on every process, and gone from its owner\'s list', async () => {
    const key = await newKey();
    // Warm on both processes first, so that the refusal after is not just a cold read.
    assert.equal((await verify(server.baseUrl, key.apiKey)).status, 200);
    assert.equal((await verify(other.baseUrl, key.apiKey)).status, 200);
    assert.equal((await selfRevoke(other.baseUrl, { authorization: `ApiKey ${key.apiKey}` })).status, 204);
    assert.deepEqual((await verify(server.baseUrl, key.apiKey)).body, INVALID);
    assert.deepEqual((await verify(other.baseUrl, key.apiKey)).body, INVALID);
    assert.deepEqual((await call(server.baseUrl, 'GET', `${BASE}/`, { token: key.token })).body, []);
    // Once revoked, it is a key like any unknown one.
    const again = await selfRevoke(server.baseUrl, { 'x-api-key': key.apiKey });
    assert.equal(again.status, 401);
    assert.deepEqual(again.body, INVALID);
  });

  test('a forged, unknown or mistyped key is 401 with the one detail and revokes nothing; no key is 400', async () => {
    const key = await newKey();
    const misspelt = key.apiKey.slice(0, -1) + (key.apiKey.endsWith('0') ? '1' : '0');
    for (const presented of [forgedKey(key.keyId), unknownKey(), misspelt, 'garbage']) {
      const response = await selfRevoke(server.baseUrl, { 'x-api-key': presented });
      assert.equal(response.status, 401, presented);
      assert.deepEqual(response.body, INVALID);
    }
    assert.equal((await selfRevoke(server.baseUrl, {})).status, 400);
    assert.equal((await verify(server.baseUrl, key.apiKey)).status, 200, 'the real key still works');
  });

  test('a disabled key can be revoked by its holder, and so can a whole key through its old secret during a grace', async () => {
    const disabled = await newKey({ status: 'disabled' });
    assert.equal((await selfRevoke(server.baseUrl, { 'x-api-key': disabled.apiKey })).status, 204);
    assert.equal((await call(server.baseUrl, 'GET', `${BASE}/${disabled.keyId}`, { token: disabled.token })).status, 404);

    const rotating = await newKey();
    const rotated = await call(server.baseUrl, 'POST', `${BASE}/${rotating.keyId}/rotate`, { token: rotating.token, json: { grace_seconds: 3600 } });
    assert.equal(rotated.status, 200);
    assert.equal((await selfRevoke(server.baseUrl, { 'x-api-key': rotating.apiKey })).status, 204, 'the old secret still proves the key');
    assert.deepEqual((await verify(server.baseUrl, rotated.body.new_api_key)).body, INVALID, 'the whole key is gone');
  });
});
