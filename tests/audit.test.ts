import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { auditEvent } from '../src/audit/audit-event.js';
import { SYSTEM } from '../src/audit/actor.js';
import { AuditRepository } from '../src/store/audit-repository.js';
import { verifyOn } from './support/authority.js';
import { mintLocalUserToken } from '../src/tokens/user-tokens.js';
import { call, onPostgres, spawnKeygate, startKeygate, temporaryFolder, TEST_SECRET, type RunningKeygate } from './support/keygate.js';

// The audit trail over HTTP: one event per change, in the change's own transaction; refused
// attempts too; read newest first by the owner (or an admin, everything); logged; purged by age;
// and holding no secret. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL.

const KEYS = '/api/v1/api-keys/';
const AUDIT = '/api/v1/audit';

interface Event {
  event_id: string;
  occurred_at: string;
  actor: { type: string; id: string };
  action: string;
  outcome: string;
  key_id: string | null;
  owner_id: string | null;
  changes: Record<string, { old: unknown; new: unknown }>;
  detail: Record<string, unknown>;
  client_address: string | null;
  user_agent: string | null;
  request_id: string | null;
}

async function eventsOf(server: RunningKeygate, token: string, query = ''): Promise<Event[]> {
  const response = await call(server.baseUrl, 'GET', `${AUDIT}?limit=500${query}`, { token });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.events;
}

/** Every row of the audit table, as stored. */
async function storedEvents(server: RunningKeygate): Promise<Record<string, unknown>[]> {
  return server.keygate.db.selectFrom('audit_events').selectAll().execute();
}

describe('the audit trail', () => {
  let server: RunningKeygate;
  let admin: string;
  let alice: string;
  let bob: string;

  before(async () => {
    server = await startKeygate({ KEYGATE_MAX_KEYS_PER_USER: '50', KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0' });
    admin = await server.tokenFor('ops', ['keygate:admin']);
    alice = await server.tokenFor('alice');
    bob = await server.tokenFor('bob');
  });
  after(() => server?.close());

  test('every change of a key appends one event: who, what, the fields before and after, from where', async () => {
    const headers = { 'user-agent': 'audit-test/1.0', 'x-request-id': 'trace-123' };
    const created = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'ci', scopes: ['a'] }, headers });
    assert.equal(created.status, 201);
    const keyId: string = created.body.key_id;
    await call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, { token: alice, json: { name: 'ci-2', scopes: ['a', 'b'] } });
    await call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, { token: alice, json: { status: 'disabled' } });
    await call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, { token: alice, json: { status: 'active' } });
    await call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, { token: alice, json: { name: 'ci-2' } }); // no change, no event
    await call(server.baseUrl, 'POST', `${KEYS}${keyId}/rotate`, { token: alice, json: { grace_seconds: 600 } });
    await call(server.baseUrl, 'DELETE', `${KEYS}${keyId}`, { token: alice });

    const events = (await eventsOf(server, alice, `&key_id=${keyId}`)).reverse();
    assert.deepEqual(
      events.map((event) => event.action),
      ['key.created', 'key.updated', 'key.disabled', 'key.enabled', 'key.rotated', 'key.revoked'],
    );
    for (const event of events) {
      assert.deepEqual(event.actor, { type: 'user', id: 'alice' });
      assert.equal(event.outcome, 'succeeded');
      assert.equal(event.owner_id, 'alice');
      assert.equal(event.client_address, '127.0.0.1');
    }
    const [create, update, disable, , rotate, revoke] = events as [Event, Event, Event, Event, Event, Event];
    assert.equal(create.user_agent, 'audit-test/1.0');
    // Not behind a trusted proxy: a client's X-Request-Id is not believed, keygate numbers its own.
    assert.match(create.request_id!, /^[A-Za-z0-9_-]{8}-[0-9a-z]+$/);
    assert.equal(new Set(events.map((event) => event.request_id)).size, events.length, 'one id per request');
    assert.deepEqual(create.changes.name, { old: null, new: 'ci' });
    assert.deepEqual(create.changes.scopes, { old: null, new: ['a'] });
    assert.deepEqual(update.changes, { name: { old: 'ci', new: 'ci-2' }, scopes: { old: ['a'], new: ['a', 'b'] } });
    assert.deepEqual(disable.changes, { status: { old: 'active', new: 'disabled' } });
    assert.equal(rotate.detail.grace_seconds, 600);
    assert.match(String(rotate.detail.previous_key_expires_at), /^\d{4}-/);
    assert.deepEqual(revoke.changes.name, { old: 'ci-2', new: null });
    assert.ok(events.every((event, i) => i === 0 || event.occurred_at >= events[i - 1]!.occurred_at));
  });

  test('a self-revoke is audited as the key holder, a quota refill as keygate itself', async () => {
    const created = await call(server.baseUrl, 'POST', KEYS, {
      token: alice,
      json: { name: 'metered', quota: { remaining: 1, refill: { amount: 5, interval: 'day' } } },
    });
    const keyId: string = created.body.key_id;
    // The quota's period as if it were yesterday's: the next verification refills it.
    await server.keygate.db.updateTable('api_keys').set({ quota_period: '2000-01-01T00:00:00.000Z' }).where('key_id', '=', keyId).execute();
    const verified = await verifyOn(server.baseUrl, 'verify', created.body.api_key);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.remaining, 4);
    const revoked = await call(server.baseUrl, 'POST', `${KEYS}self-revoke`, { headers: { 'x-api-key': created.body.api_key } });
    assert.equal(revoked.status, 204);

    const [revoke, refill] = await eventsOf(server, alice, `&key_id=${keyId}`);
    assert.equal(refill!.action, 'key.quota_refilled');
    assert.deepEqual(refill!.actor, SYSTEM);
    assert.equal(refill!.detail.amount, 5);
    assert.equal(revoke!.action, 'key.revoked');
    assert.deepEqual(revoke!.actor, { type: 'key_holder', id: keyId });
  });

  test("refused attempts at someone else's key are audited, for the owner to see; the intruder sees none", async () => {
    const created = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'target' } });
    const keyId: string = created.body.key_id;
    assert.equal((await call(server.baseUrl, 'GET', `${KEYS}${keyId}`, { token: bob })).status, 404);
    assert.equal((await call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, { token: bob, json: { status: 'disabled' } })).status, 404);
    assert.equal((await call(server.baseUrl, 'POST', `${KEYS}${keyId}/rotate`, { token: bob, json: {} })).status, 404);
    assert.equal((await call(server.baseUrl, 'DELETE', `${KEYS}${keyId}`, { token: bob })).status, 204);
    assert.equal((await call(server.baseUrl, 'GET', '/api/v1/admin/api-keys', { token: bob })).status, 403);

    const refused = (await eventsOf(server, alice, `&key_id=${keyId}`)).filter((event) => event.outcome === 'refused').reverse();
    assert.deepEqual(
      refused.map((event) => event.action),
      ['key.read', 'key.updated', 'key.rotated', 'key.revoked'],
    );
    for (const event of refused) {
      assert.deepEqual(event.actor, { type: 'user', id: 'bob' });
      assert.equal(event.owner_id, 'alice');
      assert.equal(event.detail.reason, 'not_owner');
      assert.deepEqual(event.changes, {});
    }
    assert.deepEqual(await eventsOf(server, bob, `&key_id=${keyId}`), []);
    const adminAccess = await eventsOf(server, admin, '&action=admin.access');
    assert.ok(adminAccess.some((event) => event.actor.id === 'bob' && event.outcome === 'refused' && event.detail.route === '/api/v1/admin/api-keys'));
    // Each admin route, each attempt.
    const before = adminAccess.length;
    for (const [method, path] of [
      ['POST', '/api/v1/admin/api-keys'],
      ['GET', `/api/v1/admin/api-keys/${keyId}`],
      ['PATCH', `/api/v1/admin/api-keys/${keyId}`],
      ['POST', `/api/v1/admin/api-keys/${keyId}/rotate`],
      ['DELETE', `/api/v1/admin/api-keys/${keyId}`],
    ] as const) {
      assert.equal((await call(server.baseUrl, method, path, { token: bob, json: method === 'DELETE' || method === 'GET' ? undefined : {} })).status, 403);
    }
    const routes = (await eventsOf(server, admin, '&action=admin.access')).slice(0, 5).map((event) => `${event.detail.method} ${event.detail.route}`);
    assert.equal((await eventsOf(server, admin, '&action=admin.access')).length, before + 5);
    assert.deepEqual(routes.sort(), [
      'DELETE /api/v1/admin/api-keys/:key_id',
      'GET /api/v1/admin/api-keys/:key_id',
      'PATCH /api/v1/admin/api-keys/:key_id',
      'POST /api/v1/admin/api-keys',
      'POST /api/v1/admin/api-keys/:key_id/rotate',
    ]);

    // A key_id that exists nowhere is audited without an owner; text that is no key_id, without a key_id.
    const nowhere = 'AAAAAAAAAAAA';
    assert.ok(server.keygate.apiKeys && nowhere.length === keyId.length);
    await call(server.baseUrl, 'GET', `${KEYS}${nowhere}`, { token: bob });
    await call(server.baseUrl, 'GET', `${KEYS}${encodeURIComponent('mcpkey_live_whatever')}`, { token: bob });
    const strays = (await eventsOf(server, admin, '&action=key.read')).filter((event) => event.actor.id === 'bob' && event.owner_id === null);
    assert.deepEqual(
      strays.map((event) => [event.key_id, event.detail.reason]),
      [
        [null, 'not_found'],
        [nowhere, 'not_found'],
      ],
    );
  });

  test('an admin reads every event and filters by owner, action and time; a user only their own', async () => {
    const all = await eventsOf(server, admin);
    assert.ok(new Set(all.map((event) => event.owner_id)).has('alice'));
    const bobs = await eventsOf(server, admin, '&user_id=alice&action=key.created');
    assert.ok(bobs.length >= 3);
    assert.ok(bobs.every((event) => event.owner_id === 'alice' && event.action === 'key.created'));
    const newest = all[0]!.occurred_at;
    const since = await eventsOf(server, admin, `&since=${encodeURIComponent(newest)}`);
    assert.ok(since.length >= 1 && since.every((event) => event.occurred_at >= newest));
    const until = await eventsOf(server, admin, `&until=${encodeURIComponent(newest)}`);
    assert.ok(until.every((event) => event.occurred_at < newest));
    assert.equal(since.length + until.length, all.length);
    const mine = await eventsOf(server, alice);
    assert.ok(mine.length > 0 && mine.every((event) => event.owner_id === 'alice'));
    assert.equal((await call(server.baseUrl, 'GET', `${AUDIT}?user_id=bob`, { token: alice })).status, 403);
  });

  test('pages run newest first and meet exactly: no event twice, none skipped', async () => {
    const all = await eventsOf(server, admin);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { events: Event[]; next_cursor: string | null } } = await call(
        server.baseUrl,
        'GET',
        `${AUDIT}?limit=4${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        { token: admin },
      );
      assert.equal(page.status, 200);
      paged.push(...page.body.events.map((event) => event.event_id));
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(paged, all.map((event) => event.event_id));

    // A last page that is exactly full says so: no cursor to an empty page.
    const exact = await call(server.baseUrl, 'GET', `${AUDIT}?limit=${all.length}`, { token: admin });
    assert.equal(exact.body.events.length, all.length);
    assert.equal(exact.body.next_cursor, null);
    const short = await call(server.baseUrl, 'GET', `${AUDIT}?limit=${all.length - 1}`, { token: admin });
    assert.notEqual(short.body.next_cursor, null);
  });

  test('changes an admin makes are audited as the admin, on the owner\'s key', async () => {
    const created = await call(server.baseUrl, 'POST', '/api/v1/admin/api-keys', { token: admin, json: { user_id: 'carol', name: 'svc' } });
    const keyId: string = created.body.key_id;
    await call(server.baseUrl, 'PATCH', `/api/v1/admin/api-keys/${keyId}`, { token: admin, json: { status: 'disabled' } });
    await call(server.baseUrl, 'POST', `/api/v1/admin/api-keys/${keyId}/rotate`, { token: admin, json: {} });
    await call(server.baseUrl, 'DELETE', `/api/v1/admin/api-keys/${keyId}`, { token: admin });
    const events = (await eventsOf(server, admin, `&key_id=${keyId}`)).reverse();
    assert.deepEqual(events.map((event) => event.action), ['key.created', 'key.disabled', 'key.rotated', 'key.revoked']);
    for (const event of events) {
      assert.deepEqual(event.actor, { type: 'admin', id: 'ops' });
      assert.equal(event.owner_id, 'carol');
    }
    const carol = await server.tokenFor('carol');
    assert.equal((await eventsOf(server, carol, `&key_id=${keyId}`)).length, 4, 'the owner reads what was done to their key');
  });

  test('of concurrent changes to one key, each one that took effect has its event, and no other', async () => {
    const created = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'contended' } });
    const keyId: string = created.body.key_id;
    const patches = await Promise.all(
      ['a', 'b', 'c', 'd'].map((name) => call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, { token: alice, json: { name } })),
    );
    const applied = patches.filter((response) => response.status === 200).length;
    assert.ok(applied >= 1);
    assert.ok(patches.every((response) => response.status === 200 || response.status === 409));
    const revokes = await Promise.all([1, 2, 3].map(() => call(server.baseUrl, 'DELETE', `${KEYS}${keyId}`, { token: alice })));
    assert.ok(revokes.every((response) => response.status === 204));
    const events = await eventsOf(server, alice, `&key_id=${keyId}`);
    const succeeded = (action: string) => events.filter((event) => event.action === action && event.outcome === 'succeeded').length;
    assert.equal(succeeded('key.updated'), applied);
    assert.equal(succeeded('key.revoked'), 1);
  });

  for (const [query, loc] of [
    ['action=key.exploded', ['query', 'action']],
    ['since=yesterday', ['query', 'since']],
    ['until=2026-13-45T00:00:00Z', ['query', 'until']],
    ['cursor=WyJ4Il0', ['query', 'cursor']],
    ['limit=lots', ['query', 'limit']],
    ['owner=alice', ['query', 'owner']],
  ] as const) {
    test(`a bad audit query (${query}) is a 422 at ${loc.join('.')}`, async () => {
      const response = await call(server.baseUrl, 'GET', `${AUDIT}?${query}`, { token: admin });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.deepEqual(response.body.detail[0].loc, loc);
    });
  }

  test('reading the trail needs a user token', async () => {
    assert.equal((await call(server.baseUrl, 'GET', AUDIT)).status, 401);
  });
});

describe('an event commits with its change, or not at all', () => {
  let server: RunningKeygate;
  let alice: string;

  before(async () => {
    server = await startKeygate({ KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0' });
    alice = await server.tokenFor('alice');
  });
  after(() => server?.close());

  /** A trigger that fails every insert into (or update of) `table`, for the length of `during`. */
  async function failing(table: string, operation: 'INSERT' | 'UPDATE', during: () => Promise<void>): Promise<void> {
    const { db } = server.keygate;
    if (onPostgres) {
      await sql`create function keygate_test_refuse() returns trigger as $$ begin raise exception 'refused by the test'; end $$ language plpgsql`.execute(db);
      await sql`create trigger keygate_test_refuse before ${sql.raw(operation)} on ${sql.table(table)} for each row execute function keygate_test_refuse()`.execute(db);
    } else {
      await sql`create trigger keygate_test_refuse before ${sql.raw(operation)} on ${sql.table(table)} begin select raise(abort, 'refused by the test'); end`.execute(db);
    }
    try {
      await during();
    } finally {
      await sql`drop trigger keygate_test_refuse ${sql.raw(onPostgres ? `on ${table}` : '')}`.execute(db);
      if (onPostgres) await sql`drop function keygate_test_refuse()`.execute(db);
    }
  }

  test('an audit insert that fails rolls the change back: no key is created, none is changed', async () => {
    const kept = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'kept' } });
    const eventsBefore = (await storedEvents(server)).length;
    await failing('audit_events', 'INSERT', async () => {
      const created = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'lost' } });
      assert.equal(created.status, 500);
      const patched = await call(server.baseUrl, 'PATCH', `${KEYS}${kept.body.key_id}`, { token: alice, json: { name: 'renamed' } });
      assert.equal(patched.status, 500);
      const rotated = await call(server.baseUrl, 'POST', `${KEYS}${kept.body.key_id}/rotate`, { token: alice, json: {} });
      assert.equal(rotated.status, 500);
      const revoked = await call(server.baseUrl, 'DELETE', `${KEYS}${kept.body.key_id}`, { token: alice });
      assert.equal(revoked.status, 500);
    });
    const listed = await call(server.baseUrl, 'GET', KEYS, { token: alice });
    assert.deepEqual(listed.body.map((key: { name: string }) => key.name), ['kept']);
    assert.equal((await storedEvents(server)).length, eventsBefore);
    const verified = await verifyOn(server.baseUrl, 'verify', kept.body.api_key);
    assert.equal(verified.status, 200, 'neither rotated nor revoked');
    assert.equal(verified.body.name, 'kept');
  });

  test('a change that fails leaves no event', async () => {
    const key = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'stable' } });
    const eventsBefore = (await storedEvents(server)).length;
    await failing('api_keys', 'UPDATE', async () => {
      const patched = await call(server.baseUrl, 'PATCH', `${KEYS}${key.body.key_id}`, { token: alice, json: { status: 'disabled' } });
      assert.equal(patched.status, 500);
      const rotated = await call(server.baseUrl, 'POST', `${KEYS}${key.body.key_id}/rotate`, { token: alice, json: {} });
      assert.equal(rotated.status, 500);
    });
    assert.equal((await storedEvents(server)).length, eventsBefore);
    assert.equal((await verifyOn(server.baseUrl, 'verify', key.body.api_key)).status, 200);
  });
});

describe('retention', () => {
  test('events older than KEYGATE_AUDIT_RETENTION_DAYS are purged when the server starts, newer ones kept', async () => {
    const first = await startKeygate({ KEYGATE_AUDIT_RETENTION_DAYS: '30' });
    const repository = new AuditRepository(first.keygate.db);
    const old = auditEvent({ action: 'key.created', keyId: null, ownerId: 'x' }, SYSTEM, new Date(Date.now() - 31 * 86_400_000));
    const recent = auditEvent({ action: 'key.created', keyId: null, ownerId: 'x' }, SYSTEM, new Date(Date.now() - 29 * 86_400_000));
    await repository.append(old);
    await repository.append(recent);
    assert.equal(await first.keygate.audit.purge(), 1);
    const left = (await storedEvents(first)).map((row) => row.event_id);
    assert.ok(left.includes(recent.eventId) && !left.includes(old.eventId));

    // And in the background of a starting server, on the same database.
    await repository.append(auditEvent({ action: 'key.created', keyId: null, ownerId: 'x' }, SYSTEM, new Date(Date.now() - 40 * 86_400_000)));
    const second = await startKeygate({ DATABASE_URL: first.databaseUrl, KEYGATE_AUDIT_RETENTION_DAYS: '30' });
    try {
      for (let tries = 0; (await storedEvents(second)).length !== 1; tries += 1) {
        assert.ok(tries < 200, 'the old event was never purged');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    } finally {
      await second.close();
      await first.close();
    }
  });

  test('0 keeps events for ever', async () => {
    const server = await startKeygate({ KEYGATE_AUDIT_RETENTION_DAYS: '0' });
    try {
      await new AuditRepository(server.keygate.db).append(auditEvent({ action: 'key.created', keyId: null, ownerId: 'x' }, SYSTEM, new Date(0)));
      assert.equal(await server.keygate.audit.purge(), 0);
      assert.equal((await storedEvents(server)).length, 1);
    } finally {
      await server.close();
    }
  });
});

describe('the audit trail holds no secret', () => {
  test('no issued key, secret part, hash or token appears in any event', async () => {
    const server = await startKeygate({ KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0', KEYGATE_MAX_KEYS_PER_USER: '20' });
    const admin = await server.tokenFor('ops', ['keygate:admin']);
    const alice = await server.tokenFor('alice');
    const secrets: string[] = [admin, alice];
    const hashesOf = async (keyId: string) => {
      const row = await server.keygate.db.selectFrom('api_keys').select(['key_hash', 'previous_key_hash']).where('key_id', '=', keyId).executeTakeFirst();
      return [row?.key_hash, row?.previous_key_hash].filter((hash): hash is string => typeof hash === 'string');
    };
    let rehashedOn: RunningKeygate | undefined;
    try {
      for (let i = 0; i < 3; i += 1) {
        const created = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: `k${i}`, metadata: { i }, scopes: ['s'] } });
        secrets.push(created.body.api_key, ...(await hashesOf(created.body.key_id)));
        // An exchanged token, and a verification that refills nothing but counts as use.
        const exchanged = await verifyOn(server.baseUrl, 'validate', created.body.api_key);
        secrets.push(exchanged.body.access_token);
        const rotated = await call(server.baseUrl, 'POST', `${KEYS}${created.body.key_id}/rotate`, { token: alice, json: { grace_seconds: 60 } });
        secrets.push(rotated.body.new_api_key, ...(await hashesOf(created.body.key_id)));
        await call(server.baseUrl, 'PATCH', `${KEYS}${created.body.key_id}`, { token: alice, json: { status: 'disabled' } });
        if (i === 0) await call(server.baseUrl, 'POST', `${KEYS}self-revoke`, { headers: { 'x-api-key': rotated.body.new_api_key } });
        if (i === 1) await call(server.baseUrl, 'DELETE', `/api/v1/admin/api-keys/${created.body.key_id}`, { token: admin });
      }
      const forAdmin = await call(server.baseUrl, 'POST', '/api/v1/admin/api-keys', { token: admin, json: { user_id: 'svc', name: 'svc' } });
      secrets.push(forAdmin.body.api_key);
      // A server set to the other scheme rehashes the key on its next verification: audited, with no hash.
      rehashedOn = await startKeygate({ DATABASE_URL: server.databaseUrl, KEYGATE_KEY_HASH: 'hmac-sha256' });
      assert.equal((await verifyOn(rehashedOn.baseUrl, 'verify', forAdmin.body.api_key)).status, 200);
      for (let tries = 0; (await storedEvents(server)).every((row) => row.action !== 'key.rehashed'); tries += 1) {
        assert.ok(tries < 200, 'no rehash event');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      secrets.push(...(await hashesOf(forAdmin.body.key_id)));
      // Text holding a key's random part where a key_id goes (short enough for the route) is not recorded.
      await call(server.baseUrl, 'GET', `${KEYS}${encodeURIComponent(forAdmin.body.api_key.slice(-40))}`, { token: alice });

      const stored = JSON.stringify(await storedEvents(server));
      assert.ok(stored.includes('key.rehashed') && stored.includes('key.revoked') && stored.includes('"refused"'), 'every kind of event is there to search');
      for (const secret of secrets) {
        assert.ok(!stored.includes(secret), `a secret in the trail: ${secret.slice(0, 12)}...`);
        // The random part alone, without the prefix and key_id that the trail may name.
        assert.ok(!stored.includes(secret.slice(-30)), 'part of a secret in the trail');
      }
    } finally {
      await rehashedOn?.close();
      await server.close();
    }
  });

  test('the server logs each event as a JSON line, with no secret', { skip: onPostgres && 'a log line is the same on either database' }, async () => {
    const folder = temporaryFolder();
    const server = await spawnKeygate({ KEYGATE_SECRET: TEST_SECRET }, folder);
    try {
      const token = await mintLocalUserToken(TEST_SECRET, { userId: 'alice', ttl: '1h' });
      const created = await call(server.baseUrl, 'POST', KEYS, { token, json: { name: 'logged' } });
      assert.equal(created.status, 201);
      const keyId: string = created.body.key_id;
      const output = await server.waitForOutput(new RegExp(`"audit":\\{[^\n]*"keyId":"${keyId}"`));
      const line = output.split('\n').find((text) => text.includes('"audit":{') && text.includes(keyId));
      assert.ok(line, output);
      const logged = JSON.parse(line) as { msg: string; audit: { action: string; keyId: string; actor: { id: string } } };
      assert.equal(logged.audit.action, 'key.created');
      assert.equal(logged.audit.actor.id, 'alice');
      assert.equal(logged.msg, 'audit: key.created succeeded');
      assert.ok(!server.output().includes(created.body.api_key));
      assert.ok(!server.output().includes(token));
    } finally {
      await server.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('behind a trusted proxy', () => {
  let server: RunningKeygate;
  let alice: string;
  let bob: string;

  before(async () => {
    server = await startKeygate({ KEYGATE_TRUST_PROXY: 'true', KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0' });
    alice = await server.tokenFor('alice');
    bob = await server.tokenFor('bob');
  });
  after(() => server?.close());

  test("the proxy's X-Request-Id and client address are recorded; one that could be a key is not", async () => {
    const created = await call(server.baseUrl, 'POST', KEYS, {
      token: alice,
      json: { name: 'traced' },
      headers: { 'x-request-id': 'trace-123', 'x-forwarded-for': '203.0.113.7' },
    });
    const keyId: string = created.body.key_id;
    await call(server.baseUrl, 'PATCH', `${KEYS}${keyId}`, {
      token: alice,
      json: { name: 'traced again' },
      headers: { 'x-request-id': `mcpkey_live_${keyId}_secretish` },
    });
    const [patch, create] = await eventsOf(server, alice, `&key_id=${keyId}`);
    assert.equal(create!.request_id, 'trace-123');
    assert.equal(create!.client_address, '203.0.113.7');
    assert.ok(!patch!.request_id!.includes('mcpkey_live_'));
  });

  test('a forwarded "address" that is no address is not kept, and a refused attempt is audited all the same', async () => {
    const created = await call(server.baseUrl, 'POST', KEYS, { token: alice, json: { name: 'probed' } });
    const garbage = { 'x-forwarded-for': 'a'.repeat(200), 'user-agent': 'u'.repeat(2000) };
    const probe = await call(server.baseUrl, 'GET', `${KEYS}${created.body.key_id}`, { token: bob, headers: garbage });
    assert.equal(probe.status, 404);
    const [refused] = await eventsOf(server, alice, `&key_id=${created.body.key_id}&action=key.read`);
    assert.deepEqual(refused!.actor, { type: 'user', id: 'bob' });
    assert.equal(refused!.client_address, null);
    assert.equal(refused!.user_agent!.length, 512);
  });
});

describe('hostile filters', () => {
  let server: RunningKeygate;
  let admin: string;
  let alice: string;

  before(async () => {
    server = await startKeygate({ KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0' });
    admin = await server.tokenFor('ops', ['keygate:admin']);
    alice = await server.tokenFor('alice');
  });
  after(() => server?.close());

  const cursorOf = (position: unknown) => Buffer.from(JSON.stringify(position)).toString('base64url');
  for (const [path, loc, as] of [
    [`${AUDIT}?key_id=%00`, ['query', 'key_id'], 'user'],
    [`${AUDIT}?user_id=%00`, ['query', 'user_id'], 'admin'],
    [`${AUDIT}?cursor=${cursorOf(['\u0000', 'x'])}`, ['query', 'cursor'], 'user'],
    [`${AUDIT}?cursor=${cursorOf(['2026-01-01T00:00:00.000Z', '\u0000'])}`, ['query', 'cursor'], 'user'],
    [`${AUDIT}?until=${encodeURIComponent('9999-12-31T23:00:00-01:00')}`, ['query', 'until'], 'admin'],
    [`/api/v1/admin/api-keys?cursor=${cursorOf(['\u0000', 'x'])}`, ['query', 'cursor'], 'admin'],
    [`/api/v1/admin/api-keys?user_id=%00`, ['query', 'user_id'], 'admin'],
  ] as const) {
    test(`${path} is a 422 at ${loc.join('.')}, never a 500`, async () => {
      const response = await call(server.baseUrl, 'GET', path, { token: as === 'admin' ? admin : alice });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.deepEqual(response.body.detail[0].loc, loc);
    });
  }
});
