import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseDatabaseUrl } from '../src/config.js';
import { createKeyVerifier } from '../src/index.js';
import { openDatabase, type Store } from '../src/store/database.js';
import { call, keygateForTests, spawnKeygate, TEST_SECRET, type KeygateProcess, type RunningKeygate } from './support/keygate.js';
import { changeRowBehindKeygate } from './support/behind-keygate.js';

// Issue #11's quotas, end to end: a key's usage limit counted down by every successful
// verification (on this server and on another process on the same database, atomically), 429
// at zero, refills aligned to the UTC calendar, and PATCH changing or removing the quota.

const BASE = '/api/v1/api-keys';
const HOUR_MS = 3_600_000;

let userCount = 0;

interface TestKey {
  token: string;
  keyId: string;
  apiKey: string;
}

/** A fresh user with one key, created with `settings` (quota, scopes, rate_limit...) beside its name. */
async function newKey(server: RunningKeygate, settings: Record<string, unknown> = {}): Promise<TestKey> {
  const token = await server.tokenFor(`quota-user-${++userCount}-${process.pid}`);
  const created = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'quota key', ...settings } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { token, keyId: created.body.key_id, apiKey: created.body.api_key };
}

const verify = (baseUrl: string, apiKey: string, query = '') =>
  call(baseUrl, 'POST', `${BASE}/verify${query}`, { headers: { 'x-api-key': apiKey } });

const details = async (server: RunningKeygate, key: TestKey) => {
  const got = await call(server.baseUrl, 'GET', `${BASE}/${key.keyId}`, { token: key.token });
  assert.equal(got.status, 200, JSON.stringify(got.body));
  return got.body;
};

const patch = (server: RunningKeygate, key: TestKey, json: unknown) =>
  call(server.baseUrl, 'PATCH', `${BASE}/${key.keyId}`, { token: key.token, json });

/** The start of the next UTC hour / day after `at`, computed here independently of src/keys/quota.ts. */
const nextHour = (at: number) => new Date(Math.floor(at / HOUR_MS) * HOUR_MS + HOUR_MS).toISOString();
const nextMidnight = (at: number) => {
  const day = new Date(at);
  return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() + 1)).toISOString();
};

const nextFirstOfMonth = (at: number) => {
  const day = new Date(at);
  return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 1)).toISOString();
};

/** One of `candidates` (the value computed just before and just after a call: an hour may turn meanwhile). */
function oneOf<T>(actual: T, candidates: T[], what: string): void {
  assert.ok(candidates.includes(actual), `${what}: ${String(actual)} is none of ${candidates.join(', ')}`);
}

async function exhaustedWith429(response: Awaited<ReturnType<typeof verify>>): Promise<void> {
  assert.equal(response.status, 429, JSON.stringify(response.body));
  assert.match(response.body.detail, /usage limit is reached/i);
}

describe('API key quotas', () => {
  const server = keygateForTests();
  let second: KeygateProcess;
  /**
   * Another connection to the same database, as another process holds: what the tests write
   * "directly in the database" goes through it, so every verifier sees it as it sees any other
   * process's commit (the server's own connection's writes outside its service are invisible to
   * its change stamp on SQLite, which no production writer does).
   */
  let outside: Store;

  before(async () => {
    second = await spawnKeygate({ DATABASE_URL: server.databaseUrl, KEYGATE_SECRET: TEST_SECRET }, server.folder);
    outside = await openDatabase(parseDatabaseUrl(server.databaseUrl), { migrate: false });
  });
  after(async () => {
    await second?.stop();
    await outside?.db.destroy();
  });

  /** What an hour (or more) passing looks like to the row: its refill period is long over. */
  const periodLongAgo = (keyId: string) => changeRowBehindKeygate(outside.db, keyId, { quota_period: '2000-01-01T00:00:00.000Z' });

  test('exactly 10 of 20 concurrent verifications succeed, half of them fired at another process on the same database', async () => {
    const key = await newKey(server, { quota: { remaining: 10 } });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => verify(i % 2 === 0 ? server.baseUrl : second.baseUrl, key.apiKey)),
    );
    const statuses = answers.map((answer) => answer.status);
    assert.equal(statuses.filter((status) => status === 200).length, 10, JSON.stringify(statuses));
    assert.equal(statuses.filter((status) => status === 429).length, 10, JSON.stringify(statuses));
    // Each success took a distinct one of the 10: what is left after each is 9, 8, ... 0, once each.
    const left = answers.filter((answer) => answer.status === 200).map((answer) => answer.body.remaining as number);
    assert.deepEqual(left.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const refused of answers.filter((answer) => answer.status === 429)) await exhaustedWith429(refused);
    assert.equal((await details(server, key)).quota.remaining, 0);
    // And it stays used up, on both processes.
    await exhaustedWith429(await verify(server.baseUrl, key.apiKey));
    await exhaustedWith429(await verify(second.baseUrl, key.apiKey));
  });

  test('remaining counts down in /verify answers, across both processes, to a 429 without Retry-After', async () => {
    const key = await newKey(server, { quota: { remaining: 3, refill: null } });
    const first = await verify(server.baseUrl, key.apiKey);
    assert.equal(first.status, 200);
    assert.equal(first.body.remaining, 2);
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 1);
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 0);

    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      const refused = await verify(baseUrl, key.apiKey);
      await exhaustedWith429(refused);
      assert.equal(refused.headers.get('retry-after'), null, 'no refill: nothing to wait for');
      assert.doesNotMatch(refused.body.detail, /refill/i);
    }
    const shown = await details(server, key);
    assert.deepEqual(shown.quota, { remaining: 0, refill: null, next_refill_at: null });
  });

  test('every verification route and the library use exactly one each', async () => {
    const key = await newKey(server, { quota: { remaining: 4 } });
    const verified = await verify(server.baseUrl, key.apiKey);
    assert.equal(verified.body.remaining, 3);
    const validated = await call(server.baseUrl, 'POST', `${BASE}/validate`, { headers: { 'x-api-key': key.apiKey } });
    assert.equal(validated.status, 200, JSON.stringify(validated.body));
    assert.equal(validated.body.remaining, 2);
    const forwarded = await fetch(`${server.baseUrl}${BASE}/forward-auth`, { headers: { 'x-api-key': key.apiKey } });
    await forwarded.body?.cancel();
    assert.equal(forwarded.status, 200);
    assert.equal((await details(server, key)).quota.remaining, 1);

    const library = await createKeyVerifier({ databaseUrl: server.databaseUrl });
    try {
      const checked = await library.verify(key.apiKey);
      assert.equal(checked.valid, true);
      assert.equal(checked.valid && checked.remaining, 0);
      const refused = await library.verify(key.apiKey);
      assert.equal(refused.valid, false);
      assert.equal(!refused.valid && refused.reason, 'quota_exhausted');
    } finally {
      await library.close();
    }
    await exhaustedWith429(await verify(server.baseUrl, key.apiKey));
    const forwardedAtZero = await fetch(`${server.baseUrl}${BASE}/forward-auth`, { headers: { 'x-api-key': key.apiKey } });
    await forwardedAtZero.body?.cancel();
    assert.equal(forwardedAtZero.status, 429);
  });

  test('with refill: the 429 names the refill time and Retry-After counts the seconds to it', async () => {
    const key = await newKey(server, { quota: { remaining: 1, refill: { amount: 5, interval: 'hour' } } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 0);
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      const before = Date.now();
      const refused = await verify(baseUrl, key.apiKey);
      const afterwards = Date.now();
      await exhaustedWith429(refused);
      const refillAt = /(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)/.exec(refused.body.detail)?.[1];
      assert.ok(refillAt !== undefined, `the detail names when it refills: ${refused.body.detail}`);
      oneOf(new Date(refillAt).toISOString(), [nextHour(before), nextHour(afterwards)], 'the refill time');
      const retryAfter = refused.headers.get('retry-after');
      assert.match(retryAfter ?? '', /^\d+$/, 'Retry-After is whole seconds');
      const seconds = Number(retryAfter);
      assert.ok(seconds >= 1 && seconds <= 3600, `Retry-After ${seconds}`);
      // Within a couple of seconds of the time the detail names.
      assert.ok(Math.abs(Date.parse(refillAt) - (before + seconds * 1000)) <= 2000, `Retry-After ${seconds} vs ${refillAt}`);
    }
  });

  test('the first verification in a later period refills to amount, minus its own use; GET counts a due refill as done', async () => {
    const key = await newKey(server, { quota: { remaining: 3, refill: { amount: 50, interval: 'hour' } } });
    const created = Date.now();
    const fresh = await details(server, key);
    assert.equal(fresh.quota.remaining, 3);
    assert.deepEqual(fresh.quota.refill, { amount: 50, interval: 'hour' });
    oneOf(fresh.quota.next_refill_at, [nextHour(created), nextHour(Date.now())], 'next_refill_at');

    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 2); // warm now
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 1); // warm there too

    await periodLongAgo(key.keyId);
    const asOfNow = await details(server, key);
    assert.equal(asOfNow.quota.remaining, 50, 'a refill that is due shows as done');
    oneOf(asOfNow.quota.next_refill_at, [nextHour(created), nextHour(Date.now())], 'next_refill_at after a due refill');

    const refilled = await verify(server.baseUrl, key.apiKey);
    assert.equal(refilled.status, 200);
    assert.equal(refilled.body.remaining, 49, 'refilled to 50, of which this verification used one');
    // The other process, warm with the old period, counts down what this one refilled.
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 48);
    assert.equal((await details(server, key)).quota.remaining, 48);
  });

  test('an exhausted key refills in a later period, on either process', async () => {
    const key = await newKey(server, { quota: { remaining: 1, refill: { amount: 2, interval: 'day' } } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 0);
    await exhaustedWith429(await verify(server.baseUrl, key.apiKey));
    await exhaustedWith429(await verify(second.baseUrl, key.apiKey));
    const before = Date.now();
    const refused = await verify(server.baseUrl, key.apiKey);
    oneOf(refused.body.detail.match(/\d{4}-\d{2}-\d{2}T[\d:.]+Z/)?.[0], [nextMidnight(before), nextMidnight(Date.now())], 'a daily refill is at midnight UTC');

    await periodLongAgo(key.keyId);
    const onSecond = await verify(second.baseUrl, key.apiKey);
    assert.equal(onSecond.status, 200, JSON.stringify(onSecond.body));
    assert.equal(onSecond.body.remaining, 1);
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 0);
    await exhaustedWith429(await verify(server.baseUrl, key.apiKey));
    const shown = await details(server, key);
    assert.equal(shown.quota.remaining, 0);
    oneOf(shown.quota.next_refill_at, [nextMidnight(before), nextMidnight(Date.now())], 'next_refill_at');
  });

  test('verifications refused for another reason use none of the quota: scope, rate limit, disabled', async () => {
    const key = await newKey(server, { scopes: ['read'], rate_limit: 1, quota: { remaining: 5 } });
    const used = await verify(server.baseUrl, key.apiKey, '?scope=read');
    assert.equal(used.status, 200, JSON.stringify(used.body));
    assert.equal(used.body.remaining, 4);

    // Rate limit: 1 a minute, used by the verification above.
    const limited = await verify(server.baseUrl, key.apiKey);
    assert.equal(limited.status, 429);
    assert.doesNotMatch(limited.body.detail, /usage limit/i);
    assert.match(limited.body.detail, /rate limit/i);
    // Scope: refused before the rate limit and the quota, on /verify and in the header form, on both processes.
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      const scoped = await verify(baseUrl, key.apiKey, '?scope=write');
      assert.equal(scoped.status, 403, JSON.stringify(scoped.body));
      assert.match(scoped.body.detail, /insufficient_scope.*write/);
      const byHeader = await call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': key.apiKey, 'x-keygate-scope': 'admin' } });
      assert.equal(byHeader.status, 403);
    }
    assert.equal((await details(server, key)).quota.remaining, 4, 'neither a rate-limited nor an under-scoped verification used any');

    // Disabled: refused as an invalid key, quota untouched.
    assert.equal((await patch(server, key, { status: 'disabled', rate_limit: null })).status, 200);
    for (const baseUrl of [server.baseUrl, second.baseUrl]) {
      const disabled = await verify(baseUrl, key.apiKey);
      assert.equal(disabled.status, 401);
      assert.deepEqual(disabled.body, { detail: 'Invalid API key' });
    }
    assert.equal((await details(server, key)).quota.remaining, 4);
    assert.equal((await patch(server, key, { status: 'active' })).status, 200);
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 3);
  });

  test('PATCH quota.remaining sets the count, in force at the very next verification on both processes', async () => {
    const key = await newKey(server, { quota: { remaining: 2, refill: { amount: 10, interval: 'day' } } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 1);
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 0);
    await exhaustedWith429(await verify(second.baseUrl, key.apiKey));

    const patched = await patch(server, key, { quota: { remaining: 7 } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.quota.remaining, 7);
    assert.deepEqual(patched.body.quota.refill, { amount: 10, interval: 'day' }, 'a merge patch keeps the refill');
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 6);
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 5);

    assert.equal((await patch(server, key, { quota: { remaining: 0 } })).status, 200);
    await exhaustedWith429(await verify(server.baseUrl, key.apiKey));
    await exhaustedWith429(await verify(second.baseUrl, key.apiKey));
  });

  test('PATCH changing only the refill amount keeps the count', async () => {
    const key = await newKey(server, { quota: { remaining: 5, refill: { amount: 100, interval: 'day' } } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 4);
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 3);
    const patched = await patch(server, key, { quota: { refill: { amount: 50 } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.quota.remaining, 3);
    assert.deepEqual(patched.body.quota.refill, { amount: 50, interval: 'day' });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 2);
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 1);
  });

  test('PATCH adding a refill to a quota without one keeps the count, and refills from the next period on', async () => {
    const key = await newKey(server, { quota: { remaining: 5 } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 4);
    const before = Date.now();
    const patched = await patch(server, key, { quota: { refill: { amount: 100, interval: 'hour' } } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.quota.remaining, 4, 'the count is kept: only the refill changed');
    oneOf(patched.body.quota.next_refill_at, [nextHour(before), nextHour(Date.now())], 'next_refill_at');
    const next = await verify(server.baseUrl, key.apiKey);
    assert.equal(next.body.remaining, 3, 'the next verification counts down the kept count, it does not refill');
  });

  test('PATCH changing only the refill interval keeps the count and refills on the new calendar', async () => {
    // Month and hour: their periods start together only in the first hour of a month, so that
    // a period kept from the old interval shows on the new calendar all the other hours.
    const key = await newKey(server, { quota: { remaining: 5, refill: { amount: 100, interval: 'month' } } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 4);
    const before = Date.now();
    const toHourly = await patch(server, key, { quota: { refill: { interval: 'hour' } } });
    assert.equal(toHourly.status, 200, JSON.stringify(toHourly.body));
    assert.equal(toHourly.body.quota.remaining, 4, 'month to hour keeps the count');
    oneOf(toHourly.body.quota.next_refill_at, [nextHour(before), nextHour(Date.now())], 'an hourly quota refills at the top of the hour');
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 3, 'and the next verification counts it down');

    const toMonthly = await patch(server, key, { quota: { refill: { interval: 'month' } } });
    assert.equal(toMonthly.status, 200, JSON.stringify(toMonthly.body));
    assert.equal(toMonthly.body.quota.remaining, 3, 'hour to month keeps the count');
    oneOf(toMonthly.body.quota.next_refill_at, [nextFirstOfMonth(before), nextFirstOfMonth(Date.now())], 'a monthly quota refills on the 1st, at midnight UTC');
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 2);
  });

  test('a PATCH moving or removing the refill while a refill is due keeps the refilled count, not the spent one', async () => {
    for (const quota of [{ refill: { amount: 100, interval: 'hour' } }, { refill: null }]) {
      const key = await newKey(server, { quota: { remaining: 1, refill: { amount: 100, interval: 'day' } } });
      assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 0);
      await periodLongAgo(key.keyId);
      assert.equal((await details(server, key)).quota.remaining, 100, 'the refill is due');
      const response = await patch(server, key, { quota });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.quota.remaining, 100, JSON.stringify(quota));
      assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 99, `${JSON.stringify(quota)}: the next verification counts down the refilled count`);
    }
  });

  test('{"quota": null} removes the quota: unlimited again, with no remaining anywhere', async () => {
    const key = await newKey(server, { quota: { remaining: 1 } });
    assert.equal((await verify(server.baseUrl, key.apiKey)).body.remaining, 0);
    await exhaustedWith429(await verify(second.baseUrl, key.apiKey));
    const patched = await patch(server, key, { quota: null });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.quota, null);
    for (let i = 0; i < 3; i++) {
      for (const baseUrl of [server.baseUrl, second.baseUrl]) {
        const answer = await verify(baseUrl, key.apiKey);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.ok(!('remaining' in answer.body), JSON.stringify(answer.body));
      }
    }
    // And a quota can be set again.
    assert.equal((await patch(server, key, { quota: { remaining: 1 } })).status, 200);
    assert.equal((await verify(second.baseUrl, key.apiKey)).body.remaining, 0);
    await exhaustedWith429(await verify(server.baseUrl, key.apiKey));
  });

  test('a key without a quota never has remaining: /verify, /validate, forward-auth, the library, GET', async () => {
    const key = await newKey(server);
    for (let i = 0; i < 3; i++) {
      for (const baseUrl of [server.baseUrl, second.baseUrl]) {
        const verified = await verify(baseUrl, key.apiKey);
        assert.equal(verified.status, 200);
        assert.ok(!('remaining' in verified.body), JSON.stringify(verified.body));
      }
    }
    const validated = await call(server.baseUrl, 'POST', `${BASE}/validate`, { headers: { 'x-api-key': key.apiKey } });
    assert.equal(validated.status, 200);
    assert.ok(!('remaining' in validated.body), JSON.stringify(validated.body));
    const forwarded = await fetch(`${server.baseUrl}${BASE}/forward-auth`, { headers: { 'x-api-key': key.apiKey } });
    await forwarded.body?.cancel();
    assert.equal(forwarded.status, 200);
    assert.ok(![...forwarded.headers.keys()].some((name) => /remaining/i.test(name)), [...forwarded.headers.keys()].join(', '));
    const library = await createKeyVerifier({ databaseUrl: server.databaseUrl });
    try {
      const checked = await library.verify(key.apiKey);
      assert.equal(checked.valid, true);
      assert.ok(!('remaining' in checked) || checked.remaining === undefined, JSON.stringify(checked));
    } finally {
      await library.close();
    }
    assert.equal((await details(server, key)).quota, null);
  });

  test('create refuses a malformed quota with a 422 naming the field', async () => {
    const token = await server.tokenFor(`quota-user-${++userCount}-${process.pid}`);
    const cases: [unknown, (string | number)[]][] = [
      [{ remaining: -1 }, ['body', 'quota', 'remaining']],
      [{ remaining: 1.5 }, ['body', 'quota', 'remaining']],
      [{}, ['body', 'quota', 'remaining']],
      [{ remaining: 1, refill: { amount: 0, interval: 'day' } }, ['body', 'quota', 'refill', 'amount']],
      [{ remaining: 1, refill: { amount: 1, interval: 'week' } }, ['body', 'quota', 'refill', 'interval']],
    ];
    for (const [quota, loc] of cases) {
      const refused = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'bad quota', quota } });
      assert.equal(refused.status, 422, JSON.stringify(quota));
      assert.deepEqual(refused.body.detail[0].loc, loc, JSON.stringify(refused.body));
    }
    assert.deepEqual((await call(server.baseUrl, 'GET', `${BASE}/`, { token })).body, [], 'nothing was created');
  });
});
