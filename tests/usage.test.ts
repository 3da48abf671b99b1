import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { UsageHistory } from '../src/keys/usage-history.js';
import { UseRecorder } from '../src/keys/use-recorder.js';
import type { HourUsage, UsageRepository } from '../src/store/usage-repository.js';
import {
  call,
  freshDatabase,
  keygateForTests,
  spawnKeygate,
  startKeygate,
  temporaryFolder,
  tokenFromDatabase,
  type JsonResponse,
  type KeygateProcess,
  type TestDatabase,
} from './support/keygate.js';
import { forgedKey } from './support/keys.js';

// Usage history (issue 12): each key's valid and refused verifications per UTC hour, written
// behind by the recorder that writes last_used, read per hour or day with zeros filled in. The
// recorder and the series first, on their own with a fake store and clock; then over real
// HTTP, in one process and in two on one database (whose flushes must add up exactly).

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const T0 = Date.parse('2030-05-06T10:15:00.000Z');
const FLUSH = { KEYGATE_LAST_USED_FLUSH_MS: '50' };

/** A store that keeps what each flush wrote, and fails while `failing` is set. */
class FakeUseStore {
  flushes: { lastUse: Map<string, string>; usage: HourUsage[] }[] = [];
  failing = false;

  async recordUse(lastUse: ReadonlyMap<string, string>, usage: readonly HourUsage[]): Promise<void> {
    if (this.failing) throw new Error('the database does not answer');
    this.flushes.push({ lastUse: new Map(lastUse), usage: [...usage] });
  }

  /** Every count written, summed by key and hour. */
  totals(): Record<string, { valid: number; refused: number }> {
    const totals: Record<string, { valid: number; refused: number }> = {};
    for (const { usage } of this.flushes) {
      for (const { keyId, hour, valid, refused } of usage) {
        const total = (totals[`${keyId} ${hour}`] ??= { valid: 0, refused: 0 });
        total.valid += valid;
        total.refused += refused;
      }
    }
    return totals;
  }
}

function recorderOn(store: FakeUseStore, clock: { now: number }, errors: unknown[] = []): UseRecorder {
  // An hour between timed flushes: each test flushes when it means to.
  return new UseRecorder(store, HOUR_MS, (error) => errors.push(error), () => clock.now);
}

describe('the use recorder', () => {
  test('counts each key by the hour of the verification, not of the flush, and notes the last valid use', async () => {
    const store = new FakeUseStore();
    const clock = { now: T0 };
    const recorder = recorderOn(store, clock);
    recorder.valid('k1');
    recorder.valid('k1');
    recorder.refused('k1');
    recorder.refused('k2');
    clock.now = T0 + HOUR_MS; // 11:15, the next hour
    recorder.valid('k1');
    clock.now += 5;
    recorder.refused('k1'); // a refusal is no use: last_used stays at the valid one
    clock.now = T0 + 3 * HOUR_MS; // the flush itself, hours later
    await recorder.flush();
    assert.deepEqual(store.totals(), {
      'k1 2030-05-06T10:00:00.000Z': { valid: 2, refused: 1 },
      'k2 2030-05-06T10:00:00.000Z': { valid: 0, refused: 1 },
      'k1 2030-05-06T11:00:00.000Z': { valid: 1, refused: 1 },
    });
    assert.deepEqual([...store.flushes[0]!.lastUse], [['k1', new Date(T0 + HOUR_MS).toISOString()]]);
    await recorder.close();
  });

  test('one write per key and hour per flush; nothing noted, nothing written', async () => {
    const store = new FakeUseStore();
    const clock = { now: T0 };
    const recorder = recorderOn(store, clock);
    for (let i = 0; i < 1000; i++) recorder.valid('k1');
    await recorder.flush();
    await recorder.flush();
    assert.equal(store.flushes.length, 1);
    assert.deepEqual(store.flushes[0]!.usage, [{ keyId: 'k1', hour: '2030-05-06T10:00:00.000Z', valid: 1000, refused: 0 }]);
    await recorder.close();
  });

  test('a failed flush loses nothing and counts nothing twice: its counts join those noted since', async () => {
    const store = new FakeUseStore();
    const clock = { now: T0 };
    const errors: unknown[] = [];
    const recorder = recorderOn(store, clock, errors);
    recorder.valid('k1');
    recorder.valid('k1');
    recorder.refused('k1');
    store.failing = true;
    await recorder.flush();
    assert.equal(errors.length, 1);
    assert.equal(store.flushes.length, 0);
    // Noted while the store was down: the same hour, and the next.
    recorder.valid('k1');
    clock.now = T0 + HOUR_MS;
    recorder.refused('k1');
    await recorder.flush(); // still down
    store.failing = false;
    await recorder.flush();
    assert.equal(errors.length, 2);
    assert.deepEqual(store.totals(), {
      'k1 2030-05-06T10:00:00.000Z': { valid: 3, refused: 1 },
      'k1 2030-05-06T11:00:00.000Z': { valid: 0, refused: 1 },
    });
    assert.deepEqual([...store.flushes[0]!.lastUse], [['k1', new Date(T0).toISOString()]]);
    await recorder.close();
  });

  test('counts noted while a flush is under way go to the next one, and a failure then keeps the newer last use', async () => {
    const store = new FakeUseStore();
    const clock = { now: T0 };
    const recorder = recorderOn(store, clock);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const recordUse = store.recordUse.bind(store);
    store.recordUse = async () => {
      await held;
      store.recordUse = recordUse;
      throw new Error('the transaction failed');
    };
    recorder.valid('k1');
    const failing = recorder.flush();
    clock.now = T0 + 1000;
    recorder.valid('k1'); // noted during the flush that will fail
    release();
    await failing;
    await recorder.flush();
    assert.deepEqual(store.totals(), { 'k1 2030-05-06T10:00:00.000Z': { valid: 2, refused: 0 } });
    assert.deepEqual([...store.flushes[0]!.lastUse], [['k1', new Date(T0 + 1000).toISOString()]]);
    await recorder.close();
  });

  test('close() writes what is left', async () => {
    const store = new FakeUseStore();
    const recorder = recorderOn(store, { now: T0 });
    recorder.refused('k1');
    await recorder.close();
    assert.deepEqual(store.totals(), { 'k1 2030-05-06T10:00:00.000Z': { valid: 0, refused: 1 } });
  });
});

describe('the usage series', () => {
  const stored: HourUsage[] = [
    { keyId: 'k1', hour: '2030-05-05T23:00:00.000Z', valid: 4, refused: 1 },
    { keyId: 'k1', hour: '2030-05-06T08:00:00.000Z', valid: 2, refused: 0 },
    { keyId: 'k1', hour: '2030-05-06T10:00:00.000Z', valid: 1, refused: 3 },
  ];
  const asked: [string, string][] = [];
  const repository = {
    async find(keyId: string, from: string, to: string) {
      asked.push([from, to]);
      return stored.filter((hour) => hour.keyId === keyId && hour.hour >= from && hour.hour < to);
    },
  } as unknown as UsageRepository;
  const anyone = { checkReadable: async () => {} };
  const history = new UsageHistory(anyone, repository, 365, () => new Date(T0));
  const actor = { type: 'user' as const, id: 'alice' };

  test('by the hour: from moved back and to moved on to whole hours, every hour present', async () => {
    const usage = await history.of(actor, 'k1', { from: '2030-05-06T07:30:00Z', to: '2030-05-06T10:01:00Z' });
    assert.deepEqual(asked.at(-1), ['2030-05-06T07:00:00.000Z', '2030-05-06T11:00:00.000Z']);
    assert.equal(usage.from, '2030-05-06T07:00:00.000Z');
    assert.equal(usage.to, '2030-05-06T11:00:00.000Z');
    assert.deepEqual(usage.series, [
      { start: '2030-05-06T07:00:00.000Z', valid: 0, refused: 0 },
      { start: '2030-05-06T08:00:00.000Z', valid: 2, refused: 0 },
      { start: '2030-05-06T09:00:00.000Z', valid: 0, refused: 0 },
      { start: '2030-05-06T10:00:00.000Z', valid: 1, refused: 3 },
    ]);
    assert.deepEqual(usage.total, { valid: 3, refused: 3 });
  });

  test('by default the last 24 hours up to now, by the hour; the last 30 days by the day', async () => {
    const hourly = await history.of(actor, 'k1', {});
    assert.equal(hourly.granularity, 'hour');
    assert.equal(hourly.from, '2030-05-05T10:00:00.000Z');
    assert.equal(hourly.to, '2030-05-06T11:00:00.000Z');
    assert.equal(hourly.series.length, 25);
    assert.deepEqual(hourly.total, { valid: 7, refused: 4 });
    const daily = await history.of(actor, 'k1', { granularity: 'day' });
    assert.equal(daily.from, '2030-04-06T00:00:00.000Z');
    assert.equal(daily.to, '2030-05-07T00:00:00.000Z');
    assert.equal(daily.series.length, 31);
    assert.deepEqual(daily.series.slice(-2), [
      { start: '2030-05-05T00:00:00.000Z', valid: 4, refused: 1 },
      { start: '2030-05-06T00:00:00.000Z', valid: 3, refused: 3 },
    ]);
  });

  test('at most 2000 buckets: 2000 hours pass, 2001 do not', async () => {
    const from = new Date(T0 - 1999 * HOUR_MS).toISOString();
    assert.equal((await history.of(actor, 'k1', { from })).series.length, 2000);
    await assert.rejects(history.of(actor, 'k1', { from: new Date(T0 - 2000 * HOUR_MS).toISOString() }), /at most 2000 buckets/);
    assert.equal((await history.of(actor, 'k1', { from: new Date(T0 - 1999 * DAY_MS).toISOString(), granularity: 'day' })).series.length, 2000);
  });

  test('the retention purges the hours older than it, and 0 keeps them for ever', async () => {
    const purged: string[] = [];
    const purging = { async purgeBefore(before: string) { purged.push(before); return 0; } } as unknown as UsageRepository;
    await new UsageHistory(anyone, purging, 30, () => new Date(T0)).purge();
    await new UsageHistory(anyone, purging, 0, () => new Date(T0)).purge();
    assert.deepEqual(purged, [new Date(T0 - 30 * DAY_MS).toISOString()]);
  });
});

const verifyAt = (baseUrl: string, apiKey: string, query = '') =>
  call(baseUrl, 'POST', `/api/v1/api-keys/verify${query}`, { headers: { 'x-api-key': apiKey } });

/** The key's usage, asked again until its total is `expected` (counts show after a flush), then checked to stay so. */
async function usageReaching(baseUrl: string, path: string, token: string, expected: { valid: number; refused: number }): Promise<JsonResponse> {
  let response: JsonResponse | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    response = await call(baseUrl, 'GET', path, { token });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    if (response.body.total.valid >= expected.valid && response.body.total.refused >= expected.refused) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(response!.body.total, expected);
  return response!;
}

describe('usage over HTTP', () => {
  const server = keygateForTests(FLUSH);
  let users = 0;
  const newUser = async () => {
    const id = `usage-user-${++users}`;
    return { id, token: await server.tokenFor(id) };
  };
  const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) => call(server.baseUrl, method, path, options);
  const verify = (apiKey: string, query = '') => verifyAt(server.baseUrl, apiKey, query);
  const usagePath = (keyId: string, query = '') => `/api/v1/api-keys/${keyId}/usage${query}`;

  async function createKey(token: string, json: Record<string, unknown> = {}): Promise<{ key_id: string; api_key: string }> {
    const created = await api('POST', '/api/v1/api-keys/', { token, json: { name: 'used', ...json } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body;
  }

  async function verifyTimes(times: number, apiKey: string, status: number, query = ''): Promise<void> {
    for (let i = 0; i < times; i++) assert.equal((await verify(apiKey, query)).status, status);
  }

  test('N valid and M refused (missing scope, disabled) are counted exactly; text that is not the secret is not', async () => {
    const { token } = await newUser();
    const { key_id: keyId, api_key: apiKey } = await createKey(token, { scopes: ['read'] });
    await verifyTimes(5, apiKey, 200);
    await verifyTimes(2, apiKey, 200, '?scope=read');
    await verifyTimes(3, apiKey, 403, '?scope=write');
    await verifyTimes(2, forgedKey(keyId), 401); // the key_id, not the secret: nobody's usage
    assert.equal((await api('PATCH', `/api/v1/api-keys/${keyId}`, { token, json: { status: 'disabled' } })).status, 200);
    await verifyTimes(4, apiKey, 401);
    await usageReaching(server.baseUrl, usagePath(keyId), token, { valid: 7, refused: 7 });
  });

  test('a rate limit or an exhausted quota refuses the key: counted as refused', async () => {
    const { token } = await newUser();
    const limited = await createKey(token, { rate_limit: 2 });
    await verifyTimes(2, limited.api_key, 200);
    await verifyTimes(3, limited.api_key, 429);
    const metered = await createKey(token, { quota: { remaining: 3 } });
    await verifyTimes(3, metered.api_key, 200);
    await verifyTimes(2, metered.api_key, 429);
    await usageReaching(server.baseUrl, usagePath(limited.key_id), token, { valid: 2, refused: 3 });
    await usageReaching(server.baseUrl, usagePath(metered.key_id), token, { valid: 3, refused: 2 });
  });

  test('a secret rotated away counts for no key; during a grace the old secret counts for its key', async () => {
    const { token } = await newUser();
    const { key_id: keyId, api_key: first } = await createKey(token);
    const graced = await api('POST', `/api/v1/api-keys/${keyId}/rotate`, { token, json: { grace_seconds: 600 } });
    assert.equal(graced.status, 200);
    await verifyTimes(2, first, 200);
    await verifyTimes(1, graced.body.new_api_key, 200);
    const rotated = await api('POST', `/api/v1/api-keys/${keyId}/rotate`, { token, json: {} });
    assert.equal(rotated.status, 200);
    await verifyTimes(2, first, 401);
    await verifyTimes(2, graced.body.new_api_key, 401);
    await verifyTimes(1, rotated.body.new_api_key, 200);
    await usageReaching(server.baseUrl, usagePath(keyId), token, { valid: 4, refused: 0 });
  });

  test('the hour series has every hour, zeros included; the day series sums the same counts', async () => {
    const { token } = await newUser();
    const { key_id: keyId, api_key: apiKey } = await createKey(token, { scopes: ['read'] });
    const startedHour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    await verifyTimes(3, apiKey, 200);
    await verifyTimes(1, apiKey, 403, '?scope=write');
    const from = new Date(startedHour - 5 * HOUR_MS).toISOString();
    const hourly = (await usageReaching(server.baseUrl, usagePath(keyId, `?from=${from}`), token, { valid: 3, refused: 1 })).body;
    assert.deepEqual(Object.keys(hourly).sort(), ['from', 'granularity', 'key_id', 'series', 'to', 'total']);
    assert.equal(hourly.key_id, keyId);
    assert.equal(hourly.granularity, 'hour');
    assert.equal(hourly.from, from);
    const starts = hourly.series.map((bucket: { start: string }) => Date.parse(bucket.start));
    // From 5 hours before the test's hour to the end of the current one (one more if the hour turned meanwhile).
    assert.ok(hourly.series.length === 6 || hourly.series.length === 7, JSON.stringify(hourly.series));
    starts.forEach((start: number, i: number) => assert.equal(start, Date.parse(from) + i * HOUR_MS));
    assert.equal(Date.parse(hourly.to), starts.at(-1) + HOUR_MS);
    for (const bucket of hourly.series) {
      assert.deepEqual(Object.keys(bucket).sort(), ['refused', 'start', 'valid']);
      if (Date.parse(bucket.start) < startedHour) assert.deepEqual([bucket.valid, bucket.refused], [0, 0]);
    }
    const summed = hourly.series.reduce((sum: number[], b: { valid: number; refused: number }) => [sum[0]! + b.valid, sum[1]! + b.refused], [0, 0]);
    assert.deepEqual(summed, [3, 1]);

    const daily = (await api('GET', usagePath(keyId, '?granularity=day'), { token })).body;
    assert.equal(daily.granularity, 'day');
    assert.deepEqual(daily.total, { valid: 3, refused: 1 });
    assert.ok(daily.series.length === 31 || daily.series.length === 32);
    for (const bucket of daily.series) assert.equal(Date.parse(bucket.start) % DAY_MS, 0, 'days are UTC days');
    const today = daily.series.filter((bucket: { valid: number; refused: number }) => bucket.valid + bucket.refused > 0);
    assert.ok(today.length >= 1 && today.length <= 2); // two only if the test ran over midnight UTC
  });

  test('bad parameters are 422s at their place in the query', async () => {
    const { token } = await newUser();
    const { key_id: keyId } = await createKey(token);
    const issueAt = async (query: string, loc: string[], message?: RegExp) => {
      const response = await api('GET', usagePath(keyId, query), { token });
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.deepEqual(response.body.detail.map((issue: { loc: string[] }) => issue.loc), [loc]);
      if (message) assert.match(response.body.detail[0].msg, message);
    };
    await issueAt('?from=yesterday', ['query', 'from']);
    await issueAt('?to=2030-13-01T00:00:00Z', ['query', 'to']);
    await issueAt('?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z', ['query', 'from'], /before to/);
    await issueAt('?from=2030-01-01T00:00:00Z&to=2030-01-01T00:00:00Z', ['query', 'from'], /before to/);
    await issueAt('?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z', ['query', 'from'], /at most 2000 buckets/);
    await issueAt('?from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&granularity=day', ['query', 'from'], /at most 2000 buckets/);
    await issueAt('?granularity=week', ['query', 'granularity']);
    await issueAt('?since=2030-01-01T00:00:00Z', ['query', 'since'], /Extra inputs/);
  });

  test("another user's key, or none, is 404, and the attempt is in its owner's audit trail; an admin reads any key's", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const { key_id: keyId, api_key: apiKey } = await createKey(alice.token);
    await verifyTimes(2, apiKey, 200);
    await usageReaching(server.baseUrl, usagePath(keyId), alice.token, { valid: 2, refused: 0 });

    const refused = await api('GET', usagePath(keyId), { token: bob.token });
    assert.equal(refused.status, 404);
    assert.deepEqual(refused.body, { detail: 'API key not found' });
    const trail = await api('GET', `/api/v1/audit?key_id=${keyId}&action=key.read`, { token: alice.token });
    assert.equal(trail.status, 200);
    assert.deepEqual(
      trail.body.events.map((event: { outcome: string; actor: { id: string }; detail: unknown }) => [event.outcome, event.actor.id, event.detail]),
      [['refused', bob.id, { reason: 'not_owner' }]],
    );
    const nobody = await api('GET', usagePath('0'.repeat(keyId.length)), { token: alice.token });
    assert.equal(nobody.status, 404);

    const admin = await server.tokenFor('root', ['keygate:admin']);
    const read = await api('GET', `/api/v1/admin/api-keys/${keyId}/usage?granularity=day`, { token: admin });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.deepEqual(read.body.total, { valid: 2, refused: 0 });
    assert.equal((await api('GET', `/api/v1/admin/api-keys/${keyId}/usage`, { token: bob.token })).status, 403);
  });

  test('the OpenAPI document names both routes and their answer', async () => {
    const document = (await api('GET', '/openapi.json')).body;
    assert.equal(document.paths['/api/v1/api-keys/{key_id}/usage'].get.operationId, 'get_api_key_usage');
    assert.equal(document.paths['/api/v1/admin/api-keys/{key_id}/usage'].get.operationId, 'admin_get_api_key_usage');
    assert.deepEqual(document.components.schemas.KeyUsage.required, ['key_id', 'granularity', 'from', 'to', 'series', 'total']);
  });
});

describe('usage counted by two processes on one database', () => {
  const K = 20;
  let folder: string;
  let database: TestDatabase;
  let a: KeygateProcess;
  let b: KeygateProcess;
  let token: string;

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    const env = { DATABASE_URL: database.url, ...FLUSH };
    a = await spawnKeygate(env, folder);
    b = await spawnKeygate(env, folder); // after a: a alone migrates the new database
    token = await tokenFromDatabase(database.url, 'alice');
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  test('each verifies the same key K times, valid and refused, at once: the usage shows exactly 2K of each', async () => {
    const created = await call(a.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'shared', scopes: ['read'] } });
    assert.equal(created.status, 201);
    const { key_id: keyId, api_key: apiKey } = created.body;
    const burst = async (baseUrl: string) => {
      for (let i = 0; i < K; i++) {
        const [valid, refused] = await Promise.all([verifyAt(baseUrl, apiKey), verifyAt(baseUrl, apiKey, '?scope=write')]);
        assert.deepEqual([valid.status, refused.status], [200, 403]);
      }
    };
    await Promise.all([burst(a.baseUrl), burst(b.baseUrl)]);
    for (const instance of [a, b]) {
      await usageReaching(instance.baseUrl, `/api/v1/api-keys/${keyId}/usage`, token, { valid: 2 * K, refused: 2 * K });
    }
  });

  test('a process stopped cleanly writes what it had not flushed yet', async () => {
    const created = await call(a.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'last words' } });
    const { key_id: keyId, api_key: apiKey } = created.body;
    // Flushes once an hour: only its shutdown writes these.
    const slow = await spawnKeygate({ DATABASE_URL: database.url, KEYGATE_LAST_USED_FLUSH_MS: '3600000' }, folder);
    try {
      for (let i = 0; i < K; i++) assert.equal((await verifyAt(slow.baseUrl, apiKey)).status, 200);
    } finally {
      await slow.stop();
    }
    const usage = await call(a.baseUrl, 'GET', `/api/v1/api-keys/${keyId}/usage`, { token });
    assert.deepEqual(usage.body.total, { valid: K, refused: 0 });
  });
});

describe('the usage retention', () => {
  test('a server purges usage hours older than KEYGATE_AUDIT_RETENTION_DAYS at start, with the audit trail', async () => {
    const owner = await startKeygate(FLUSH);
    try {
      const hourAgo = (ms: number) => new Date(Math.floor((Date.now() - ms) / HOUR_MS) * HOUR_MS).toISOString();
      const [oldHour, recentHour] = [hourAgo(40 * DAY_MS), hourAgo(2 * DAY_MS)];
      await owner.keygate.db
        .insertInto('key_usage')
        .values([
          { key_id: 'k1', hour: oldHour, valid: 1, refused: 0 },
          { key_id: 'k1', hour: recentHour, valid: 2, refused: 0 },
        ])
        .execute();
      // Another server on the same database, keeping 30 days: its purge at start takes the old hour.
      const keeper = await startKeygate({ ...FLUSH, DATABASE_URL: owner.databaseUrl, KEYGATE_AUDIT_RETENTION_DAYS: '30' });
      try {
        let hours: string[] = [];
        for (let attempt = 0; attempt < 100; attempt++) {
          hours = (await owner.keygate.db.selectFrom('key_usage').select('hour').execute()).map((row) => row.hour);
          if (hours.length === 1) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.deepEqual(hours, [recentHour]);
      } finally {
        await keeper.close();
      }
    } finally {
      await owner.close();
    }
  });
});
