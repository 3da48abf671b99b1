import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addressKey } from '../src/limits/address-key.js';
import { bindingLimit, byAddress, decide, rateLimit, type Limit, type Window } from '../src/limits/policy.js';
import { MemoryCounters } from '../src/store/rate-limit-stores.js';
import { call, keygateForTests, metric, startKeygate, type JsonResponse, type RunningKeygate } from './support/keygate.js';
import { forgedKey, unknownKey } from './support/keys.js';
import { redisSkip, startRedis, type RunningRedis } from './support/redis.js';

// Rate limits over real HTTP: per user on the management endpoints, per presented key_id and per
// client address on /verify and /validate; in memory, and in a real redis-server shared by two
// keygates, which the tests stop and start again. Every limit here is per minute, and each test
// is done in far less, so no window ends in the middle of one. The in-memory counters and the
// address keys are also checked on their own, with a clock the test moves.

const LIST = '/api/v1/api-keys/';
const REFUSED_DETAIL = /^Rate limit exceeded: .+, retry in (\d+) seconds?$/;

const list = (server: RunningKeygate, token: string) => call(server.baseUrl, 'GET', LIST, { token });
const verify = (server: RunningKeygate, apiKey: string, path = '/api/v1/api-keys/verify') =>
  call(server.baseUrl, 'POST', path, { headers: { 'x-api-key': apiKey } });
const validate = (server: RunningKeygate, apiKey: string) => verify(server, apiKey, '/api/v1/api-keys/validate');

let userCount = 0;
const newUserId = () => `rate-user-${++userCount}@example.com`;

async function newKey(server: RunningKeygate): Promise<string> {
  const created = await call(server.baseUrl, 'POST', LIST, { token: await server.tokenFor(newUserId()), json: { name: 'limited' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.api_key;
}


function assertLimitFields(response: JsonResponse, limit: number, remaining: number): void {
  assert.equal(response.headers.get('ratelimit-limit'), String(limit), 'RateLimit-Limit');
  assert.equal(response.headers.get('ratelimit-remaining'), String(remaining), 'RateLimit-Remaining');
  const reset = Number(response.headers.get('ratelimit-reset'));
  assert.ok(Number.isInteger(reset) && reset >= 1 && reset <= 60, `RateLimit-Reset ${reset}`);
}

function assertRefused(response: JsonResponse, limit: number, what: RegExp): void {
  assert.equal(response.status, 429, JSON.stringify(response.body));
  assert.deepEqual(Object.keys(response.body), ['detail']);
  const match = REFUSED_DETAIL.exec(response.body.detail);
  assert.ok(match, response.body.detail);
  assert.match(response.body.detail, what);
  const retryAfter = response.headers.get('retry-after');
  assert.equal(retryAfter, match[1], 'Retry-After agrees with the detail');
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);
  assertLimitFields(response, limit, 0);
  assert.equal(response.headers.get('ratelimit-reset'), retryAfter);
}

function assertNoLimitFields(response: JsonResponse): void {
  for (const name of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after']) {
    assert.equal(response.headers.get(name), null, name);
  }
}

const storeErrors = (server: RunningKeygate) => metric(server.baseUrl, 'keygate_rate_limit_store_errors_total');

describe('management endpoints, per user, in memory', () => {
  const server = keygateForTests({ KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '3' });

  test('one budget across the four endpoints; beyond it 429 with Retry-After, RateLimit fields and a detail', async () => {
    const userId = newUserId();
    const token = await server.tokenFor(userId);
    const created = await call(server.baseUrl, 'POST', LIST, { token, json: { name: 'first' } });
    assert.equal(created.status, 201);
    assertLimitFields(created, 3, 2);
    const listed = await list(server, token);
    assert.equal(listed.status, 200);
    assertLimitFields(listed, 3, 1);
    const rotated = await call(server.baseUrl, 'POST', `${LIST}${created.body.key_id}/rotate`, { token });
    assert.equal(rotated.status, 200);
    assertLimitFields(rotated, 3, 0);

    const revoke = await call(server.baseUrl, 'DELETE', `${LIST}${created.body.key_id}`, { token });
    assertRefused(revoke, 3, /at most 3 management requests per minute per user/);
    assertRefused(await list(server, token), 3, /per user/);
    // Refused before the body is read: an invalid body gets the 429, not a 422.
    assertRefused(await call(server.baseUrl, 'POST', LIST, { token, json: { name: '' } }), 3, /per user/);
    // The refused requests did nothing: the key is still there, and no second one was created.
    assert.deepEqual((await server.keygate.apiKeys.list(userId)).map((key) => key.keyId), [created.body.key_id]);
  });

  test('another user is unaffected, and unauthenticated requests get 401 and count for nobody', async () => {
    const spent = await server.tokenFor(newUserId());
    for (let i = 0; i < 3; i++) assert.equal((await list(server, spent)).status, 200);
    assert.equal((await list(server, spent)).status, 429);

    const fresh = await server.tokenFor(newUserId());
    for (let i = 0; i < 2; i++) {
      const unauthenticated = await call(server.baseUrl, 'GET', LIST);
      assert.equal(unauthenticated.status, 401);
      assertNoLimitFields(unauthenticated);
    }
    const other = await list(server, fresh);
    assert.equal(other.status, 200);
    assertLimitFields(other, 3, 2);
  });

  test('refusals are counted in /metrics by limit', async () => {
    const before = await metric(server.baseUrl, 'keygate_rate_limited_total{limit="manage_user"}');
    const token = await server.tokenFor(newUserId());
    for (let i = 0; i < 5; i++) await list(server, token);
    assert.equal(await metric(server.baseUrl, 'keygate_rate_limited_total{limit="manage_user"}'), before + 2);
  });
});

describe('management endpoints with the default limit', () => {
  const server = keygateForTests();

  test('the 121st request of a user within a minute gets 429; another user still gets 200', async () => {
    const token = await server.tokenFor(newUserId());
    for (let i = 1; i <= 120; i++) {
      const response = await list(server, token);
      assert.equal(response.status, 200, `request ${i}`);
      assert.equal(response.headers.get('ratelimit-remaining'), String(120 - i));
    }
    assertRefused(await list(server, token), 120, /at most 120 management requests per minute per user/);
    assert.equal((await list(server, await server.tokenFor(newUserId()))).status, 200);
  });
});

describe('verify and validate, per key, in memory', () => {
  const server = keygateForTests({ KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '3', KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0' });

  test('one budget per key_id across /verify and /validate; other keys are unaffected', async () => {
    const [first, second] = [await newKey(server), await newKey(server)];
    const one = await verify(server, first);
    assert.equal(one.status, 200);
    assertNoLimitFields(one); // on the verify routes only a 429 carries them
    assert.equal((await validate(server, first)).status, 200);
    assert.equal((await verify(server, first)).status, 200);
    assertRefused(await verify(server, first), 3, /at most 3 verifications per minute for this key/);
    assertRefused(await validate(server, first), 3, /for this key/);
    // Only a valid verification counts against the key's budget (the verifier counts it, once
    // the key's own limit is known): a mistyped checksum is refused as invalid, not as limited.
    const misspelt = first.slice(0, -1) + (first.endsWith('0') ? '1' : '0');
    assert.equal((await verify(server, misspelt)).status, 401);

    const other = await verify(server, second);
    assert.equal(other.status, 200);
    assertNoLimitFields(other);
  });

  test("text keygate did not issue counts against its address, apart from any key, even under a real key_id", async () => {
    const key = await newKey(server);
    const keyId = key.slice('mcpkey_live_'.length, 'mcpkey_live_'.length + 12);
    assert.equal((await verify(server, 'garbage')).status, 401);
    assert.equal((await verify(server, forgedKey(keyId))).status, 401);
    assert.equal((await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify')).status, 400);
    assertRefused(await verify(server, forgedKey(keyId)), 3, /at most 3 verifications per minute from this address/);
    // The key_id the forgeries named kept its whole budget.
    for (let i = 0; i < 3; i++) assert.equal((await verify(server, key)).status, 200, 'the real key is not locked out');
  });
});

describe('a rotated-away key, still presented', () => {
  const server = keygateForTests({ KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '3', KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0' });

  test("does not spend its successor's budget: refusals count for no key, and once refused for good against its address", async () => {
    const userToken = await server.tokenFor(newUserId());
    const created = await call(server.baseUrl, 'POST', LIST, { token: userToken, json: { name: 'leaked' } });
    const old = created.body.api_key;
    const rotated = await call(server.baseUrl, 'POST', `${LIST}${created.body.key_id}/rotate`, { token: userToken });
    // Whoever holds the leaked key keeps trying it. A refusal is no valid verification, so none
    // counts for the key; once refused for good, the text counts against its address.
    for (let i = 0; i < 6; i++) assert.ok([401, 429].includes((await verify(server, old)).status));
    for (let i = 0; i < 3; i++) assert.equal((await verify(server, rotated.body.new_api_key)).status, 200, `verification ${i + 1} of 3`);
    assertRefused(await verify(server, rotated.body.new_api_key), 3, /for this key/);
  });
});

describe('verify and validate, per client address, in memory', () => {
  const server = keygateForTests({ KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '0', KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '4' });

  test('every verification from one address counts, whatever key it presents; management is apart', async () => {
    const [first, second] = [await newKey(server), await newKey(server)];
    assert.equal((await verify(server, first)).status, 200);
    assert.equal((await validate(server, second)).status, 200);
    assert.equal((await verify(server, 'garbage')).status, 401);
    const fourth = await verify(server, unknownKey());
    assert.equal(fourth.status, 401);
    assertNoLimitFields(fourth);
    assertRefused(await verify(server, first), 4, /at most 4 verifications per minute from this address/);
    assertRefused(await validate(server, second), 4, /from this address/);

    // Neither the management endpoints nor the JWKS are under this limit.
    assert.equal((await list(server, await server.tokenFor(newUserId()))).status, 200);
    const jwks = await call(server.baseUrl, 'GET', '/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assertNoLimitFields(jwks);
  });
});

describe('both verification limits at once, in memory', () => {
  const server = keygateForTests({ KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '2', KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '5' });

  test('both apply; a 429 names the limit that refused, with its RateLimit fields', async () => {
    const [first, second, third] = [await newKey(server), await newKey(server), await newKey(server)];
    assert.equal((await verify(server, first)).status, 200); // per key: 1 left; per address: 4 left
    assert.equal((await verify(server, first)).status, 200);
    assertRefused(await verify(server, first), 2, /for this key/); // per address: 3 used
    assert.equal((await verify(server, second)).status, 200); // per key: 1 left; per address: 1 left
    const fifth = await verify(server, third);
    assert.equal(fifth.status, 200); // per key: 1 left; per address: none left
    assertNoLimitFields(fifth);
    assertRefused(await verify(server, third), 5, /from this address/); // the key is within its limit, the address is not
  });
});

describe('limits set to 0', () => {
  const server = keygateForTests({
    KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0',
    KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '0',
    KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0',
  });

  test('are off: no 429 and no RateLimit fields', async () => {
    const token = await server.tokenFor(newUserId());
    for (let i = 0; i < 130; i++) {
      const response = await list(server, token);
      assert.equal(response.status, 200);
      assertNoLimitFields(response);
    }
    const key = await newKey(server);
    for (let i = 0; i < 20; i++) {
      const response = await verify(server, key);
      assert.equal(response.status, 200);
      assertNoLimitFields(response);
    }
  });
});

describe('limits shared in Redis', { skip: redisSkip }, () => {
  const env = (url: string) => ({
    REDIS_URL: url,
    KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '4',
    KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '3',
    KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0',
  });
  let redis: RunningRedis | undefined;
  const servers: RunningKeygate[] = [];
  let a: RunningKeygate;
  let b: RunningKeygate;

  before(async () => {
    redis = await startRedis();
    // Two instances of one deployment: the same database (so the same server secrets) and Redis.
    a = await startKeygate(env(redis.url));
    servers.push(a);
    b = await startKeygate({ ...env(redis.url), DATABASE_URL: a.databaseUrl });
    servers.push(b);
  });
  after(async () => {
    try {
      // The second instance first: the first owns the database and drops it on close.
      for (const server of [...servers].reverse()) await server.close();
    } finally {
      await redis?.close();
    }
  });

  /** One user's requests, taking turns over the running instances. */
  async function alternate(count: number, userId = newUserId()): Promise<JsonResponse[]> {
    const responses: JsonResponse[] = [];
    for (let i = 0; i < count; i++) {
      const server = servers[i % servers.length] as RunningKeygate;
      responses.push(await list(server, await server.tokenFor(userId)));
    }
    return responses;
  }

  test('two instances share one count per user', async () => {
    const responses = await alternate(6);
    assert.deepEqual(responses.map((response) => response.status), [200, 200, 200, 200, 429, 429]);
    responses.slice(0, 4).forEach((response, i) => assertLimitFields(response, 4, 3 - i));
    assertRefused(responses[4] as JsonResponse, 4, /at most 4 management requests per minute per user/);
    assertRefused(responses[5] as JsonResponse, 4, /per user/);
  });

  test('two instances share one count per key', async () => {
    const key = await newKey(a);
    const statuses = [];
    for (const server of [a, b, a, b, a]) statuses.push((await verify(server, key)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  });

  test('Redis gone: requests still succeed (fail open), store errors are counted', async () => {
    assert.ok(redis);
    const errorsBefore = [await storeErrors(a), await storeErrors(b)];
    await redis.stop();

    const responses = await alternate(10);
    assert.deepEqual(responses.map((response) => response.status), Array(10).fill(200));
    for (const response of responses) assertNoLimitFields(response);
    assert.ok((await storeErrors(a)) >= (errorsBefore[0] as number) + 5, 'instance a counted its store errors');
    assert.ok((await storeErrors(b)) >= (errorsBefore[1] as number) + 5, 'instance b counted its store errors');

    // An instance started while Redis is away starts and serves all the same.
    const late = await startKeygate(env(redis.url));
    servers.push(late);
    const lateResponses = [];
    for (let i = 0; i < 6; i++) lateResponses.push((await list(late, await late.tokenFor(newUserId()))).status);
    assert.deepEqual(lateResponses, Array(6).fill(200));
    assert.ok((await storeErrors(late)) >= 6);
  });

  test('Redis back on the same port: limits apply again on every instance', async () => {
    assert.ok(redis);
    await redis.start();
    // Each instance reconnects on its own schedule (at most a second apart): ask until a fresh
    // user's requests, spread over all three instances, are counted together again.
    const deadline = Date.now() + 30_000;
    let statuses: number[] = [];
    for (;;) {
      statuses = (await alternate(6)).map((response) => response.status);
      if (statuses.join() === '200,200,200,200,429,429') break;
      if (Date.now() > deadline) assert.fail(`limits did not apply again after Redis came back; last statuses ${statuses}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // And they stay applied: nothing more fails open.
    const errorsNow = await Promise.all(servers.map(storeErrors));
    const again = await alternate(6);
    assert.deepEqual(again.map((response) => response.status), [200, 200, 200, 200, 429, 429]);
    assert.deepEqual(await Promise.all(servers.map(storeErrors)), errorsNow);
  });
});

describe('in-memory counters', () => {
  test('count in fixed windows that start at the first request and start over once ended', () => {
    const counters = new MemoryCounters(1000, 10);
    assert.deepEqual({ ...counters.hit('a', 5000) }, { count: 1, resetAt: 6000 });
    assert.deepEqual({ ...counters.hit('a', 5999) }, { count: 2, resetAt: 6000 });
    assert.deepEqual({ ...counters.hit('b', 5500) }, { count: 1, resetAt: 6500 });
    assert.deepEqual({ ...counters.hit('a', 6000) }, { count: 1, resetAt: 7000 });
    assert.deepEqual({ ...counters.hit('b', 6000) }, { count: 2, resetAt: 6500 });
  });

  test('sweep ended windows away, a window that started over counting as new', () => {
    const counters = new MemoryCounters(1000, 10);
    counters.hit('a', 0); // ends at 1000
    counters.hit('b', 500); // ends at 1500
    counters.hit('a', 1000); // starts over: ends at 2000, after b's
    counters.hit('c', 1600); // a new key sweeps: b has ended and goes, a has not and stays
    assert.equal(counters.size, 2);
    assert.equal(counters.hit('a', 1700).count, 2);
    assert.equal(counters.hit('b', 1700).count, 1);
  });

  test('hold at most their capacity, dropping the window that started first', () => {
    const counters = new MemoryCounters(1000, 3);
    counters.hit('a', 0);
    counters.hit('b', 100);
    counters.hit('c', 200);
    counters.hit('a', 300);
    counters.hit('d', 400); // full: 'a' goes, though its window has not ended
    assert.equal(counters.size, 3);
    assert.equal(counters.hit('b', 450).count, 2);
    assert.equal(counters.hit('d', 450).count, 2);
    assert.equal(counters.hit('a', 500).count, 1, "'a' starts over");
    assert.equal(counters.size, 3);
  });
});

describe('client address keys', () => {
  test('IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('::ffff:cb00:7107'), '203.0.113.7');
    assert.equal(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0DB8:0001:0002::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64');
    assert.equal(addressKey('not an address'), 'not an address');
  });
});

describe('the policy, with plain numbers', () => {
  // The decision alone: windows as a store would have counted them, on a clock the test names.
  const perKey = rateLimit({ name: 'verify_key', max: 3, windowMs: 60_000, whose: 'key', counted: 'verification', fieldsOnEveryResponse: false }) as Limit;
  const perIp = rateLimit({ name: 'verify_ip', max: 5, windowMs: 60_000, whose: 'address', counted: 'verification', fieldsOnEveryResponse: false }) as Limit;
  const perUser = rateLimit({ name: 'manage_user', max: 2, windowMs: 60_000, whose: 'user', counted: 'management request', fieldsOnEveryResponse: true }) as Limit;
  const at = (count: number, resetAt: number): Window => ({ count, resetAt });

  test('a limit is data; 0 turns it off; its description names its max and window', () => {
    assert.deepEqual(perKey, {
      name: 'verify_key',
      max: 3,
      windowMs: 60_000,
      whose: 'key',
      description: 'at most 3 verifications per minute',
      fieldsOnEveryResponse: false,
    });
    assert.equal(rateLimit({ name: 'x', max: 0, windowMs: 60_000, whose: 'user', counted: 'request', fieldsOnEveryResponse: true }), undefined);
    const describe = (max: number, windowMs: number) =>
      rateLimit({ name: 'x', max, windowMs, whose: 'user', counted: 'request', fieldsOnEveryResponse: true })?.description;
    assert.equal(describe(1, 3_600_000), 'at most 1 request per hour');
    assert.equal(describe(10, 86_400_000), 'at most 10 requests per day');
    assert.equal(describe(10, 30_000), 'at most 10 requests per 30 seconds');
  });

  test('within the limit: allowed, with the RateLimit fields only where a limit sends them on every response', () => {
    const quiet = decide([perKey], ['k1'], [at(3, 60_000)], 0);
    assert.deepEqual(quiet, { allowed: true, fields: undefined });
    // The common answer is one shared object: the hot path allocates no decision.
    assert.equal(decide([perKey, perIp], ['k1', '10.0.0.1'], [at(1, 60_000), at(1, 60_000)], 0), quiet);

    assert.deepEqual(decide([perUser], ['u'], [at(1, 60_000)], 0), { allowed: true, fields: { limit: 2, remaining: 1, resetSeconds: 60 } });
    assert.deepEqual(decide([perUser], ['u'], [at(2, 60_000)], 59_001), { allowed: true, fields: { limit: 2, remaining: 0, resetSeconds: 1 } });
    // Seconds to reset round up, and are never 0.
    assert.equal(decide([perUser], ['u'], [at(1, 60_000)], 1).fields?.resetSeconds, 60);
    assert.equal(decide([perUser], ['u'], [at(1, 60_000)], 60_000).fields?.resetSeconds, 1);
  });

  test('beyond it: refused, by the limit, with Retry-After, the fields and whose budget it was', () => {
    assert.deepEqual(decide([perKey], ['k1'], [at(4, 42_000)], 0), {
      allowed: false,
      limit: perKey,
      fields: { limit: 3, remaining: 0, resetSeconds: 42 },
      retryAfterSeconds: 42,
      detail: 'Rate limit exceeded: at most 3 verifications per minute for this key, retry in 42 seconds',
    });
    const detail = (limit: Limit, key: string) => {
      const decision = decide([limit], [key], [at(99, 1_000)], 0);
      assert.equal(decision.allowed, false);
      return decision.allowed ? '' : decision.detail;
    };
    assert.equal(detail(perUser, 'ip:user'), 'Rate limit exceeded: at most 2 management requests per minute per user, retry in 1 second');
    assert.match(detail(perKey, byAddress('203.0.113.7')), /per minute from this address,/);
    assert.match(detail(perIp, '203.0.113.7'), /per minute from this address,/);
  });

  test('of several limits the one that binds first decides: refused before allowed, then the longer wait, then the first', () => {
    const perKeyLong = { ...perKey, name: 'long', windowMs: 3_600_000 };
    // Refused before allowed, however long the allowed one's wait.
    assert.equal(bindingLimit([perKey, perIp], [at(2, 59_000), at(6, 1_000)]), 1);
    assert.equal(bindingLimit([perKey, perIp], [at(4, 1_000), at(2, 59_000)]), 0);
    // Both refused, or both allowed: the longer wait; of two alike, the one listed first.
    assert.equal(bindingLimit([perKey, perIp], [at(4, 1_000), at(6, 2_000)]), 1);
    assert.equal(bindingLimit([perKey, perIp], [at(1, 3_000), at(1, 2_000)]), 0);
    assert.equal(bindingLimit([perKey, perIp], [at(4, 2_000), at(6, 2_000)]), 0);
    // Any number of limits.
    assert.equal(bindingLimit([perKey, perIp, perKeyLong], [at(4, 1_000), at(1, 9_000), at(4, 3_600_000)]), 2);
    assert.equal(bindingLimit([perKey, perIp, perKeyLong], [at(4, 1_000), at(6, 2_000), at(1, 3_600_000)]), 1);

    const decision = decide([perKey, perIp], ['k1', '10.0.0.1'], [at(2, 30_000), at(6, 10_000)], 0);
    assert.equal(decision.allowed, false);
    assert.equal(!decision.allowed && decision.limit, perIp);
    assert.equal(decision.fields?.resetSeconds, 10);
  });

  test('a limit whose store did not answer lets the request through (fail open); the others still apply', () => {
    assert.equal(bindingLimit([perKey, perIp], [undefined, undefined]), -1);
    assert.deepEqual(decide([perKey, perIp], ['k1', '10.0.0.1'], [undefined, undefined], 0), { allowed: true, fields: undefined });
    assert.equal(bindingLimit([perKey, perIp], [undefined, at(6, 1_000)]), 1);
    const refused = decide([perKey, perIp], ['k1', '10.0.0.1'], [at(4, 5_000), undefined], 0);
    assert.equal(!refused.allowed && refused.limit, perKey);
  });
});
