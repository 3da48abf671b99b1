import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { testHasher } from './support/keys.js';
import { call, keygateForTests, startKeygate } from './support/keygate.js';

const CREATED_MESSAGE = 'API key created successfully. Save it securely - it will not be shown again.';
const ROTATED_MESSAGE = 'API key rotated successfully. Update your client configuration.';
const LIMIT_DETAIL = 'Maximum of 5 API keys allowed per user. Revoke an existing key before creating more.';
const KEY_FIELDS = ['created', 'expires_at', 'key_id', 'last_used', 'name'];
const DAY_MS = 86_400_000;

const server = keygateForTests();
let userCount = 0;

/** A fresh user for each test, so that tests share a server but never a key list. */
async function newUser(): Promise<{ id: string; token: string }> {
  const id = `user-${++userCount}@example.com`;
  return { id, token: await server.tokenFor(id) };
}

const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
  call(server.baseUrl, method, path, options);

async function createKey(token: string, json: unknown = { name: 'a key' }) {
  const response = await api('POST', '/api/v1/api-keys/', { token, json });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

async function storedHash(keyId: string): Promise<string | undefined> {
  const row = await server.keygate.db.selectFrom('api_keys').select('key_hash').where('key_id', '=', keyId).executeTakeFirst();
  return row?.key_hash;
}

describe('create', () => {
  test('answers 201 with exactly the contract fields, the key once, and a trimmed name', async () => {
    const { token } = await newUser();
    const before = Date.now();
    const response = await api('POST', '/api/v1/api-keys/', { token, json: { name: '  Production API Key  ', expires_days: 30 } });
    assert.equal(response.status, 201);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const body = response.body;
    assert.deepEqual(Object.keys(body).sort(), ['api_key', ...KEY_FIELDS, 'message'].sort());
    assert.equal(body.name, 'Production API Key');
    assert.equal(body.message, CREATED_MESSAGE);
    assert.equal(body.last_used, null);
    assert.match(body.key_id, /^[0-9A-Za-z]{12}$/);
    assert.match(body.api_key, new RegExp(`^mcpkey_live_${body.key_id}_[0-9A-Za-z]{54}$`));
    const created = Date.parse(body.created);
    assert.ok(created >= before - 1000 && created <= Date.now() + 1000);
    assert.equal(Date.parse(body.expires_at) - created, 30 * DAY_MS);
    assert.match(body.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  test('defaults expires_days to 365 and works without the trailing slash', async () => {
    const { token } = await newUser();
    const response = await api('POST', '/api/v1/api-keys', { token, json: { name: 'no slash' } });
    assert.equal(response.status, 201);
    assert.equal(Date.parse(response.body.expires_at) - Date.parse(response.body.created), 365 * DAY_MS);
  });

  test('accepts the embedded body exactly as the seed\'s generated clients send it', async () => {
    const { token } = await newUser();
    // What mcp_client (OpenAPI Generator, python) puts on the wire for
    // create_api_key_api_v1_api_keys_post(BodyCreateApiKeyApiV1ApiKeysPost(request=..., credentials=...)).
    const response = await api('POST', '/api/v1/api-keys/', {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'content-type': 'application/json',
        'user-agent': 'OpenAPI-Generator/1.0.0/python',
      },
      rawBody: JSON.stringify({
        request: { name: 'Production API Key', expires_days: 90 },
        credentials: { scheme: 'Bearer', credentials: 'ignored-not-used-to-authenticate' },
      }),
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.name, 'Production API Key');
    assert.equal(Date.parse(response.body.expires_at) - Date.parse(response.body.created), 90 * DAY_MS);
    // The embedded body without credentials, as the TypeScript and Go clients may send it.
    const minimal = await api('POST', '/api/v1/api-keys/', { token, json: { request: { name: 'minimal' } } });
    assert.equal(minimal.status, 201);
  });

  test('accepts "credentials": null, which the seed declares nullable and its Python client always sends', async () => {
    const { token } = await newUser();
    // BodyCreateApiKeyApiV1ApiKeysPost.from_dict({"request": {...}}).to_json(), byte for byte.
    const response = await api('POST', '/api/v1/api-keys/', {
      token,
      rawBody: '{"request": {"name": "from_dict", "expires_days": 30}, "credentials": null}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.name, 'from_dict');
    // And the OpenAPI document says so, as the seed's does.
    const document = (await api('GET', '/openapi.json')).body;
    assert.deepEqual(document.components.schemas.BodyCreateApiKeyApiV1ApiKeysPost.properties.credentials, {
      anyOf: [{ $ref: '#/components/schemas/HTTPAuthorizationCredentials' }, { type: 'null' }],
    });
  });

  test('credentials in the body never authenticate', async () => {
    const { token } = await newUser();
    const response = await api('POST', '/api/v1/api-keys/', {
      json: { request: { name: 'x' }, credentials: { scheme: 'Bearer', credentials: token } },
    });
    assert.equal(response.status, 401);
  });

  test('refuses a sixth key with the seed\'s message, and allows one again after a revoke', async () => {
    const { token } = await newUser();
    const keys: any[] = [];
    for (let i = 0; i < 5; i++) keys.push(await createKey(token, { name: `key ${i}` }));
    const sixth = await api('POST', '/api/v1/api-keys/', { token, json: { name: 'sixth' } });
    assert.equal(sixth.status, 400);
    assert.deepEqual(sixth.body, { detail: LIMIT_DETAIL });
    assert.equal((await api('GET', '/api/v1/api-keys/', { token })).body.length, 5);

    assert.equal((await api('DELETE', `/api/v1/api-keys/${keys[0].key_id}`, { token })).status, 204);
    await createKey(token, { name: 'replacement' });
  });

  test('20 concurrent creates for one user leave exactly 5 keys and 15 refusals', async () => {
    const { token } = await newUser();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api('POST', '/api/v1/api-keys/', { token, json: { name: `burst ${i}` } })),
    );
    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 201).length, 5, String(statuses));
    assert.equal(statuses.filter((status) => status === 400).length, 15, String(statuses));
    assert.equal((await api('GET', '/api/v1/api-keys/', { token })).body.length, 5);
  });

  test('expired keys still count against the limit and stay listed until revoked', async () => {
    const { token } = await newUser();
    const keys: any[] = [];
    for (let i = 0; i < 5; i++) keys.push(await createKey(token, { name: `key ${i}`, expires_days: 1 }));
    const past = new Date(Date.now() - DAY_MS).toISOString();
    await server.keygate.db.updateTable('api_keys').set({ expires_at: past }).where('key_id', '=', keys[2].key_id).execute();

    const listed = (await api('GET', '/api/v1/api-keys/', { token })).body;
    const expired = listed.find((key: { key_id: string }) => key.key_id === keys[2].key_id);
    assert.equal(expired.expires_at, past);
    assert.ok(Date.parse(expired.expires_at) < Date.now());
    assert.equal((await api('POST', '/api/v1/api-keys/', { token, json: { name: 'sixth' } })).status, 400);
  });
});

describe('list', () => {
  test('shows only the caller\'s keys, newest first, with exactly the contract fields', async () => {
    const alice = await newUser();
    const bob = await newUser();
    const first = await createKey(alice.token, { name: 'first' });
    const second = await createKey(alice.token, { name: 'second' });
    await createKey(bob.token, { name: 'bob\'s' });

    const response = await api('GET', '/api/v1/api-keys/', { token: alice.token });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.map((key: { key_id: string }) => key.key_id), [second.key_id, first.key_id]);
    for (const key of response.body) assert.deepEqual(Object.keys(key).sort(), KEY_FIELDS);
    assert.deepEqual(response.body[1], {
      key_id: first.key_id,
      name: 'first',
      created: first.created,
      expires_at: first.expires_at,
      last_used: null,
    });
    assert.ok(!JSON.stringify(response.body).includes(first.api_key));
    assert.equal((await api('GET', '/api/v1/api-keys', { token: alice.token })).body.length, 2);
  });

  test('is empty for a user without keys', async () => {
    const { token } = await newUser();
    const response = await api('GET', '/api/v1/api-keys/', { token });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, []);
  });

  test('ignores the credentials body the seed\'s generated clients may send with GET', async () => {
    const { token } = await newUser();
    await createKey(token);
    const url = new URL('/api/v1/api-keys/', server.baseUrl);
    const payload = JSON.stringify({ scheme: 'Bearer', credentials: 'ignored' });
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const outgoing = httpRequest(
        url,
        {
          method: 'GET',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (incoming) => {
          let body = '';
          incoming.on('data', (chunk) => (body += chunk));
          incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body }));
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
    assert.equal(answer.status, 200);
    assert.equal(JSON.parse(answer.body).length, 1);
  });
});

describe('rotate', () => {
  test('issues a new key under the same key_id and keeps name, created and expires_at', async () => {
    const { token } = await newUser();
    const original = await createKey(token, { name: 'rotate me', expires_days: 10 });
    const hashBefore = await storedHash(original.key_id);

    const response = await api('POST', `/api/v1/api-keys/${original.key_id}/rotate`, { token });
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body).sort(), ['key_id', 'message', 'new_api_key']);
    assert.equal(response.body.key_id, original.key_id);
    assert.equal(response.body.message, ROTATED_MESSAGE);
    assert.match(response.body.new_api_key, new RegExp(`^mcpkey_live_${original.key_id}_`));
    assert.notEqual(response.body.new_api_key, original.api_key);

    const [listed] = (await api('GET', '/api/v1/api-keys/', { token })).body;
    assert.deepEqual(listed, { key_id: original.key_id, name: 'rotate me', created: original.created, expires_at: original.expires_at, last_used: null });

    // The old key no longer matches what is stored; the new one does.
    const hashAfter = await storedHash(original.key_id);
    assert.ok(hashAfter && hashAfter !== hashBefore);
    const hasher = testHasher();
    assert.equal(await hasher.matches(original.api_key, hashAfter), false);
    assert.equal(await hasher.matches(response.body.new_api_key, hashAfter), true);
  });

  test('of concurrent rotations exactly one takes effect; the others get 409 and no dead key', async () => {
    const { token } = await newUser();
    const { key_id } = await createKey(token);
    const answers = await Promise.all(Array.from({ length: 5 }, () => api('POST', `/api/v1/api-keys/${key_id}/rotate`, { token })));
    // All five read the key before any has hashed its new secret (tens of milliseconds), so one
    // wins and the rest lose; a request so late that it read the winner's hash would win after
    // it, legitimately, which is why the counts are bounds.
    const won = answers.filter((answer) => answer.status === 200);
    const lost = answers.filter((answer) => answer.status === 409);
    assert.equal(won.length + lost.length, 5, JSON.stringify(answers.map((answer) => answer.status)));
    assert.ok(won.length >= 1 && lost.length >= 1, JSON.stringify(answers.map((answer) => answer.status)));
    for (const answer of lost) {
      assert.match(answer.body.detail, /rotated or revoked concurrently/);
      assert.equal(JSON.stringify(answer.body).includes('mcpkey_'), false, 'a lost rotation hands out no key');
    }
    const verifies = async (key: string) =>
      (await api('POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': key } })).status === 200;
    const working = [];
    for (const answer of won) if (await verifies(answer.body.new_api_key)) working.push(answer);
    assert.equal(working.length, 1, 'exactly the last rotation that took effect holds the live key');
  });

  test('accepts the JSON content type with an empty body, as generated clients send it', async () => {
    const { token } = await newUser();
    const { key_id } = await createKey(token);
    const response = await api('POST', `/api/v1/api-keys/${key_id}/rotate`, { token, headers: { 'content-type': 'application/json' } });
    assert.equal(response.status, 200);
  });

  test('answers 404 for a key that is someone else\'s or does not exist, and changes nothing', async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const key = await createKey(owner.token);
    const hashBefore = await storedHash(key.key_id);

    for (const keyId of [key.key_id, 'doesNotExist', 'AAAAAAAAAAAA']) {
      const response = await api('POST', `/api/v1/api-keys/${keyId}/rotate`, { token: stranger.token });
      assert.equal(response.status, 404);
      assert.equal(typeof response.body.detail, 'string');
      assert.ok(!('new_api_key' in response.body));
    }
    assert.equal(await storedHash(key.key_id), hashBefore);
  });
});

describe('revoke', () => {
  test('deletes the caller\'s key: 204 with an empty body, and the key is gone', async () => {
    const { token } = await newUser();
    const kept = await createKey(token, { name: 'kept' });
    const revoked = await createKey(token, { name: 'revoked' });
    const response = await fetch(`${server.baseUrl}/api/v1/api-keys/${revoked.key_id}`, {
      method: 'DELETE',
      // Generated clients send the JSON content type even without a body.
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
    });
    assert.equal(response.status, 204);
    assert.equal(await response.text(), '');
    const listed = (await api('GET', '/api/v1/api-keys/', { token })).body;
    assert.deepEqual(listed.map((key: { key_id: string }) => key.key_id), [kept.key_id]);
    assert.equal(await storedHash(revoked.key_id), undefined, 'the row is deleted');
  });

  test('answers 204 for a key that is someone else\'s or unknown, and changes nothing', async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const key = await createKey(owner.token);
    for (const keyId of [key.key_id, 'doesNotExist']) {
      const response = await api('DELETE', `/api/v1/api-keys/${keyId}`, { token: stranger.token });
      assert.equal(response.status, 204);
      assert.equal(response.body, undefined);
    }
    assert.equal((await api('GET', '/api/v1/api-keys/', { token: owner.token })).body.length, 1);
    assert.ok(await storedHash(key.key_id));
  });
});

describe('secrets at rest', () => {
  test('no issued key, nor its secret part, is stored in any table', async () => {
    const { token } = await newUser();
    const created = await createKey(token, { name: 'at rest' });
    const rotated = await api('POST', `/api/v1/api-keys/${created.key_id}/rotate`, { token });
    const db = server.keygate.db;
    const everything = JSON.stringify([
      await db.selectFrom('api_keys').selectAll().execute(),
      await db.selectFrom('key_owners').selectAll().execute(),
      await db.selectFrom('settings').selectAll().execute(),
    ]);
    assert.ok(everything.includes('at rest'), 'the dump does hold the stored rows');
    for (const key of [created.api_key, rotated.body.new_api_key]) {
      assert.ok(!everything.includes(key));
      assert.ok(!everything.includes(key.split('_').at(-1).slice(0, 43)));
    }
  });
});

describe('bad input', () => {
  const invalidBodies: [string, unknown, (string | number)[], string][] = [
    ['no name', { expires_days: 30 }, ['body', 'name'], 'missing'],
    ['a blank name', { name: '   ' }, ['body', 'name'], 'string_too_short'],
    ['an empty name', { name: '' }, ['body', 'name'], 'string_too_short'],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, ['body', 'name'], 'string_too_long'],
    ['a name that is a number', { name: 42 }, ['body', 'name'], 'string_type'],
    ['a name with a control character', { name: 'bad\u0000name' }, ['body', 'name'], 'string_pattern_mismatch'],
    // Stored, both would read "lone\ufffd" on PostgreSQL: refused, not silently changed.
    ['a name with a lone high surrogate', { name: 'lone\ud800' }, ['body', 'name'], 'string_unicode'],
    ['a name with a lone low surrogate', { name: 'lone\udfff' }, ['body', 'name'], 'string_unicode'],
    ['expires_days of 0', { name: 'x', expires_days: 0 }, ['body', 'expires_days'], 'greater_than_equal'],
    ['expires_days of 3651', { name: 'x', expires_days: 3651 }, ['body', 'expires_days'], 'less_than_equal'],
    ['expires_days as a string', { name: 'x', expires_days: '30' }, ['body', 'expires_days'], 'int_type'],
    ['fractional expires_days', { name: 'x', expires_days: 1.5 }, ['body', 'expires_days'], 'int_type'],
    ['boolean expires_days', { name: 'x', expires_days: true }, ['body', 'expires_days'], 'int_type'],
    ['null expires_days', { name: 'x', expires_days: null }, ['body', 'expires_days'], 'int_type'],
    ['an embedded body without name', { request: { expires_days: 5 } }, ['body', 'request', 'name'], 'missing'],
    ['an embedded blank name', { request: { name: ' ' } }, ['body', 'request', 'name'], 'string_too_short'],
    ['an embedded request that is not an object', { request: 'x' }, ['body', 'request'], 'dict_type'],
    ['a JSON array', [{ name: 'x' }], ['body'], 'dict_type'],
    ['a JSON string', 'name', ['body'], 'dict_type'],
    ['JSON null', null, ['body'], 'dict_type'],
  ];

  for (const [what, json, loc, type] of invalidBodies) {
    test(`create with ${what}: 422 naming ${loc.join('.')}, nothing written`, async () => {
      const { token } = await newUser();
      const response = await api('POST', '/api/v1/api-keys/', { token, rawBody: JSON.stringify(json), headers: { 'content-type': 'application/json' } });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.ok(Array.isArray(response.body.detail));
      const issue = response.body.detail.find((entry: { loc: unknown }) => JSON.stringify(entry.loc) === JSON.stringify(loc));
      assert.ok(issue, `expected an issue at ${JSON.stringify(loc)} in ${JSON.stringify(response.body)}`);
      assert.equal(issue.type, type);
      assert.equal(typeof issue.msg, 'string');
      assert.deepEqual(Object.keys(issue).sort(), ['loc', 'msg', 'type']);
      assert.deepEqual((await api('GET', '/api/v1/api-keys/', { token })).body, []);
    });
  }

  test('a name of 100 characters inside surrounding spaces is valid', async () => {
    const { token } = await newUser();
    const name = 'é'.repeat(100);
    assert.equal((await createKey(token, { name: `  ${name}  ` })).name, name);
  });

  test('every bad field is reported at once', async () => {
    const { token } = await newUser();
    const response = await api('POST', '/api/v1/api-keys/', { token, json: { expires_days: 'soon' } });
    assert.equal(response.status, 422);
    assert.deepEqual(response.body.detail.map((issue: { loc: string[] }) => issue.loc.join('.')).sort(), ['body.expires_days', 'body.name']);
  });

  const malformed: [string, Record<string, string>, string | undefined, number, string][] = [
    ['a body that is not JSON', { 'content-type': 'application/json' }, '{"name": ', 422, 'json_invalid'],
    ['an empty JSON body', { 'content-type': 'application/json' }, '', 422, 'missing'],
    ['no body at all', {}, undefined, 422, 'missing'],
    ['a prototype-poisoning body', { 'content-type': 'application/json' }, '{"name":"x","__proto__":{"admin":true}}', 422, 'json_invalid'],
  ];
  for (const [what, headers, rawBody, status, type] of malformed) {
    test(`create with ${what}: ${status} ${type}`, async () => {
      const { token } = await newUser();
      const response = await api('POST', '/api/v1/api-keys/', { token, headers, rawBody });
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal(response.body.detail[0].type, type);
      assert.deepEqual(response.body.detail[0].loc, ['body']);
    });
  }

  test('a body that is not JSON at all is 415 with a detail', async () => {
    const { token } = await newUser();
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const response = await api('POST', '/api/v1/api-keys/', { token, headers: { 'content-type': contentType }, rawBody: 'name=x' });
      assert.equal(response.status, 415, contentType);
      assert.match(response.body.detail, /media type/i);
    }
  });

  test('an oversized body is 413 with a detail, and nothing is written', async () => {
    const { token } = await newUser();
    const response = await api('POST', '/api/v1/api-keys/', { token, json: { name: 'x', padding: 'p'.repeat(64 * 1024) } });
    assert.equal(response.status, 413);
    assert.match(response.body.detail, /too large/i);
    assert.deepEqual((await api('GET', '/api/v1/api-keys/', { token })).body, []);
  });

  test('an absurdly long key_id is 422 naming the path parameter', async () => {
    const { token } = await newUser();
    for (const [method, suffix] of [['DELETE', ''], ['POST', '/rotate']] as const) {
      const response = await api(method, `/api/v1/api-keys/${'k'.repeat(65)}${suffix}`, { token });
      assert.equal(response.status, 422);
      assert.deepEqual(response.body.detail[0].loc, ['path', 'key_id']);
    }
  });

  test('hostile key_ids are simply not found', async () => {
    const { token } = await newUser();
    for (const keyId of ["' OR 1=1 --", '%00', '..%2F..%2Fetc', '%E2%80%AE']) {
      const response = await api('POST', `/api/v1/api-keys/${keyId}/rotate`, { token });
      assert.equal(response.status, 404, keyId);
      assert.equal(typeof response.body.detail, 'string');
    }
  });

  test('a key_id longer than the router allows is 414, a badly encoded one 400, both with a detail', async () => {
    const { token } = await newUser();
    const response = await api('DELETE', `/api/v1/api-keys/${'k'.repeat(500)}`, { token });
    assert.equal(response.status, 414);
    assert.equal(response.body.detail, 'A path parameter is too long');
    const badlyEncoded = await api('POST', '/api/v1/api-keys/%E0%A4%A/rotate', { token });
    assert.equal(badlyEncoded.status, 400);
    assert.equal(badlyEncoded.body.detail, 'The URL is not valid');
  });

  test('a request that is not HTTP at all is answered 400 with a detail', async () => {
    const { port } = new URL(server.baseUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { detail: 'Malformed HTTP request' });
  });

  test('/healthz answers 200 while the database answers, 503 once it does not', async () => {
    const other = await startKeygate();
    try {
      assert.deepEqual((await api('GET', '/healthz')).body, { status: 'ok' });
      await other.keygate.db.destroy();
      const down = await call(other.baseUrl, 'GET', '/healthz');
      assert.equal(down.status, 503);
      assert.equal(down.body.detail, 'The database does not answer');
    } finally {
      await other.close().catch(() => undefined);
    }
  });

  test('unknown routes answer 404 with a detail', async () => {
    const response = await api('GET', '/api/v1/nothing-here');
    assert.equal(response.status, 404);
    assert.equal(typeof response.body.detail, 'string');
  });
});
