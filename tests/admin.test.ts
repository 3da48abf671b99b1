import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, startKeygate, type RunningKeygate } from './support/keygate.js';
import { oidcClaims, rsaSigningKey, signRs256, startIdentityProvider, OIDC_AUDIENCE } from './support/identity-provider.js';
import { verifyOn } from './support/authority.js';

// The admin side over HTTP: a user token with the admin scope reaches every user's keys through
// /api/v1/admin/api-keys; anyone else gets 403 there, and never reaches another user's key
// through any route. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL.

const ADMIN = '/api/v1/admin/api-keys';
const KEYS = '/api/v1/api-keys/';

async function createKey(server: RunningKeygate, token: string, json: Record<string, unknown> = { name: 'k' }) {
  const created = await call(server.baseUrl, 'POST', KEYS, { token, json });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body as { key_id: string; api_key: string };
}

describe('admin routes', () => {
  let server: RunningKeygate;
  let admin: string;
  let alice: string;
  let bob: string;

  before(async () => {
    server = await startKeygate({ KEYGATE_MAX_KEYS_PER_USER: '20', KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0' });
    admin = await server.tokenFor('ops', ['keygate:admin']);
    alice = await server.tokenFor('alice');
    bob = await server.tokenFor('bob', ['keys:write']);
  });
  after(() => server?.close());

  test("lists every user's keys, newest first, with filters, in pages that never repeat or skip a key", async () => {
    const made: string[] = [];
    for (let i = 0; i < 4; i += 1) made.push((await createKey(server, alice, { name: `a${i}` })).key_id);
    for (let i = 0; i < 3; i += 1) made.push((await createKey(server, bob, { name: `b${i}`, environment: 'test' })).key_id);
    await call(server.baseUrl, 'PATCH', `${KEYS}${made[1]}`, { token: alice, json: { status: 'disabled' } });

    const all = await call(server.baseUrl, 'GET', `${ADMIN}?limit=500`, { token: admin });
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.equal(all.body.next_cursor, null);
    const ids: string[] = all.body.keys.map((key: { key_id: string }) => key.key_id);
    for (const keyId of made) assert.ok(ids.includes(keyId), keyId);
    const created = all.body.keys.map((key: { created: string; key_id: string }) => `${key.created} ${key.key_id}`);
    assert.deepEqual(created, [...created].sort().reverse(), 'newest first, key_id breaking ties');
    for (const key of all.body.keys) {
      assert.equal(key.api_key, undefined);
      assert.equal(key.key_hash, undefined);
      assert.ok(['alice', 'bob'].includes(key.user_id));
    }

    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { keys: { key_id: string }[]; next_cursor: string | null } } = await call(
        server.baseUrl,
        'GET',
        `${ADMIN}?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { token: admin },
      );
      assert.equal(page.status, 200);
      assert.ok(page.body.keys.length <= 3);
      paged.push(...page.body.keys.map((key) => key.key_id));
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(paged, ids);

    const bobs = await call(server.baseUrl, 'GET', `${ADMIN}?user_id=bob`, { token: admin });
    assert.deepEqual(new Set(bobs.body.keys.map((key: { user_id: string }) => key.user_id)), new Set(['bob']));
    assert.equal(bobs.body.keys.length, 3);
    const disabled = await call(server.baseUrl, 'GET', `${ADMIN}?status=disabled`, { token: admin });
    assert.deepEqual(disabled.body.keys.map((key: { key_id: string }) => key.key_id), [made[1]]);
    const tests = await call(server.baseUrl, 'GET', `${ADMIN}?environment=test&user_id=bob`, { token: admin });
    assert.equal(tests.body.keys.length, 3);
    assert.ok(tests.body.keys.every((key: { environment: string }) => key.environment === 'test'));
  });

  for (const [query, loc, detail] of [
    ['limit=0', ['query', 'limit'], /1 to 500/],
    ['limit=501', ['query', 'limit'], /1 to 500/],
    ['cursor=not-a-cursor', ['query', 'cursor'], /next_cursor/],
    ['status=gone', ['query', 'status'], /active|disabled/],
    ['usr_id=bob', ['query', 'usr_id'], /Extra inputs are not permitted/],
  ] as const) {
    test(`a bad listing query (${query}) is a 422 naming it`, async () => {
      const response = await call(server.baseUrl, 'GET', `${ADMIN}?${query}`, { token: admin });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.deepEqual(response.body.detail[0].loc, loc);
      assert.match(response.body.detail[0].msg, detail);
    });
  }

  test('an admin creates a key for any user_id; it is that user\'s, and it verifies', async () => {
    const created = await call(server.baseUrl, 'POST', ADMIN, {
      token: admin,
      json: { user_id: 'svc:billing', name: 'billing job', scopes: ['billing:read'], expires_days: 30 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('cache-control'), 'no-store');
    assert.equal(created.body.user_id, 'svc:billing');
    const verified = await verifyOn(server.baseUrl, 'verify', created.body.api_key);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.user_id, 'svc:billing');
    assert.deepEqual(verified.body.scopes, ['billing:read']);
    const owned = await call(server.baseUrl, 'GET', `${ADMIN}?user_id=${encodeURIComponent('svc:billing')}`, { token: admin });
    assert.deepEqual(owned.body.keys.map((key: { key_id: string }) => key.key_id), [created.body.key_id]);
  });

  for (const [json, loc] of [
    [{ name: 'no owner' }, ['body', 'user_id']],
    [{ user_id: '', name: 'x' }, ['body', 'user_id']],
    [{ user_id: 'a\u0000b', name: 'x' }, ['body', 'user_id']],
    // PostgreSQL would store "lone\ufffd": the key would belong to another user than the one named.
    [{ user_id: 'lone\ud800', name: 'x' }, ['body', 'user_id']],
    [{ user_id: 'u', name: 'x', scopez: [] }, ['body', 'scopez']],
    [{ user_id: 'u', name: '' }, ['body', 'name']],
  ] as const) {
    test(`an admin create with ${JSON.stringify(json)} is a 422 at ${loc.join('.')}, and makes no key`, async () => {
      const response = await call(server.baseUrl, 'POST', ADMIN, { token: admin, json });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.deepEqual(response.body.detail[0].loc, loc);
      const listed = await call(server.baseUrl, 'GET', `${ADMIN}?user_id=u`, { token: admin });
      assert.deepEqual(listed.body.keys, []);
    });
  }

  test("an admin reads, patches, rotates and revokes another user's key", async () => {
    const key = await createKey(server, alice, { name: 'alice key' });
    const read = await call(server.baseUrl, 'GET', `${ADMIN}/${key.key_id}`, { token: admin });
    assert.equal(read.status, 200);
    assert.equal(read.body.user_id, 'alice');

    const patched = await call(server.baseUrl, 'PATCH', `${ADMIN}/${key.key_id}`, { token: admin, json: { status: 'disabled', scopes: ['x'] } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.status, 'disabled');
    assert.equal((await verifyOn(server.baseUrl, 'verify', key.api_key)).status, 401);
    const mine = await call(server.baseUrl, 'GET', `${KEYS}${key.key_id}`, { token: alice });
    assert.equal(mine.body.status, 'disabled', 'the owner sees the admin\'s change');
    await call(server.baseUrl, 'PATCH', `${ADMIN}/${key.key_id}`, { token: admin, json: { status: 'active' } });

    const rotated = await call(server.baseUrl, 'POST', `${ADMIN}/${key.key_id}/rotate`, { token: admin, json: { grace_seconds: 60 } });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal((await verifyOn(server.baseUrl, 'verify', rotated.body.new_api_key)).status, 200);
    assert.equal((await verifyOn(server.baseUrl, 'verify', key.api_key)).status, 200, 'the grace keeps the old secret');

    const revoked = await call(server.baseUrl, 'DELETE', `${ADMIN}/${key.key_id}`, { token: admin });
    assert.equal(revoked.status, 204);
    assert.equal((await verifyOn(server.baseUrl, 'verify', rotated.body.new_api_key)).status, 401);
    assert.equal((await call(server.baseUrl, 'GET', `${KEYS}${key.key_id}`, { token: alice })).status, 404);
  });

  test('an admin on the user routes manages only their own keys', async () => {
    const key = await createKey(server, alice);
    assert.equal((await call(server.baseUrl, 'GET', `${KEYS}${key.key_id}`, { token: admin })).status, 404);
    const listed = await call(server.baseUrl, 'GET', KEYS, { token: admin });
    assert.ok(!listed.body.some((listedKey: { key_id: string }) => listedKey.key_id === key.key_id));
  });

  test('a user without the admin scope gets 403 on every admin route, naming the scope, and changes nothing', async () => {
    const key = await createKey(server, alice);
    const routes: [string, string, unknown?][] = [
      ['GET', ADMIN],
      ['POST', ADMIN, { user_id: 'bob', name: 'sneaky' }],
      ['GET', `${ADMIN}/${key.key_id}`],
      ['PATCH', `${ADMIN}/${key.key_id}`, { status: 'disabled' }],
      ['POST', `${ADMIN}/${key.key_id}/rotate`, {}],
      ['DELETE', `${ADMIN}/${key.key_id}`],
    ];
    for (const token of [alice, bob]) {
      for (const [method, path, json] of routes) {
        const response = await call(server.baseUrl, method, path, { token, json });
        assert.equal(response.status, 403, `${method} ${path}: ${JSON.stringify(response.body)}`);
        assert.match(response.body.detail, /keygate:admin/);
        assert.match(response.headers.get('www-authenticate') ?? '', /insufficient_scope.*keygate:admin/);
      }
    }
    assert.equal((await verifyOn(server.baseUrl, 'verify', key.api_key)).status, 200, 'the key is untouched');
    const bobs = await call(server.baseUrl, 'GET', KEYS, { token: bob });
    assert.ok(!bobs.body.some((listed: { name: string }) => listed.name === 'sneaky'));
  });

  test('no route lets a user reach another user\'s key', async () => {
    const key = await createKey(server, alice, { name: 'private' });
    const path = `${KEYS}${key.key_id}`;
    assert.equal((await call(server.baseUrl, 'GET', path, { token: bob })).status, 404);
    assert.equal((await call(server.baseUrl, 'PATCH', path, { token: bob, json: { status: 'disabled' } })).status, 404);
    assert.equal((await call(server.baseUrl, 'POST', `${path}/rotate`, { token: bob, json: {} })).status, 404);
    assert.equal((await call(server.baseUrl, 'DELETE', path, { token: bob })).status, 204, 'the seed\'s answer, which tells nothing');
    const listed = await call(server.baseUrl, 'GET', KEYS, { token: bob });
    assert.ok(!listed.body.some((listedKey: { key_id: string }) => listedKey.key_id === key.key_id));
    const audit = await call(server.baseUrl, 'GET', `/api/v1/audit?key_id=${key.key_id}`, { token: bob });
    assert.equal(audit.status, 200);
    assert.deepEqual(audit.body.events, [], "bob reads no event about alice's key");
    assert.equal((await call(server.baseUrl, 'GET', '/api/v1/audit?user_id=alice', { token: bob })).status, 403);
    const verified = await verifyOn(server.baseUrl, 'verify', key.api_key);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.name, 'private', 'untouched');
  });
});

describe('who is an admin', () => {
  test('KEYGATE_ADMIN_SCOPE names the scope', async () => {
    const server = await startKeygate({ KEYGATE_ADMIN_SCOPE: 'ops' });
    try {
      const usual = await server.tokenFor('x', ['keygate:admin']);
      assert.equal((await call(server.baseUrl, 'GET', ADMIN, { token: usual })).status, 403);
      const ops = await server.tokenFor('x', ['read', 'ops']);
      assert.equal((await call(server.baseUrl, 'GET', ADMIN, { token: ops })).status, 200);
    } finally {
      await server.close();
    }
  });

  test('in OIDC mode, from scope, scp, or the configured roles claim', async () => {
    const signingKey = await rsaSigningKey('key-1');
    const provider = await startIdentityProvider({ keys: [signingKey.publicJwk] });
    const server = await startKeygate({
      KEYGATE_OIDC_ISSUER: provider.url,
      KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE,
      KEYGATE_OIDC_ROLES_CLAIM: 'realm_access.roles',
    });
    try {
      const status = async (claims: Record<string, unknown>) =>
        (await call(server.baseUrl, 'GET', ADMIN, { token: await signRs256(oidcClaims(provider.url, { sub: 'op', ...claims }), signingKey) })).status;
      assert.equal(await status({ scope: 'openid keygate:admin' }), 200);
      assert.equal(await status({ scp: ['keygate:admin'] }), 200);
      assert.equal(await status({ realm_access: { roles: ['keygate:admin'] } }), 200);
      assert.equal(await status({ realm_access: { roles: ['viewer'] } }), 403);
      assert.equal(await status({ roles: ['keygate:admin'] }), 403, 'only the configured claim counts');
      assert.equal(await status({}), 403);
    } finally {
      await server.close();
      await provider.close();
    }
  });
});
