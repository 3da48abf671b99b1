import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import {
  assertInsufficientScope,
  challengedScopes,
  CREATE_FIELDS,
  DETAILS_FIELDS,
  INVALID,
  LIST_FIELDS,
  metadataOfBytes,
  nested,
  relabelled,
  ROTATE_FIELDS,
  VERIFIED_FIELDS,
  verifyOn,
  type VerifyOptions,
} from './support/authority.js';
import { call, keygateForTests, spawnKeygate, TEST_SECRET, type JsonResponse, type KeygateProcess } from './support/keygate.js';
import { unknownKey } from './support/keys.js';

// What keys carry since issue #11 (scopes, metadata, status, environment, rate_limit), over
// real HTTP: create and PATCH them, GET them back, and verification honouring them at the very
// next request, in this process and in another one on the same database. Quotas and grace
// rotations have tests of their own.

const DAY_MS = 86_400_000;
const EXCHANGE = { KEYGATE_EXCHANGE_ISSUER: 'https://keygate.test', KEYGATE_EXCHANGE_AUDIENCE: 'authority-tests' };
const server = keygateForTests({ KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '100', ...EXCHANGE });

let userCount = 0;

/** A fresh user for each test: tests share the server, never a key list. */
async function newUser(): Promise<{ id: string; token: string }> {
  const id = `authority-user-${++userCount}`;
  return { id, token: await server.tokenFor(id) };
}

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) => call(server.baseUrl, method, path, options);

async function createKey(token: string, json: unknown = { name: 'a key' }): Promise<any> {
  const response = await api('POST', '/api/v1/api-keys/', { token, json });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

const getKey = (token: string, keyId: string) => api('GET', `/api/v1/api-keys/${keyId}`, { token });
const listKeys = async (token: string) => (await api('GET', '/api/v1/api-keys/', { token })).body;
const patchKey = (token: string, keyId: string, json: unknown, headers: Record<string, string> = {}) =>
  api('PATCH', `/api/v1/api-keys/${keyId}`, { token, json, headers });

/** PATCH that must succeed; its answer, which GET must then show too. */
async function patched(token: string, keyId: string, json: unknown): Promise<any> {
  const response = await patchKey(token, keyId, json);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  assert.deepEqual(Object.keys(response.body).sort(), DETAILS_FIELDS);
  // But last_used, which a verification's write-behind may have flushed in between.
  const { last_used: _read, ...read } = (await getKey(token, keyId)).body;
  const { last_used: _answered, ...answered } = response.body;
  assert.deepEqual(read, answered, 'GET shows what PATCH answered');
  return response.body;
}

const verify = (apiKey: string, options?: VerifyOptions, baseUrl = server.baseUrl) => verifyOn(baseUrl, 'verify', apiKey, options);

/** The 422's issue at `loc`, checked to be FastAPI-shaped. */
function issueAt(response: JsonResponse, loc: (string | number)[]): { loc: unknown; msg: string; type: string } {
  assert.equal(response.status, 422, JSON.stringify(response.body));
  assert.ok(Array.isArray(response.body.detail), JSON.stringify(response.body));
  for (const issue of response.body.detail) {
    assert.deepEqual(Object.keys(issue).sort(), ['loc', 'msg', 'type']);
    assert.equal(typeof issue.msg, 'string');
    assert.ok(issue.msg.length > 0);
  }
  const issue = response.body.detail.find((entry: { loc: unknown }) => JSON.stringify(entry.loc) === JSON.stringify(loc));
  assert.ok(issue, `an issue at ${JSON.stringify(loc)} in ${JSON.stringify(response.body)}`);
  return issue;
}

/** The claims of an exchanged token, verified against the server's JWKS. */
async function claimsOf(baseUrl: string, accessToken: string): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(`${baseUrl}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(accessToken, jwks, { issuer: EXCHANGE.KEYGATE_EXCHANGE_ISSUER, audience: EXCHANGE.KEYGATE_EXCHANGE_AUDIENCE, algorithms: ['EdDSA'] });
  return payload;
}

const FULL_SETTINGS = {
  scopes: ['tools:read', 'tools:write', 'files.v2_export-all', 'tools:read'],
  metadata: { team: 'billing', plan: { tier: 'pro', seats: 12, flags: [true, null, 1.5] }, 'ünïcødé ✓': 'yes' },
  status: 'active',
  environment: 'test',
  rate_limit: 7,
};

describe('create and read the new fields', () => {
  test('flat: every new field is kept; the 201 has exactly the seed fields; GET shows them all', async () => {
    const { id, token } = await newUser();
    const before = Date.now();
    const response = await api('POST', '/api/v1/api-keys/', { token, json: { name: '  Full key  ', expires_days: 30, ...FULL_SETTINGS } });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    const created = response.body;
    assert.deepEqual(Object.keys(created).sort(), CREATE_FIELDS, 'no new field leaks into the seed answer');
    assert.match(created.api_key, new RegExp(`^mcpkey_test_${created.key_id}_[0-9A-Za-z]{54}$`));
    assert.equal(created.name, 'Full key');

    const details = await getKey(token, created.key_id);
    assert.equal(details.status, 200, JSON.stringify(details.body));
    assert.deepEqual(Object.keys(details.body).sort(), DETAILS_FIELDS);
    assert.deepEqual(details.body, {
      key_id: created.key_id,
      user_id: id,
      name: 'Full key',
      environment: 'test',
      status: 'active',
      scopes: ['tools:read', 'tools:write', 'files.v2_export-all'], // the duplicate once
      metadata: FULL_SETTINGS.metadata,
      rate_limit: 7,
      quota: null,
      created: created.created,
      expires_at: created.expires_at,
      last_used: null,
      previous_key_expires_at: null,
    });
    assert.equal(JSON.stringify(details.body.metadata), JSON.stringify(FULL_SETTINGS.metadata), 'metadata as given, members in order');
    assert.equal(JSON.stringify((await verify(created.api_key)).body.metadata), JSON.stringify(FULL_SETTINGS.metadata));
    assert.ok(Date.parse(details.body.created) >= before - 1000);
    assert.equal(Date.parse(details.body.expires_at) - Date.parse(details.body.created), 30 * DAY_MS);
    assert.ok(!JSON.stringify(details.body).includes(created.api_key), 'GET never shows the key');

    const [listed, ...others] = await listKeys(token);
    assert.equal(others.length, 0);
    assert.deepEqual(Object.keys(listed).sort(), LIST_FIELDS);
    assert.deepEqual(listed, { key_id: created.key_id, name: 'Full key', created: created.created, expires_at: created.expires_at, last_used: null });

    const rotated = await api('POST', `/api/v1/api-keys/${created.key_id}/rotate`, { token });
    assert.equal(rotated.status, 200);
    assert.deepEqual(Object.keys(rotated.body).sort(), ROTATE_FIELDS);
    const afterRotate = (await getKey(token, created.key_id)).body;
    assert.deepEqual({ ...afterRotate, last_used: null }, { ...details.body, last_used: null }, 'a rotation keeps every setting');
  });

  test('embedded under request (with credentials: null, as generated clients send it): the same fields, the same answer', async () => {
    const { id, token } = await newUser();
    const response = await api('POST', '/api/v1/api-keys/', {
      token,
      json: {
        request: { name: 'embedded', expires_days: 10, scopes: ['mail:send'], metadata: { owner: 'ops' }, status: 'disabled', environment: 'live', rate_limit: 3 },
        credentials: null,
      },
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.deepEqual(Object.keys(response.body).sort(), CREATE_FIELDS);
    assert.match(response.body.api_key, /^mcpkey_live_/);
    const details = (await getKey(token, response.body.key_id)).body;
    assert.deepEqual(
      { user_id: details.user_id, name: details.name, environment: details.environment, status: details.status, scopes: details.scopes, metadata: details.metadata, rate_limit: details.rate_limit, quota: details.quota },
      { user_id: id, name: 'embedded', environment: 'live', status: 'disabled', scopes: ['mail:send'], metadata: { owner: 'ops' }, rate_limit: 3, quota: null },
    );
    // Created disabled: refused as an unknown key from its very first verification.
    const refused = await verify(response.body.api_key);
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.body, INVALID);
  });

  test('without the new fields a key is live, active, unscoped, without metadata or limits of its own', async () => {
    const { token } = await newUser();
    const created = await createKey(token, { name: 'plain' });
    assert.match(created.api_key, /^mcpkey_live_/);
    const details = (await getKey(token, created.key_id)).body;
    assert.deepEqual(
      [details.environment, details.status, details.scopes, details.metadata, details.rate_limit, details.quota, details.previous_key_expires_at],
      ['live', 'active', [], {}, null, null, null],
    );
  });

  test('the limits themselves are accepted: 50 scopes of 100 characters, 4096 bytes and 16 levels of metadata, rate_limit 1', async () => {
    const { token } = await newUser();
    const scopes = Array.from({ length: 50 }, (_, i) => `${String(i).padStart(2, '0')}${'s'.repeat(98)}`);
    const wide = await createKey(token, { name: 'wide', scopes, metadata: metadataOfBytes(4096, 'é'), rate_limit: 1 });
    const details = (await getKey(token, wide.key_id)).body;
    assert.deepEqual(details.scopes, scopes);
    assert.deepEqual(details.metadata, metadataOfBytes(4096, 'é'));
    assert.equal(details.rate_limit, 1);
    const deep = await createKey(token, { request: { name: 'deep', metadata: nested(16), rate_limit: 1_000_000 } });
    assert.deepEqual((await getKey(token, deep.key_id)).body.metadata, nested(16));
  });

  test('GET answers 404 alike for an unknown key_id and for another user\'s key', async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const key = await createKey(owner.token, { name: 'mine', scopes: ['secret:thing'] });
    const answers = [
      await getKey(stranger.token, key.key_id),
      await getKey(owner.token, 'AAAAAAAAAAAA'),
      await getKey(owner.token, 'not-a-key-id'),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 404);
      assert.deepEqual(answer.body, answers[0]!.body);
      assert.ok(!JSON.stringify(answer.body).includes('secret:thing'));
    }
    assert.equal((await getKey(owner.token, key.key_id)).status, 200);
  });
});

describe('refused settings', () => {
  const fiftyOne = Array.from({ length: 51 }, (_, i) => `scope-${i}`);
  /** [what, fields, loc inside the body, type]: refused alike by create and by PATCH. */
  const badSettings: [string, Record<string, unknown>, (string | number)[], string][] = [
    ['a scope with a space', { scopes: ['files:read', 'bad scope'] }, ['scopes', 1], 'string_pattern_mismatch'],
    ['a scope of 101 characters', { scopes: ['s'.repeat(101)] }, ['scopes', 0], 'string_pattern_mismatch'],
    ['an empty scope', { scopes: [''] }, ['scopes', 0], 'string_pattern_mismatch'],
    ['a scope with a non-ASCII letter', { scopes: ['fichiers:é'] }, ['scopes', 0], 'string_pattern_mismatch'],
    ['a scope that is a number', { scopes: [7] }, ['scopes', 0], 'string_type'],
    ['51 scopes', { scopes: fiftyOne }, ['scopes'], 'too_long'],
    ['scopes that are a string', { scopes: 'files:read' }, ['scopes'], 'list_type'],
    ['scopes that are an object', { scopes: { 0: 'files:read' } }, ['scopes'], 'list_type'],
    ['metadata that is an array', { metadata: ['team', 'billing'] }, ['metadata'], 'dict_type'],
    ['metadata that is a string', { metadata: 'team=billing' }, ['metadata'], 'dict_type'],
    ['metadata of 4097 bytes', { metadata: metadataOfBytes(4097) }, ['metadata'], 'too_long'],
    ['metadata of 4097 bytes in UTF-8 (2,045 characters)', { metadata: metadataOfBytes(4097, 'é') }, ['metadata'], 'too_long'],
    ['metadata 17 levels deep', { metadata: nested(17) }, ['metadata'], 'too_deep'],
    ['metadata with arrays 17 levels deep', { metadata: { a: JSON.parse('['.repeat(16) + ']'.repeat(16)) } }, ['metadata'], 'too_deep'],
    ['metadata with a lone surrogate in a string', { metadata: { ok: 'fine', bad: { text: 'lone\ud800' } } }, ['metadata', 'bad', 'text'], 'string_unicode'],
    ['a status of paused', { status: 'paused' }, ['status'], 'enum'],
    ['a status in capitals', { status: 'DISABLED' }, ['status'], 'enum'],
    ['a rate_limit of 0', { rate_limit: 0 }, ['rate_limit'], 'greater_than_equal'],
    ['a negative rate_limit', { rate_limit: -5 }, ['rate_limit'], 'greater_than_equal'],
    ['a rate_limit of 1.5', { rate_limit: 1.5 }, ['rate_limit'], 'int_type'],
    ['a rate_limit of "5"', { rate_limit: '5' }, ['rate_limit'], 'int_type'],
    ['a rate_limit of true', { rate_limit: true }, ['rate_limit'], 'int_type'],
    ['a rate_limit above 1000000', { rate_limit: 1_000_001 }, ['rate_limit'], 'less_than_equal'],
  ];
  const badOnCreateOnly: typeof badSettings = [
    ['an environment of prod', { environment: 'prod' }, ['environment'], 'enum'],
    ['an environment in capitals', { environment: 'TEST' }, ['environment'], 'enum'],
  ];

  for (const [what, fields, loc, type] of [...badSettings, ...badOnCreateOnly]) {
    test(`create with ${what}, flat and embedded: 422 ${type} at ${loc.join('.')}, nothing written`, async () => {
      const { token } = await newUser();
      const flat = await api('POST', '/api/v1/api-keys/', { token, json: { name: 'refused', ...fields } });
      assert.equal(issueAt(flat, ['body', ...loc]).type, type, JSON.stringify(flat.body));
      const embedded = await api('POST', '/api/v1/api-keys/', { token, json: { request: { name: 'refused', ...fields }, credentials: null } });
      assert.equal(issueAt(embedded, ['body', 'request', ...loc]).type, type, JSON.stringify(embedded.body));
      assert.deepEqual(await listKeys(token), []);
    });
  }

  for (const [what, fields, loc, type] of badSettings) {
    test(`PATCH with ${what}: 422 ${type} at ${loc.join('.')}, the key unchanged`, async () => {
      const { token } = await newUser();
      const key = await createKey(token, { name: 'kept', scopes: ['files:read'], metadata: { keep: true }, rate_limit: 9 });
      const before = (await getKey(token, key.key_id)).body;
      const listedBefore = await listKeys(token);
      // With a valid change beside the bad one: a refused patch changes nothing at all.
      const response = await patchKey(token, key.key_id, { name: 'changed', ...fields });
      assert.equal(issueAt(response, ['body', ...loc]).type, type, JSON.stringify(response.body));
      assert.deepEqual((await getKey(token, key.key_id)).body, before);
      assert.deepEqual(await listKeys(token), listedBefore);
    });
  }

  test('a hostile PATCH nesting metadata as deep as 16 KiB allows is refused as input (422), not a 500', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'target', metadata: { a: { b: 1 } } });
    const before = (await getKey(token, key.key_id)).body;
    const headers = { 'content-type': 'application/json' };
    // 2,500 levels of objects (15 KB), each merged into the key's own metadata; and 8,000 of arrays.
    const deepObjects = `{"metadata":${'{"a":'.repeat(2500)}1${'}'.repeat(2500)}}`;
    const deepArrays = `{"metadata":{"a":${'['.repeat(8000)}${']'.repeat(8000)}}}`;
    for (const rawBody of [deepObjects, deepArrays]) {
      assert.ok(rawBody.length < 16 * 1024);
      const response = await api('PATCH', `/api/v1/api-keys/${key.key_id}`, { token, rawBody, headers });
      assert.equal(issueAt(response, ['body', 'metadata']).type, 'too_deep');
      const created = await api('POST', '/api/v1/api-keys/', { token, rawBody: `{"name":"deep",${rawBody.slice(1)}`, headers });
      assert.equal(issueAt(created, ['body', 'metadata']).type, 'too_deep');
    }
    // 10,000 levels: past the body limit, so a 4xx of its own; never a 500.
    const tenThousand = `{"metadata":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
    const huge = await api('PATCH', `/api/v1/api-keys/${key.key_id}`, { token, rawBody: tenThousand, headers });
    assert.ok(huge.status >= 400 && huge.status < 500, `${huge.status} ${JSON.stringify(huge.body)}`);
    assert.equal(typeof huge.body.detail, huge.status === 422 ? 'object' : 'string');
    assert.deepEqual((await getKey(token, key.key_id)).body, before);
    assert.equal((await verify(key.api_key)).status, 200, 'the server is fine');
  });
});

describe('PATCH', () => {
  test('each field changes, and GET, list and /verify show it', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'before' });
    const original = (await getKey(token, key.key_id)).body;

    assert.equal((await patched(token, key.key_id, { name: '  Renamed key  ' })).name, 'Renamed key');
    // A time with an offset is stored as the same instant, in UTC.
    const at = new Date(Math.floor((Date.now() + 10 * DAY_MS) / 1000) * 1000);
    const withOffset = `${new Date(at.getTime() + 2 * 3_600_000).toISOString().slice(0, 19)}+02:00`;
    assert.equal((await patched(token, key.key_id, { expires_at: withOffset })).expires_at, at.toISOString());
    assert.deepEqual((await patched(token, key.key_id, { scopes: ['tools:read', 'mail:send'] })).scopes, ['tools:read', 'mail:send']);
    assert.deepEqual((await patched(token, key.key_id, { metadata: { team: 'ops' } })).metadata, { team: 'ops' });
    assert.equal((await patched(token, key.key_id, { rate_limit: 50 })).rate_limit, 50);
    assert.equal((await patched(token, key.key_id, { status: 'disabled' })).status, 'disabled');
    const last = await patched(token, key.key_id, { status: 'active' });

    assert.deepEqual(last, {
      ...original,
      name: 'Renamed key',
      expires_at: at.toISOString(),
      scopes: ['tools:read', 'mail:send'],
      metadata: { team: 'ops' },
      rate_limit: 50,
      status: 'active',
      last_used: last.last_used,
    });
    assert.deepEqual(await listKeys(token), [
      { key_id: key.key_id, name: 'Renamed key', created: key.created, expires_at: at.toISOString(), last_used: last.last_used },
    ]);
    const verified = await verify(key.api_key);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.name, 'Renamed key');
    assert.equal(verified.body.expires_at, at.toISOString());
    assert.deepEqual(verified.body.scopes, ['tools:read', 'mail:send']);
    assert.deepEqual(verified.body.metadata, { team: 'ops' });
  });

  test('several fields at once, in one patch', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'one' });
    const changed = await patched(token, key.key_id, { name: 'two', scopes: ['a:b'], metadata: { x: [1] }, status: 'disabled', rate_limit: 4 });
    assert.deepEqual([changed.name, changed.scopes, changed.metadata, changed.status, changed.rate_limit], ['two', ['a:b'], { x: [1] }, 'disabled', 4]);
  });

  test('metadata merges as RFC 7396 says: null removes a member, objects merge, arrays and values replace', async () => {
    const { token } = await newUser();
    const key = await createKey(token, {
      name: 'merge',
      metadata: { a: 1, b: { c: 2, d: 3 }, list: [1, 2, 3], keep: 'kept', gone: { deep: true } },
    });
    const merged = await patched(token, key.key_id, {
      metadata: { a: null, b: { c: null, e: 4 }, list: [9], added: { x: { y: 'z' } }, gone: null, missing: null },
    });
    assert.deepEqual(merged.metadata, { b: { d: 3, e: 4 }, list: [9], keep: 'kept', added: { x: { y: 'z' } } });
    // An object replacing a scalar, a scalar replacing an object.
    assert.deepEqual((await patched(token, key.key_id, { metadata: { keep: { now: 'object' }, b: 'flat' } })).metadata, {
      b: 'flat',
      list: [9],
      keep: { now: 'object' },
      added: { x: { y: 'z' } },
    });
    assert.deepEqual((await verify(key.api_key)).body.metadata, { b: 'flat', list: [9], keep: { now: 'object' }, added: { x: { y: 'z' } } });
    // The merge result is what is bounded: a small patch onto large metadata can be too big.
    const big = await patched(token, key.key_id, { metadata: { pad: 'p'.repeat(3900) } });
    const tooBig = await patchKey(token, key.key_id, { metadata: { more: 'm'.repeat(300) } });
    assert.equal(issueAt(tooBig, ['body', 'metadata']).type, 'too_long');
    assert.deepEqual((await getKey(token, key.key_id)).body, big);
    assert.deepEqual((await patched(token, key.key_id, { metadata: null })).metadata, {});
  });

  test('null resets a setting to its default', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'reset', scopes: ['x:y'], metadata: { m: 1 }, status: 'disabled', rate_limit: 5 });
    const reset = await patched(token, key.key_id, { scopes: null, metadata: null, status: null, rate_limit: null });
    assert.deepEqual([reset.scopes, reset.metadata, reset.status, reset.rate_limit, reset.quota], [[], {}, 'active', null, null]);
    assert.equal(reset.name, 'reset', 'what the patch does not name is kept');
    assert.equal((await verify(key.api_key)).status, 200, 'active again');
  });

  test('application/merge-patch+json is the same patch', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'typed', metadata: { a: 1, b: 2 } });
    for (const contentType of ['application/merge-patch+json', 'application/merge-patch+json; charset=utf-8']) {
      const response = await patchKey(token, key.key_id, { metadata: { a: null, c: contentType.length }, scopes: ['s:1'] }, { 'content-type': contentType });
      assert.equal(response.status, 200, `${contentType}: ${JSON.stringify(response.body)}`);
      assert.deepEqual(response.body.metadata, { b: 2, c: contentType.length });
      assert.deepEqual(response.body.scopes, ['s:1']);
    }
    const refused = await patchKey(token, key.key_id, { rate_limit: 0 }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(issueAt(refused, ['body', 'rate_limit']).type, 'greater_than_equal');
    const plain = await api('PATCH', `/api/v1/api-keys/${key.key_id}`, { token, rawBody: 'name=x', headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.status, 415);
    assert.equal((await getKey(token, key.key_id)).body.name, 'typed');
  });

  const badPatches: [string, unknown, (string | number)[], string][] = [
    ['an empty name', { name: '' }, ['body', 'name'], 'string_too_short'],
    ['a blank name', { name: '   ' }, ['body', 'name'], 'string_too_short'],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, ['body', 'name'], 'string_too_long'],
    ['a name that is a number', { name: 42 }, ['body', 'name'], 'string_type'],
    ['an expires_at in the past', { expires_at: new Date(Date.now() - 60_000).toISOString() }, ['body', 'expires_at'], 'greater_than'],
    ['an expires_at beyond the maximum days', { expires_at: new Date(Date.now() + 3651 * DAY_MS).toISOString() }, ['body', 'expires_at'], 'less_than_equal'],
    ['an expires_at that is no date', { expires_at: 'next tuesday' }, ['body', 'expires_at'], 'datetime_type'],
    ['an expires_at without a time zone', { expires_at: '2030-01-01T00:00:00' }, ['body', 'expires_at'], 'datetime_type'],
    ['environment, which never changes', { environment: 'test' }, ['body', 'environment'], 'extra_forbidden'],
    ['a misspelt field', { scope: ['a'] }, ['body', 'scope'], 'extra_forbidden'],
    ['key_id', { key_id: 'AAAAAAAAAAAA' }, ['body', 'key_id'], 'extra_forbidden'],
    ['user_id', { user_id: 'someone-else' }, ['body', 'user_id'], 'extra_forbidden'],
    ['a JSON array', [{ name: 'x' }], ['body'], 'dict_type'],
    ['a JSON string', 'name', ['body'], 'dict_type'],
  ];
  for (const [what, json, loc, type] of badPatches) {
    test(`PATCH with ${what}: 422 ${type}, the key unchanged`, async () => {
      const { token } = await newUser();
      const key = await createKey(token, { name: 'unchanged', scopes: ['k:1'] });
      const before = (await getKey(token, key.key_id)).body;
      const response = await api('PATCH', `/api/v1/api-keys/${key.key_id}`, {
        token,
        rawBody: JSON.stringify(json),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(issueAt(response, loc).type, type, JSON.stringify(response.body));
      assert.deepEqual((await getKey(token, key.key_id)).body, before);
    });
  }

  test('a PATCH without a body is 422, and changes nothing', async () => {
    const { token } = await newUser();
    const key = await createKey(token);
    const before = (await getKey(token, key.key_id)).body;
    const response = await api('PATCH', `/api/v1/api-keys/${key.key_id}`, { token });
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.deepEqual(response.body.detail[0].loc, ['body']);
    assert.deepEqual((await getKey(token, key.key_id)).body, before);
  });

  test('another user\'s key and an unknown key_id are 404 alike, and nothing changes', async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const key = await createKey(owner.token, { name: 'owned', scopes: ['owner:only'] });
    assert.equal((await verify(key.api_key)).status, 200);
    const before = (await getKey(owner.token, key.key_id)).body;
    const attempts = [
      await patchKey(stranger.token, key.key_id, { status: 'disabled', scopes: [], name: 'hijacked' }),
      await patchKey(stranger.token, key.key_id, { rate_limit: 1 }, { 'content-type': 'application/merge-patch+json' }),
      await patchKey(owner.token, 'AAAAAAAAAAAA', { name: 'nobody' }),
      await patchKey(owner.token, 'not-a-key-id', { name: 'nobody' }),
    ];
    for (const answer of attempts) {
      assert.equal(answer.status, 404, JSON.stringify(answer.body));
      assert.deepEqual(answer.body, attempts[0]!.body);
    }
    assert.deepEqual((await getKey(owner.token, key.key_id)).body, before);
    const verified = await verify(key.api_key, { query: ['owner:only'] });
    assert.equal(verified.status, 200, 'still active, still scoped, not limited to 1 a minute');
    assert.equal((await verify(key.api_key)).status, 200);
  });

  test('a key_id longer than a key_id can be is 422 naming the path parameter', async () => {
    const { token } = await newUser();
    for (const method of ['GET', 'PATCH']) {
      const response = await api(method, `/api/v1/api-keys/${'k'.repeat(65)}`, { token, json: method === 'PATCH' ? { name: 'x' } : undefined });
      assert.equal(issueAt(response, ['path', 'key_id']).type, 'string_too_long', method);
    }
  });
});

describe('disable and enable', () => {
  test('disabled: the very next /verify, /validate and forward-auth refuse it exactly as an unknown key; enabled: 200 again', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'switch' });
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      assert.equal((await verifyOn(server.baseUrl, route, key.api_key)).status, 200, `${route} warm`);
    }
    await patched(token, key.key_id, { status: 'disabled' });
    const stranger = unknownKey();
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      for (const as of ['x-api-key', 'bearer'] as const) {
        const disabled = await verifyOn(server.baseUrl, route, key.api_key, { as });
        const unknown = await verifyOn(server.baseUrl, route, stranger, { as });
        assert.equal(disabled.status, 401, `${route} ${as}`);
        assert.deepEqual(disabled.body, INVALID, `${route} ${as}`);
        assert.deepEqual(
          [disabled.status, disabled.body, disabled.headers.get('www-authenticate')],
          [unknown.status, unknown.body, unknown.headers.get('www-authenticate')],
          `${route} ${as}: nothing tells a disabled key from an unknown one`,
        );
      }
    }
    // A requirement changes nothing: a disabled key is no key, so no 403 tells it exists.
    const scoped = await verify(key.api_key, { query: ['files:read'], as: 'bearer' });
    assert.deepEqual([scoped.status, scoped.body], [401, INVALID]);
    // Disabled, not deleted: listed, and still counted in the user's keys.
    assert.deepEqual((await listKeys(token)).map((listed: { key_id: string }) => listed.key_id), [key.key_id]);

    await patched(token, key.key_id, { status: 'active' });
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      assert.equal((await verifyOn(server.baseUrl, route, key.api_key)).status, 200, `${route} after enable`);
    }
  });

  test('a disabled key rotated stays disabled under its new secret until enabled', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'rotate while off', status: 'disabled' });
    const rotated = await api('POST', `/api/v1/api-keys/${key.key_id}/rotate`, { token });
    assert.equal(rotated.status, 200);
    assert.deepEqual((await verify(rotated.body.new_api_key)).body, INVALID);
    await patched(token, key.key_id, { status: 'active' });
    assert.equal((await verify(rotated.body.new_api_key)).status, 200);
    assert.deepEqual((await verify(key.api_key)).body, INVALID, 'the old secret is gone all the same');
  });
});

describe('required scopes', () => {
  const GRANTED = ['files:read', 'mail:send', 'admin.keys'];

  async function scopedKey(scopes = GRANTED): Promise<{ token: string; key: any }> {
    const { token } = await newUser();
    return { token, key: await createKey(token, { name: 'scoped', scopes, metadata: { team: 'scopes' } }) };
  }

  test('/verify: 200 with the key\'s scopes, metadata and environment, and no remaining for a key without quota', async () => {
    const { key } = await scopedKey();
    for (const options of [{}, { query: ['files:read'] }, { query: ['files:read', 'admin.keys'] }, { header: 'mail:send files:read' }] as VerifyOptions[]) {
      const response = await verify(key.api_key, options);
      assert.equal(response.status, 200, `${JSON.stringify(options)} ${JSON.stringify(response.body)}`);
      assert.deepEqual(Object.keys(response.body).sort(), VERIFIED_FIELDS);
      assert.ok(!('remaining' in response.body));
      assert.deepEqual(response.body.scopes, GRANTED);
      assert.deepEqual(response.body.metadata, { team: 'scopes' });
      assert.equal(response.body.environment, 'live');
    }
  });

  test('/verify: a missing scope is 403 naming exactly the missing ones, asked by query or header', async () => {
    const { key } = await scopedKey();
    const asked: [VerifyOptions, string[]][] = [
      [{ query: ['files:write'] }, ['files:write']],
      [{ query: ['files:read', 'billing:read', 'mail:send', 'zz'] }, ['billing:read', 'zz']],
      [{ header: 'files:read billing:read' }, ['billing:read']],
      [{ header: 'billing:read,files:read,  zz' }, ['billing:read', 'zz']],
      [{ header: 'mail:send', query: ['billing:read'] }, ['billing:read']],
      [{ query: ['billing:read'], header: 'mail:send zz' }, ['billing:read', 'zz']],
      // Exact match: no prefixes, no wildcards, case counts.
      [{ query: ['files'] }, ['files']],
      [{ query: ['files:read:all'] }, ['files:read:all']],
      [{ query: ['FILES:READ'] }, ['FILES:READ']],
    ];
    for (const [options, missing] of asked) {
      const response = await verify(key.api_key, { ...options, as: 'bearer' });
      const granted = GRANTED.filter((scope) => !missing.some((name) => name.includes(scope)));
      assertInsufficientScope(response, missing, granted, JSON.stringify(options));
      assert.equal(challengedScopes(response), missing.join(' '), `${JSON.stringify(options)}: the challenge names the missing scopes`);
    }
  });

  test('/verify: a required scope no key can have (a wildcard, a space-free oddity) is 400 with a detail, never a 500', async () => {
    const { key } = await scopedKey();
    for (const scope of ['files:*', 'a'.repeat(101)]) {
      const response = await verify(key.api_key, { query: [scope] });
      assert.equal(response.status, 400, scope);
      assert.match(String(response.body.detail), /A required scope must be 1 to 100 of/);
    }
  });

  test('/verify: a key presented in X-API-Key gets the 403 without a Bearer challenge', async () => {
    const { key } = await scopedKey();
    const presentations: Record<string, string>[] = [{ 'x-api-key': key.api_key }, { authorization: `ApiKey ${key.api_key}` }];
    for (const headers of presentations) {
      const response = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify?scope=billing:read', { headers });
      assertInsufficientScope(response, ['billing:read'], GRANTED);
      assert.equal(response.headers.get('www-authenticate'), null, `no Bearer challenge for ${Object.keys(headers)[0]}`);
    }
  });

  test('a key without scopes: any requirement is 403; none is 200 with scopes []', async () => {
    const { key } = await scopedKey([]);
    const plain = await verify(key.api_key);
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.body.scopes, []);
    assertInsufficientScope(await verify(key.api_key, { query: ['files:read'] }), ['files:read'], []);
    // An empty requirement is no requirement.
    assert.equal((await verify(key.api_key, { header: '' })).status, 200);
    assert.equal((await verify(key.api_key, { header: ' , ' })).status, 200);
  });

  test('/validate: the JWT carries scope (space-separated) and environment; 403 on a missing scope', async () => {
    const { key } = await scopedKey();
    const response = await verifyOn(server.baseUrl, 'validate', key.api_key, { query: ['files:read'] });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.scopes, GRANTED);
    assert.equal(response.body.environment, 'live');
    assert.ok(!('remaining' in response.body));
    const claims = await claimsOf(server.baseUrl, response.body.access_token);
    assert.equal(claims.scope, GRANTED.join(' '));
    assert.equal(claims.environment, 'live');
    assert.equal(claims.key_id, key.key_id);

    const refused = await verifyOn(server.baseUrl, 'validate', key.api_key, { header: 'files:read mail:send billing:read', as: 'bearer' });
    assertInsufficientScope(refused, ['billing:read'], GRANTED);
    assert.equal(challengedScopes(refused), 'billing:read');
    assert.equal(refused.body.access_token, undefined);

    const { key: unscoped } = await scopedKey([]);
    const bare = await verifyOn(server.baseUrl, 'validate', unscoped.api_key);
    assert.equal(bare.status, 200);
    const bareClaims = await claimsOf(server.baseUrl, bare.body.access_token);
    assert.ok(!('scope' in bareClaims), `no scope claim for a key without scopes: ${JSON.stringify(bareClaims)}`);
    assert.equal(bareClaims.environment, 'live');
  });

  test('forward-auth: 200 with x-keygate-environment and x-keygate-scopes; 403 on a missing scope', async () => {
    const { key } = await scopedKey();
    const admitted = await verifyOn(server.baseUrl, 'forward-auth', key.api_key, { query: ['mail:send'] });
    assert.equal(admitted.status, 200);
    assert.equal(admitted.headers.get('x-keygate-environment'), 'live');
    assert.equal(admitted.headers.get('x-keygate-scopes'), GRANTED.join(' '));
    assert.equal(admitted.headers.get('x-keygate-key-id'), key.key_id);
    assert.equal(admitted.headers.get('x-keygate-remaining'), null, 'no quota, no remaining');

    const withJwt = await verifyOn(server.baseUrl, 'forward-auth', key.api_key, { header: 'files:read', extra: { jwt: 'true' } });
    assert.equal(withJwt.status, 200);
    const claims = await claimsOf(server.baseUrl, withJwt.headers.get('authorization')!.replace(/^Bearer /, ''));
    assert.equal(claims.scope, GRANTED.join(' '));

    for (const options of [{ query: ['files:read', 'billing:read'] }, { header: 'billing:read, files:read' }] as VerifyOptions[]) {
      const refused = await verifyOn(server.baseUrl, 'forward-auth', key.api_key, { ...options, as: 'bearer' });
      assertInsufficientScope(refused, ['billing:read'], GRANTED, JSON.stringify(options));
      assert.equal(challengedScopes(refused), 'billing:read');
      assert.equal(refused.headers.get('x-keygate-key-id'), null, 'a refusal names no key');
    }

    const { key: unscoped } = await scopedKey([]);
    const bare = await verifyOn(server.baseUrl, 'forward-auth', unscoped.api_key);
    assert.equal(bare.status, 200);
    assert.equal(bare.headers.get('x-keygate-scopes'), '');
  });

  test('a PATCH removing a scope: the very next verification requiring it is 403 on every route; adding it back, 200', async () => {
    const { token, key } = await scopedKey();
    const first = await verifyOn(server.baseUrl, 'validate', key.api_key, { query: ['mail:send'] });
    assert.equal(first.status, 200);
    for (const route of ['verify', 'forward-auth'] as const) {
      assert.equal((await verifyOn(server.baseUrl, route, key.api_key, { query: ['mail:send'] })).status, 200, `${route} warm`);
    }
    await patched(token, key.key_id, { scopes: ['files:read', 'admin.keys'] });
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      assertInsufficientScope(await verifyOn(server.baseUrl, route, key.api_key, { query: ['mail:send'] }), ['mail:send'], ['files:read', 'admin.keys'], route);
      assert.equal((await verifyOn(server.baseUrl, route, key.api_key, { query: ['files:read'] })).status, 200, route);
    }
    // The exchanged token is a new one, with the scopes as they now are.
    const renewed = await verifyOn(server.baseUrl, 'validate', key.api_key);
    assert.notEqual(renewed.body.access_token, first.body.access_token);
    assert.equal((await claimsOf(server.baseUrl, renewed.body.access_token)).scope, 'files:read admin.keys');
    assert.equal((await verifyOn(server.baseUrl, 'forward-auth', key.api_key)).headers.get('x-keygate-scopes'), 'files:read admin.keys');

    await patched(token, key.key_id, { scopes: GRANTED });
    assert.equal((await verify(key.api_key, { query: ['mail:send'] })).status, 200);
  });

  test('a required scope no key can have (non-ASCII, a control character, a quote) is a 4xx with a detail, never a 500', async () => {
    const { key } = await scopedKey();
    // RFC 6750 section 3: scope="..." holds scope tokens of %x21 / %x23-5B / %x5D-7E, space-separated.
    const wellFormedChallenge = /^Bearer error="insufficient_scope", scope="[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*"$/;
    for (const required of ['日本', 'caf\u00e9', 'del\u007f', 'quo"te', 'back\\slash']) {
      for (const route of ['verify', 'validate', 'forward-auth'] as const) {
        for (const as of ['bearer', 'x-api-key'] as const) {
          const response = await verifyOn(server.baseUrl, route, key.api_key, { query: ['files:read', required], as });
          const what = `${route} ${as} ${JSON.stringify(required)}`;
          assert.ok([400, 403, 422].includes(response.status), `${what}: ${response.status} ${JSON.stringify(response.body)}`);
          assert.ok(response.body !== undefined && 'detail' in response.body, `${what}: a detail`);
          const challenge = response.headers.get('www-authenticate');
          if (challenge !== null) assert.match(challenge, wellFormedChallenge, what);
        }
      }
    }
    assert.equal((await verify(key.api_key, { query: ['files:read'] })).status, 200, 'and the key still verifies');
  });
});

describe('tokens exchanged from a key', () => {
  test('cannot GET or PATCH keys: 403, and the key is unchanged', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'escalation target', scopes: ['tools:read'] });
    const before = (await getKey(token, key.key_id)).body;
    const exchanged = (await verifyOn(server.baseUrl, 'validate', key.api_key)).body.access_token;
    const attempts = [
      await getKey(exchanged, key.key_id),
      await patchKey(exchanged, key.key_id, { scopes: ['tools:read', 'admin:everything'], rate_limit: null }),
      await patchKey(exchanged, key.key_id, { status: 'disabled' }, { 'content-type': 'application/merge-patch+json' }),
    ];
    for (const response of attempts) {
      assert.equal(response.status, 403, JSON.stringify(response.body));
      assert.match(response.body.detail, /cannot manage API keys/);
    }
    assert.deepEqual((await getKey(token, key.key_id)).body, before);
    // And no token at all is 401.
    assert.equal((await api('PATCH', `/api/v1/api-keys/${key.key_id}`, { json: { status: 'disabled' } })).status, 401);
    assert.equal((await api('GET', `/api/v1/api-keys/${key.key_id}`)).status, 401);
  });
});

describe('test keys', () => {
  test('environment test: mcpkey_test_, reported by /verify, and kept by a rotation', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'sandbox', environment: 'test' });
    assert.match(key.api_key, new RegExp(`^mcpkey_test_${key.key_id}_[0-9A-Za-z]{54}$`));
    const verified = await verify(key.api_key);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.environment, 'test');
    assert.equal((await verifyOn(server.baseUrl, 'forward-auth', key.api_key)).headers.get('x-keygate-environment'), 'test');
    const exchanged = await verifyOn(server.baseUrl, 'validate', key.api_key);
    assert.equal((await claimsOf(server.baseUrl, exchanged.body.access_token)).environment, 'test');

    const rotated = await api('POST', `/api/v1/api-keys/${key.key_id}/rotate`, { token });
    assert.equal(rotated.status, 200);
    assert.match(rotated.body.new_api_key, new RegExp(`^mcpkey_test_${key.key_id}_`));
    const after = await verify(rotated.body.new_api_key);
    assert.equal(after.status, 200);
    assert.equal(after.body.environment, 'test');
    assert.deepEqual((await verify(key.api_key)).body, INVALID);
    assert.equal((await getKey(token, key.key_id)).body.environment, 'test');
  });

  test('a key relabelled to the other environment is 401, checksum fixed or not; the real key keeps working', async () => {
    const { token } = await newUser();
    const live = await createKey(token, { name: 'live' });
    const sandbox = await createKey(token, { name: 'sandbox', environment: 'test' });
    assert.equal((await verify(live.api_key)).status, 200); // warm
    const forgeries = [
      live.api_key.replace(/^mcpkey_live_/, 'mcpkey_test_'),
      relabelled(live.api_key, 'mcpkey_live_', 'mcpkey_test_'),
      sandbox.api_key.replace(/^mcpkey_test_/, 'mcpkey_live_'),
      relabelled(sandbox.api_key, 'mcpkey_test_', 'mcpkey_live_'),
    ];
    for (const forgery of forgeries) {
      for (const route of ['verify', 'validate'] as const) {
        const response = await verifyOn(server.baseUrl, route, forgery);
        assert.equal(response.status, 401, `${route} ${forgery.slice(0, 12)}`);
        assert.deepEqual(response.body, INVALID);
      }
      assert.equal((await verifyOn(server.baseUrl, 'forward-auth', forgery)).status, 401);
    }
    assert.equal((await verify(live.api_key)).body.environment, 'live');
    assert.equal((await verify(sandbox.api_key)).body.environment, 'test');
  });
});

describe('a key\'s own rate_limit', () => {
  test('rate_limit 2 (server default 100): the third verification in a minute is 429; a PATCH to 10 lets the next through at once', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'slow', rate_limit: 2 });
    const unlimited = await createKey(token, { name: 'default' });
    assert.equal((await verify(key.api_key)).status, 200);
    assert.equal((await verify(key.api_key)).status, 200);
    const refused = await verify(key.api_key);
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.match(refused.body.detail, /^Rate limit exceeded: at most 2 verifications per minute/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${refused.headers.get('retry-after')}`);
    assert.equal(refused.headers.get('ratelimit-limit'), '2');
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.ok(Number(refused.headers.get('ratelimit-reset')) >= 1);
    // One budget for the three verification routes.
    assert.equal((await verifyOn(server.baseUrl, 'validate', key.api_key)).status, 429);
    assert.equal((await verifyOn(server.baseUrl, 'forward-auth', key.api_key)).status, 429);
    // The server's default still applies to other keys.
    for (let i = 0; i < 5; i++) assert.equal((await verify(unlimited.api_key)).status, 200);

    await patched(token, key.key_id, { rate_limit: 10 });
    assert.equal((await verify(key.api_key)).status, 200, 'the raised limit is in force at the very next verification');

    // And lowered again, it refuses at once too (this minute counted 6 already).
    await patched(token, key.key_id, { rate_limit: 3 });
    assert.equal((await verify(key.api_key)).status, 429);
    await patched(token, key.key_id, { rate_limit: null });
    assert.equal((await verify(key.api_key)).status, 200, 'null: back to the server default of 100');
  });
});

describe('another process on the same database', () => {
  let other: KeygateProcess | undefined;
  before(async () => {
    other = await spawnKeygate({ DATABASE_URL: server.databaseUrl, KEYGATE_SECRET: TEST_SECRET, ...EXCHANGE }, server.folder);
  });
  after(async () => {
    await other?.stop();
  });
  const otherUrl = () => {
    assert.ok(other);
    return other.baseUrl;
  };

  test('disabled in this process: the very next verification in the other (warm there) is 401 like an unknown key; enabled: 200', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'shared' });
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      assert.equal((await verifyOn(otherUrl(), route, key.api_key)).status, 200, `${route} warm in the other process`);
      assert.equal((await verifyOn(otherUrl(), route, key.api_key)).status, 200);
    }
    await patched(token, key.key_id, { status: 'disabled' });
    const unknown = await verifyOn(otherUrl(), 'verify', unknownKey());
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      const refused = await verifyOn(otherUrl(), route, key.api_key);
      assert.equal(refused.status, 401, route);
      assert.deepEqual(refused.body, INVALID, route);
    }
    const refused = await verifyOn(otherUrl(), 'verify', key.api_key);
    assert.deepEqual([refused.body, refused.headers.get('www-authenticate')], [unknown.body, unknown.headers.get('www-authenticate')]);

    await patched(token, key.key_id, { status: 'active' });
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      assert.equal((await verifyOn(otherUrl(), route, key.api_key)).status, 200, `${route} enabled again`);
    }
  });

  test('a scope removed in this process: the very next verification requiring it in the other is 403; metadata follows too', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'shared scopes', scopes: ['files:read', 'mail:send'], metadata: { v: 1 } });
    const first = await verifyOn(otherUrl(), 'validate', key.api_key, { query: ['mail:send'] });
    assert.equal(first.status, 200);
    assert.equal((await verify(key.api_key, { query: ['mail:send'] }, otherUrl())).status, 200);
    assert.equal((await verify(key.api_key, { query: ['mail:send'] }, otherUrl())).status, 200); // warm there

    await patched(token, key.key_id, { scopes: ['files:read'], metadata: { v: 2 } });
    for (const route of ['verify', 'validate', 'forward-auth'] as const) {
      const refused = await verifyOn(otherUrl(), route, key.api_key, { query: ['mail:send'], as: 'bearer' });
      assertInsufficientScope(refused, ['mail:send'], ['files:read'], `${route} in the other process`);
      assert.equal(challengedScopes(refused), 'mail:send');
    }
    const now = await verify(key.api_key, { query: ['files:read'] }, otherUrl());
    assert.equal(now.status, 200);
    assert.deepEqual([now.body.scopes, now.body.metadata], [['files:read'], { v: 2 }]);
    const renewed = await verifyOn(otherUrl(), 'validate', key.api_key);
    assert.notEqual(renewed.body.access_token, first.body.access_token);
    assert.equal((await claimsOf(otherUrl(), renewed.body.access_token)).scope, 'files:read');
  });

  test('a rate_limit set in this process is in force in the other at its very next verification', async () => {
    const { token } = await newUser();
    const key = await createKey(token, { name: 'shared limit' });
    assert.equal((await verify(key.api_key, {}, otherUrl())).status, 200); // warm there, 1 counted
    await patched(token, key.key_id, { rate_limit: 1 });
    const refused = await verify(key.api_key, {}, otherUrl());
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.ok(refused.headers.get('retry-after'));
    await patched(token, key.key_id, { rate_limit: 100 });
    assert.equal((await verify(key.api_key, {}, otherUrl())).status, 200);
  });
});

describe('typos that must not pass for something else', () => {
  test('a rotate body with a misspelt grace_seconds is 422 and rotates nothing (the old key would die at once)', async () => {
    const user = await newUser();
    const key = await createKey(user.token);
    const response = await api('POST', `/api/v1/api-keys/${key.key_id}/rotate`, { token: user.token, json: { grace_second: 3600 } });
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.deepEqual(issueAt(response, ['body', 'grace_second']).type, 'extra_forbidden');
    assert.equal((await verify(key.api_key)).status, 200, 'the key was not rotated');
  });

  test('a rotate body that is JSON but no object (null, a list, a number) is 422 dict_type and rotates nothing', async () => {
    const user = await newUser();
    const key = await createKey(user.token);
    for (const body of ['null', '[]', '5']) {
      const response = await call(server.baseUrl, 'POST', `/api/v1/api-keys/${key.key_id}/rotate`, {
        token: user.token,
        headers: { 'content-type': 'application/json' },
        rawBody: body,
      });
      assert.equal(response.status, 422, `${body}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.detail[0].type, 'dict_type');
    }
    assert.equal((await verify(key.api_key)).status, 200, 'the key was not rotated');
  });

  test('a PATCH of a quota with a misspelt member set to null is 422, though the merge would drop it', async () => {
    const user = await newUser();
    const key = await createKey(user.token, { name: 'q', quota: { remaining: 5 } });
    for (const quota of [{ remaining: 3, refil: null }, { refill: { amount: 5, interval: 'day', intervall: null } }]) {
      const response = await patchKey(user.token, key.key_id, { quota });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.equal(response.body.detail[0].type, 'extra_forbidden');
    }
    assert.equal((await getKey(user.token, key.key_id)).body.quota.remaining, 5);
  });

  test('create refuses a misspelt setting rather than making a key without it, flat and embedded', async () => {
    const user = await newUser();
    for (const json of [{ name: 'k', quotas: { remaining: 1 } }, { name: 'k', stauts: 'disabled' }, { request: { name: 'k', rate_limt: 5 } }]) {
      const response = await api('POST', '/api/v1/api-keys/', { token: user.token, json });
      assert.equal(response.status, 422, JSON.stringify(json));
      assert.equal(response.body.detail[0].type, 'extra_forbidden');
    }
    assert.deepEqual(await listKeys(user.token), [], 'no key was made');
  });

  test("create's 422 for a bad quota names the one problem, without the anyOf branches' noise", async () => {
    const user = await newUser();
    const response = await api('POST', '/api/v1/api-keys/', { token: user.token, json: { name: 'q', quota: { remaining: -1 } } });
    assert.equal(response.status, 422);
    assert.deepEqual(
      response.body.detail.map((issue: { loc: unknown; type: string }) => [issue.loc, issue.type]),
      [[['body', 'quota', 'remaining'], 'greater_than_equal']],
    );
  });
});
