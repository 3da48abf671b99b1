import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { addAccount, browserCall, signIn } from './support/accounts.js';
import { runCli, type Ran } from './support/cli.js';
import { redisSkip, startRedis } from './support/redis.js';
import { call, CLI_SCRIPT, freshDatabase, keygateForTests, spawnKeygate, startKeygate, temporaryFolder, type TestDatabase } from './support/keygate.js';

// Local accounts and the browser session, over a real socket against a real keygate, with the
// accounts made by the real CLI on the same database.

const KEYS = '/api/v1/api-keys/';
const ADMIN_KEYS = '/api/v1/admin/api-keys';
const PASSWORD = 'correct horse battery staple';
const SESSION_FIELDS = ['admin', 'csrf_token', 'expires_at', 'scopes', 'user_id', 'username'];

describe('a local account signs in and its browser session manages keys', () => {
  const server = keygateForTests();

  test('users add (password on stdin), then POST /auth/session sets an HttpOnly SameSite cookie and GET /auth/session answers', async () => {
    await addAccount(server.databaseUrl, 'alice', PASSWORD);
    const signedIn = await signIn(server.baseUrl, 'alice', PASSWORD);
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    assert.deepEqual(Object.keys(signedIn.body).sort(), SESSION_FIELDS);
    assert.equal(signedIn.body.user_id, 'alice');
    assert.equal(signedIn.body.admin, false);
    assert.deepEqual(signedIn.body.scopes, []);
    const attributes = signedIn.setCookie!.split('; ');
    assert.match(attributes[0]!, /^keygate_session=[A-Za-z0-9_-]{43}$/);
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=43200']) assert.ok(attributes.includes(attribute), signedIn.setCookie);
    assert.ok(!attributes.includes('Secure'), 'no Secure over plain http');
    assert.equal(signedIn.headers.get('cache-control'), 'no-store');
    // The cookie's value is never stored: only its hash.
    const rows = await server.keygate.db.selectFrom('web_sessions').selectAll().execute();
    const value = signedIn.cookie!.split('=')[1]!;
    assert.ok(rows.length > 0 && rows.every((row) => !Object.values(row).includes(value)));

    const current = await browserCall(server.baseUrl, 'GET', '/auth/session', { cookie: signedIn.cookie });
    assert.equal(current.status, 200);
    assert.deepEqual(current.body, signedIn.body);
    assert.equal(current.headers.get('set-cookie'), null, 'no new cookie');
    assert.equal((await browserCall(server.baseUrl, 'GET', '/auth/session')).status, 401);
    assert.equal((await browserCall(server.baseUrl, 'GET', '/auth/session', { cookie: 'keygate_session=forged' })).status, 401);
  });

  test('the cookie lists and creates keys; an unsafe request without or with a wrong X-CSRF-Token is a 403 that writes nothing', async () => {
    await addAccount(server.databaseUrl, 'carol', PASSWORD);
    const { cookie, body } = await signIn(server.baseUrl, 'carol', PASSWORD);
    assert.deepEqual((await browserCall(server.baseUrl, 'GET', KEYS, { cookie })).body, []);

    for (const csrf of [undefined, 'wrong', `${body.csrf_token}x`]) {
      const refused = await browserCall(server.baseUrl, 'POST', KEYS, { cookie, csrf, json: { name: 'forged' } });
      assert.equal(refused.status, 403, `X-CSRF-Token ${csrf}`);
      assert.match(refused.body.detail, /X-CSRF-Token/);
    }
    const created = await browserCall(server.baseUrl, 'POST', KEYS, { cookie, csrf: body.csrf_token, json: { name: 'from the dashboard' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const listed = await browserCall(server.baseUrl, 'GET', KEYS, { cookie });
    assert.deepEqual(listed.body.map((key: { name: string }) => key.name), ['from the dashboard'], 'the refused creates made nothing');
    // The account's user id is its username: a bearer token for carol sees the same key.
    const viaToken = await call(server.baseUrl, 'GET', KEYS, { token: await server.tokenFor('carol') });
    assert.deepEqual(viaToken.body.map((key: { key_id: string }) => key.key_id), [created.body.key_id]);

    const revoke = await browserCall(server.baseUrl, 'DELETE', `${KEYS}${created.body.key_id}`, { cookie });
    assert.equal(revoke.status, 403, 'DELETE needs the token too');
    assert.equal((await browserCall(server.baseUrl, 'GET', KEYS, { cookie })).body.length, 1);
  });

  test('the Authorization header wins over the cookie', async () => {
    const { cookie } = await signIn(server.baseUrl, 'alice', PASSWORD);
    const other = await call(server.baseUrl, 'POST', KEYS, { token: await server.tokenFor('dave'), json: { name: 'dave key' } });
    assert.equal(other.status, 201);
    const listed = await browserCall(server.baseUrl, 'GET', KEYS, { cookie, headers: { authorization: `Bearer ${await server.tokenFor('dave')}` } });
    assert.deepEqual(listed.body.map((key: { name: string }) => key.name), ['dave key']);
    const badBearer = await browserCall(server.baseUrl, 'GET', KEYS, { cookie, headers: { authorization: 'Bearer nonsense' } });
    assert.equal(badBearer.status, 401, 'a bad bearer token is not rescued by the cookie');
  });

  test("an admin's session reaches the admin routes; a user's gets 403 there", async () => {
    await addAccount(server.databaseUrl, 'root', PASSWORD, { admin: true });
    const admin = await signIn(server.baseUrl, 'root', PASSWORD);
    assert.equal(admin.body.admin, true);
    assert.deepEqual(admin.body.scopes, ['keygate:admin']);
    const listing = await browserCall(server.baseUrl, 'GET', ADMIN_KEYS, { cookie: admin.cookie });
    assert.equal(listing.status, 200);
    assert.ok(listing.body.keys.some((key: { user_id: string }) => key.user_id === 'carol'), "every user's keys");
    const user = await signIn(server.baseUrl, 'alice', PASSWORD);
    assert.equal((await browserCall(server.baseUrl, 'GET', ADMIN_KEYS, { cookie: user.cookie })).status, 403);
    const audit = await browserCall(server.baseUrl, 'GET', '/api/v1/audit', { cookie: admin.cookie });
    assert.equal(audit.status, 200, 'the audit route takes the cookie too');
  });

  test('signing out needs the CSRF token, deletes the session and clears the cookie', async () => {
    const { cookie, body } = await signIn(server.baseUrl, 'alice', PASSWORD);
    const refused = await browserCall(server.baseUrl, 'DELETE', '/auth/session', { cookie, csrf: 'wrong' });
    assert.equal(refused.status, 403);
    assert.equal((await browserCall(server.baseUrl, 'GET', '/auth/session', { cookie })).status, 200, 'still signed in');

    const signedOut = await browserCall(server.baseUrl, 'DELETE', '/auth/session', { cookie, csrf: body.csrf_token });
    assert.equal(signedOut.status, 204);
    assert.match(signedOut.headers.get('set-cookie') ?? '', /^keygate_session=; Max-Age=0; Path=\/; HttpOnly; SameSite=Strict$/);
    assert.equal((await browserCall(server.baseUrl, 'GET', '/auth/session', { cookie })).status, 401);
    const keys = await browserCall(server.baseUrl, 'GET', KEYS, { cookie });
    assert.equal(keys.status, 401);
    assert.match(keys.body.detail, /session has ended or expired/);
  });

  test('an unknown username and a wrong password get the very same 401', async () => {
    const unknown = await signIn(server.baseUrl, 'nobody', PASSWORD);
    const wrong = await signIn(server.baseUrl, 'alice', `${PASSWORD}!`);
    for (const answer of [unknown, wrong]) {
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.body, { detail: 'Invalid username or password' });
      assert.equal(answer.cookie, undefined);
    }
    const headersOf = (answer: typeof unknown) => [...answer.headers].filter(([name]) => name !== 'date');
    assert.deepEqual(headersOf(unknown), headersOf(wrong));
  });

  test('usernames sign in case-insensitively', async () => {
    const answer = await signIn(server.baseUrl, 'ALICE', PASSWORD);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.user_id, 'alice');
  });

  const malformed: [string, unknown, (string | number)[]][] = [
    ['no password', { username: 'alice' }, ['body', 'password']],
    ['no username', { password: PASSWORD }, ['body', 'username']],
    ['a number for a password', { username: 'alice', password: 12 }, ['body', 'password']],
    ['a password over 1024 bytes', { username: 'alice', password: 'é'.repeat(600) }, ['body', 'password']],
    ['an extra field', { username: 'alice', password: PASSWORD, admin: true }, ['body', 'admin']],
    ['an array', [PASSWORD], ['body']],
  ];
  for (const [what, json, loc] of malformed) {
    test(`a sign-in with ${what} is a 422 at ${loc.join('.')}`, async () => {
      const answer = await browserCall(server.baseUrl, 'POST', '/auth/session', { json });
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      assert.ok(answer.body.detail.some((issue: { loc: unknown[] }) => JSON.stringify(issue.loc) === JSON.stringify(loc)), JSON.stringify(answer.body));
      assert.ok(!JSON.stringify(answer.body).includes('éé'), 'the password is not repeated back');
    });
  }

  test('a body that is no JSON is a 422 with a detail', async () => {
    const answer = await browserCall(server.baseUrl, 'POST', '/auth/session', { headers: { 'content-type': 'application/json' } });
    assert.equal(answer.status, 422);
    const garbage = await fetch(`${server.baseUrl}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
    assert.equal(garbage.status, 422);
    assert.match(JSON.stringify(await garbage.json()), /JSON decode error/);
  });

  test('a sign-in from another origin is refused; from keygate\'s own origin it works', async () => {
    const foreign = await signIn(server.baseUrl, 'alice', PASSWORD, '/auth/session', { origin: 'https://evil.example' });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.cookie, undefined);
    const own = await signIn(server.baseUrl, 'alice', PASSWORD, '/auth/session', { origin: server.baseUrl });
    assert.equal(own.status, 200);
  });

  test('GET /auth/config says what the sign-in page offers', async () => {
    assert.deepEqual((await call(server.baseUrl, 'GET', '/auth/config')).body, { local_accounts: true, signup: false, oidc: false });
  });

  test('users remove and users set-password end the account\'s sessions', async () => {
    await addAccount(server.databaseUrl, 'erin', PASSWORD);
    const before = await signIn(server.baseUrl, 'erin', PASSWORD);
    const changed = await runCli(server.databaseUrl, ['users', 'set-password', 'erin'], 'another long password\n');
    assert.equal(changed.status, 0, changed.stderr);
    assert.equal((await browserCall(server.baseUrl, 'GET', '/auth/session', { cookie: before.cookie })).status, 401);
    assert.equal((await signIn(server.baseUrl, 'erin', PASSWORD)).status, 401, 'the old password is gone');
    const after = await signIn(server.baseUrl, 'erin', 'another long password');
    assert.equal(after.status, 200);

    const removed = await runCli(server.databaseUrl, ['users', 'remove', 'erin']);
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal((await browserCall(server.baseUrl, 'GET', KEYS, { cookie: after.cookie })).status, 401);
    assert.equal((await signIn(server.baseUrl, 'erin', 'another long password')).status, 401);
  });
});

describe('the session lifetime', () => {
  const server = keygateForTests({ KEYGATE_SESSION_TTL: '1' });

  test('a session ends at expires_at, whatever it did meanwhile', async () => {
    await addAccount(server.databaseUrl, 'alice', PASSWORD);
    const { cookie, body, setCookie } = await signIn(server.baseUrl, 'alice', PASSWORD);
    assert.match(setCookie!, /Max-Age=1;/);
    assert.equal((await browserCall(server.baseUrl, 'GET', KEYS, { cookie })).status, 200);
    await sleep(Math.max(0, Date.parse(body.expires_at) - Date.now()) + 50);
    assert.equal((await browserCall(server.baseUrl, 'GET', '/auth/session', { cookie })).status, 401);
    assert.equal((await browserCall(server.baseUrl, 'GET', KEYS, { cookie })).status, 401);
  });
});

describe('the session cookie behind a TLS-terminating proxy', () => {
  const server = keygateForTests({ KEYGATE_TRUST_PROXY: '127.0.0.1' });

  test('a sign-in the trusted proxy forwards as https gets a Secure cookie; one over plain http does not', async () => {
    await addAccount(server.databaseUrl, 'alice', PASSWORD);
    const overHttps = await signIn(server.baseUrl, 'alice', PASSWORD, '/auth/session', { 'x-forwarded-proto': 'https' });
    assert.equal(overHttps.status, 200);
    assert.ok(overHttps.setCookie!.split('; ').includes('Secure'), overHttps.setCookie);
    const overHttp = await signIn(server.baseUrl, 'alice', PASSWORD);
    assert.equal(overHttp.status, 200);
    assert.ok(!overHttp.setCookie!.split('; ').includes('Secure'), overHttp.setCookie);
  });
});

describe('sign-in rate limits', () => {
  test('per account: the fourth attempt on one account in a minute is a 429 with Retry-After, even with the right password; others still sign in', async () => {
    const server = await startKeygate({ KEYGATE_RATE_LIMIT_SIGN_IN_PER_ACCOUNT: '3', KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP: '1000' });
    try {
      await addAccount(server.databaseUrl, 'alice', PASSWORD);
      await addAccount(server.databaseUrl, 'bob', PASSWORD);
      for (let attempt = 0; attempt < 3; attempt++) assert.equal((await signIn(server.baseUrl, 'alice', 'wrong password!')).status, 401);
      const limited = await signIn(server.baseUrl, 'ALICE', PASSWORD);
      assert.equal(limited.status, 429);
      assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
      assert.match(limited.body.detail, /at most 3 sign-in attempts per minute for this account/);
      assert.equal(limited.cookie, undefined);
      assert.equal((await signIn(server.baseUrl, 'bob', PASSWORD)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('per client address: the fourth attempt from one address is a 429, whichever accounts it names', async () => {
    const server = await startKeygate({ KEYGATE_RATE_LIMIT_SIGN_IN_PER_ACCOUNT: '1000', KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP: '3' });
    try {
      for (const username of ['a1', 'a2', 'a3']) assert.equal((await signIn(server.baseUrl, username, PASSWORD)).status, 401);
      const limited = await signIn(server.baseUrl, 'a4', PASSWORD);
      assert.equal(limited.status, 429);
      assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
      assert.match(limited.body.detail, /from this address/);
    } finally {
      await server.close();
    }
  });
});

describe('sign-up', () => {
  test('is a 404 unless KEYGATE_SIGNUP=open', async () => {
    const server = await startKeygate();
    try {
      const answer = await signIn(server.baseUrl, 'newcomer', PASSWORD, '/auth/signup');
      assert.equal(answer.status, 404);
      assert.match(answer.body.detail, /Sign-up is not open/);
      assert.equal((await signIn(server.baseUrl, 'newcomer', PASSWORD)).status, 401, 'no account was made');
    } finally {
      await server.close();
    }
  });

  describe('with KEYGATE_SIGNUP=open', () => {
    const server = keygateForTests({ KEYGATE_SIGNUP: 'open' });

    test('makes a non-admin account and signs it in', async () => {
      assert.equal((await call(server.baseUrl, 'GET', '/auth/config')).body.signup, true);
      const answer = await signIn(server.baseUrl, 'newcomer', PASSWORD, '/auth/signup');
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.admin, false);
      assert.equal((await browserCall(server.baseUrl, 'GET', KEYS, { cookie: answer.cookie })).status, 200);
      assert.equal((await signIn(server.baseUrl, 'newcomer', PASSWORD)).status, 200, 'the account signs in again');
    });

    test('refuses a taken username (in any case) with 409, and a short password or a bad username with 422', async () => {
      const taken = await signIn(server.baseUrl, 'NewComer', PASSWORD, '/auth/signup');
      assert.equal(taken.status, 409);
      const short = await signIn(server.baseUrl, 'shorty', 'eleven char', '/auth/signup');
      assert.equal(short.status, 422);
      assert.deepEqual(short.body.detail[0].loc, ['body', 'password']);
      assert.match(short.body.detail[0].msg, /at least 12 characters/);
      const badName = await signIn(server.baseUrl, 'has space', PASSWORD, '/auth/signup');
      assert.equal(badName.status, 422);
      assert.deepEqual(badName.body.detail[0].loc, ['body', 'username']);
      assert.equal((await signIn(server.baseUrl, 'shorty', 'eleven char')).status, 401, 'no account was made');
    });
  });
});

describe('in OIDC mode', () => {
  const server = keygateForTests({ KEYGATE_OIDC_ISSUER: 'https://id.example.com', KEYGATE_OIDC_AUDIENCE: 'keygate', KEYGATE_SIGNUP: 'open' });

  test('local accounts are off: /auth/config says so, and a password sign-in is a 404', async () => {
    assert.deepEqual((await call(server.baseUrl, 'GET', '/auth/config')).body, { local_accounts: false, signup: false, oidc: false });
    const answer = await signIn(server.baseUrl, 'alice', PASSWORD);
    assert.equal(answer.status, 404);
    assert.match(answer.body.detail, /OIDC mode/);
  });
});

describe('POST /auth/login and POST /auth/refresh, for scripts', () => {
  const server = keygateForTests({ KEYGATE_LOGIN_TOKEN_TTL: '600' });
  const login = (username: string, password: string) => call(server.baseUrl, 'POST', '/auth/login', { json: { username, password } });
  const refresh = (json: unknown) => call(server.baseUrl, 'POST', '/auth/refresh', { json });

  test("answers the seed's shape; the token works as Bearer on the key routes, and an admin's on the admin routes", async () => {
    await addAccount(server.databaseUrl, 'alice', PASSWORD);
    await addAccount(server.databaseUrl, 'root', PASSWORD, { admin: true });
    const user = await login('alice', PASSWORD);
    assert.equal(user.status, 200, JSON.stringify(user.body));
    assert.deepEqual(Object.keys(user.body).sort(), ['access_token', 'expires_in', 'roles', 'token_type', 'user_id', 'username']);
    assert.equal(user.body.token_type, 'bearer');
    assert.equal(user.body.expires_in, 600);
    assert.deepEqual(user.body.roles, []);
    assert.equal(user.headers.get('cache-control'), 'no-store');
    const created = await call(server.baseUrl, 'POST', KEYS, { token: user.body.access_token, json: { name: 'script key' } });
    assert.equal(created.status, 201);
    assert.equal((await call(server.baseUrl, 'GET', ADMIN_KEYS, { token: user.body.access_token })).status, 403);

    const admin = await login('root', PASSWORD);
    assert.deepEqual(admin.body.roles, ['admin']);
    const every = await call(server.baseUrl, 'GET', ADMIN_KEYS, { token: admin.body.access_token });
    assert.equal(every.status, 200);
    assert.ok(every.body.keys.some((key: { key_id: string }) => key.key_id === created.body.key_id));
  });

  test('an unknown username and a wrong password get the same 401; malformed bodies a 422', async () => {
    const unknown = await login('nobody', PASSWORD);
    const wrong = await login('alice', 'not the password');
    assert.equal(unknown.status, 401);
    assert.deepEqual(unknown.body, wrong.body);
    assert.deepEqual(unknown.body, { detail: 'Invalid username or password' });
    const missing = await call(server.baseUrl, 'POST', '/auth/login', { json: { username: 'alice' } });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.body.detail[0].loc, ['body', 'password']);
  });

  test('current_token yields a fresh access token and a first refresh token; each refresh token works once and hands out the next', async () => {
    const { body } = await login('alice', PASSWORD);
    const first = await refresh({ current_token: body.access_token });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(Object.keys(first.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.match(first.body.refresh_token, /^kgrt_[A-Za-z0-9_-]{43}$/);
    assert.equal((await call(server.baseUrl, 'GET', KEYS, { token: first.body.access_token })).status, 200);
    const stored = await server.keygate.db.selectFrom('refresh_tokens').selectAll().execute();
    assert.ok(stored.every((row) => !Object.values(row).includes(first.body.refresh_token)), 'only its hash is stored');

    const second = await refresh({ refresh_token: first.body.refresh_token });
    assert.equal(second.status, 200);
    assert.notEqual(second.body.refresh_token, first.body.refresh_token);
    assert.equal((await call(server.baseUrl, 'GET', KEYS, { token: second.body.access_token })).status, 200);
    const third = await refresh({ refresh_token: second.body.refresh_token });
    assert.equal(third.status, 200, 'the rotated token works');
  });

  test('a spent refresh token is refused and revokes its whole family; other sign-ins keep theirs', async () => {
    const { body } = await login('alice', PASSWORD);
    const family = (await refresh({ current_token: body.access_token })).body.refresh_token;
    const other = (await refresh({ current_token: body.access_token })).body.refresh_token;
    const next = (await refresh({ refresh_token: family })).body.refresh_token;

    const reused = await refresh({ refresh_token: family });
    assert.equal(reused.status, 401);
    assert.match(reused.body.detail, /already used/);
    const revoked = await refresh({ refresh_token: next });
    assert.equal(revoked.status, 401, 'the family is revoked: the token rotated from the spent one is refused too');
    assert.equal((await refresh({ refresh_token: other })).status, 200, 'another family is untouched');
    assert.equal((await refresh({ refresh_token: 'kgrt_never-issued' })).status, 401);
  });

  test('of five refreshes of one token at once, exactly one succeeds; the others count as reuse and revoke the family', async () => {
    const { body } = await login('alice', PASSWORD);
    const token = (await refresh({ current_token: body.access_token })).body.refresh_token;
    const answers = await Promise.all(Array.from({ length: 5 }, () => refresh({ refresh_token: token })));
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 401, 401, 401, 401]);
    const winner = answers.find((answer) => answer.status === 200)!;
    assert.equal((await refresh({ refresh_token: winner.body.refresh_token })).status, 401, 'the family is revoked');
  });

  test('a changed password or a removed account ends refresh tokens and current_token refreshes', async () => {
    await addAccount(server.databaseUrl, 'frank', PASSWORD);
    const { body } = await login('frank', PASSWORD);
    const refreshToken = (await refresh({ current_token: body.access_token })).body.refresh_token;
    // iat counts whole seconds: a token from before the change must be from an earlier second.
    await sleep(1000 - (Date.now() % 1000) + 10);
    const changed = await runCli(server.databaseUrl, ['users', 'set-password', 'frank'], 'a brand new password\n');
    assert.equal(changed.status, 0, changed.stderr);
    assert.equal((await refresh({ refresh_token: refreshToken })).status, 401);
    const stale = await refresh({ current_token: body.access_token });
    assert.equal(stale.status, 401);
    assert.match(stale.body.detail, /password has changed/);

    const fresh = await login('frank', 'a brand new password');
    assert.equal((await refresh({ current_token: fresh.body.access_token })).status, 200);
    assert.equal((await runCli(server.databaseUrl, ['users', 'remove', 'frank'])).status, 0);
    assert.equal((await refresh({ current_token: fresh.body.access_token })).status, 401, 'no account, no refresh');
  });

  test('a token for a user with no account, or not of this server, is not refreshed', async () => {
    assert.equal((await refresh({ current_token: await server.tokenFor('no-account') })).status, 401);
    assert.equal((await refresh({ current_token: 'not.a.token' })).status, 401);
  });

  const badBodies: [string, unknown][] = [
    ['neither token', {}],
    ['both tokens', { refresh_token: 'kgrt_x', current_token: 'y' }],
    ['a number', { refresh_token: 5 }],
    ['an extra field', { refresh_token: 'kgrt_x', scope: 'admin' }],
  ];
  for (const [what, json] of badBodies) {
    test(`a refresh with ${what} is a 422 with a detail`, async () => {
      const answer = await refresh(json);
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      assert.ok(Array.isArray(answer.body.detail) && typeof answer.body.detail[0].msg === 'string');
    });
  }
});

describe('keygate users', () => {
  let folder: string;
  let database: TestDatabase;
  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
  });
  after(async () => {
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });
  const users = (args: string[], stdin = '') => runCli(database.url, ['users', ...args], stdin);
  const oneLine = (ran: Ran) => {
    assert.match(ran.stderr, /^[^\n]+\n$/, `one line on stderr: ${JSON.stringify(ran.stderr)}`);
    return ran.stderr.trimEnd();
  };

  test('add, list (a table and --json), set-password and remove, each saying what it did', async () => {
    assert.equal((await users(['add', 'Alice', '--admin'], `${PASSWORD}\n`)).stdout, 'Added admin account Alice.\n');
    assert.equal((await users(['add', 'bob'], `${PASSWORD}\r\n`)).stdout, 'Added account bob.\n');
    const table = (await users(['list'])).stdout.trimEnd().split('\n').map((line) => line.split(/ {2,}/));
    assert.deepEqual(table.map((row) => row.slice(0, 2)), [['USERNAME', 'ADMIN'], ['Alice', 'yes'], ['bob', 'no']]);
    const listed = JSON.parse((await users(['list', '--json'])).stdout);
    assert.deepEqual(listed.map((account: object) => Object.keys(account).sort()), [['admin', 'created_at', 'user_id', 'username'], ['admin', 'created_at', 'user_id', 'username']]);
    assert.deepEqual(listed.map((account: { user_id: string }) => account.user_id), ['Alice', 'bob']);
    assert.ok(!JSON.stringify(listed).includes('argon2'), 'never a hash');

    assert.match((await users(['set-password', 'bob'], 'the next long password\n')).stdout, /^Set a new password for bob/);
    assert.match((await users(['remove', 'BOB'])).stdout, /^Removed account bob/);
    assert.deepEqual(JSON.parse((await users(['list', '--json'])).stdout).map((account: { username: string }) => account.username), ['Alice']);
  });

  const refusals: [string, string[], string, number, RegExp][] = [
    ['a taken username, in another case', ['add', 'alice'], `${PASSWORD}\n`, 4, /^keygate users add: The username "alice" is taken$/],
    ['a short password', ['add', 'carol'], 'too short\n', 2, /^keygate users add: password: A password is at least 12 characters$/],
    ['a password of two lines', ['add', 'carol'], `${PASSWORD}\nsecond line\n`, 2, /must be one line/],
    ['a bad username', ['add', 'has space'], `${PASSWORD}\n`, 2, /^keygate users add: <username>: A username is 1 to 64/],
    ['no username', ['add'], '', 2, /<username> is required/],
    ['remove of an unknown account', ['remove', 'nobody'], '', 3, /No account is named "nobody"/],
    ['set-password of an unknown account', ['set-password', 'nobody'], `${PASSWORD}\n`, 3, /No account is named "nobody"/],
    ['an unknown option', ['list', '--all'], '', 2, /unknown option --all/],
    ['no subcommand', [], '', 2, /^keygate users: no subcommand given \(see "keygate users --help"\)$/],
    ['an unknown subcommand', ['frob'], '', 2, /^keygate users: unknown subcommand "frob" \(see "keygate users --help"\)$/],
  ];
  for (const [what, args, stdin, status, message] of refusals) {
    test(`${what}: exit ${status}, one line naming it, and no password in it`, async () => {
      const ran = await users(args, stdin);
      assert.equal(ran.status, status, ran.stderr);
      assert.match(oneLine(ran), message);
      for (const secret of [PASSWORD, 'too short', 'second line']) assert.ok(!ran.stderr.includes(secret));
      assert.equal(ran.stdout, '');
    });
  }

  test('keygate users --help lists the subcommands, and each subcommand has its own --help and -h', async () => {
    const ran = await runCli(database.url, ['users', '--help']);
    assert.equal(ran.status, 0);
    for (const subcommand of ['add', 'list', 'remove', 'set-password']) {
      assert.match(ran.stdout, new RegExp(`^  ${subcommand}\\b`, 'm'));
      for (const flag of ['--help', '-h']) {
        const help = await users([subcommand, flag]);
        assert.equal(help.status, 0, help.stderr);
        assert.ok(help.stdout.startsWith(`Usage: keygate users ${subcommand} `), help.stdout);
      }
    }
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  /** `keygate users add <name>` at a terminal (util-linux script gives it one), typing `typed` at each prompt. */
  const atTerminal = (name: string, typed: string[]) =>
    new Promise<{ status: number | null; output: string }>((resolve, reject) => {
      const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_SCRIPT)} users add ${name}`;
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH, DATABASE_URL: database.url }, timeout: 30_000 });
      let output = '';
      let prompts = 0;
      child.stdout.on('data', (chunk) => {
        output += chunk;
        // Typed only once the prompt is out: by then the terminal no longer echoes.
        const seen = output.split('Password').length - 1;
        for (; prompts < seen; prompts++) child.stdin.write(`${typed[prompts] ?? ''}\r`);
      });
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, output }));
    });

  test('at a terminal the password is asked twice and never echoed', { skip: !hasScript && 'no script(1) on this machine' }, async () => {
    const made = await atTerminal('terminal-user', ['typed at a terminal', 'typed at a terminal']);
    assert.equal(made.status, 0, made.output);
    assert.match(made.output, /Password: [\s\S]*Password again: [\s\S]*Added account terminal-user\./);
    assert.ok(!made.output.includes('typed at a terminal'), 'no echo');
    const differ = await atTerminal('terminal-user2', ['typed at a terminal', 'typed otherwise....']);
    assert.equal(differ.status, 2);
    assert.match(differ.output, /the two passwords differ/);
  });
});

describe('the sign-in log', () => {
  test('says who signed in and who was refused, and never the password', async () => {
    const folder = temporaryFolder();
    const database = await freshDatabase(folder);
    const server = await spawnKeygate({ DATABASE_URL: database.url, KEYGATE_SECRET: 'a-test-secret-that-is-32-bytes-long!!' }, folder);
    try {
      await addAccount(database.url, 'alice', PASSWORD);
      assert.equal((await signIn(server.baseUrl, 'alice', PASSWORD)).status, 200);
      assert.equal((await signIn(server.baseUrl, 'alice', 'a wrong password here')).status, 401);
      assert.equal((await call(server.baseUrl, 'POST', '/auth/login', { json: { username: 'alice', password: PASSWORD } })).status, 200);
      const output = await server.waitForOutput(/"via":"login"/);
      assert.match(output, /"signIn":\{"via":"session","username":"alice","outcome":"succeeded"\}/);
      assert.match(output, /"signIn":\{"via":"session","username":"alice","outcome":"refused"\}/);
      for (const password of [PASSWORD, 'a wrong password here']) assert.ok(!output.includes(password), 'no password in the log');
    } finally {
      await server.stop();
      await database.drop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('hostile input to the /auth routes', () => {
  const server = keygateForTests({ KEYGATE_SIGNUP: 'open', KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP: '0', KEYGATE_RATE_LIMIT_SIGN_IN_PER_ACCOUNT: '0' });
  const raw = async (method: string, path: string, body: string | undefined, headers: Record<string, string> = {}) => {
    const response = await fetch(server.baseUrl + path, { method, body, headers: { 'content-type': 'application/json', ...headers } });
    const text = await response.text();
    return { status: response.status, text, body: text === '' ? undefined : JSON.parse(text) };
  };
  /** A 4xx with a detail (a string, or 422's list), and no stack trace. */
  const assertRefusedWithDetail = (answer: { status: number; text: string; body: any }, what: string) => {
    assert.ok(answer.status >= 400 && answer.status < 500, `${what}: ${answer.status} ${answer.text}`);
    assert.ok(typeof answer.body?.detail === 'string' || Array.isArray(answer.body?.detail), `${what}: ${answer.text}`);
    assert.ok(!/\bat .+:\d+:\d+/.test(answer.text), `${what}: no stack trace`);
  };

  const hostileBodies: [string, string][] = [
    ['a NUL in the username', JSON.stringify({ username: 'a\u0000b', password: PASSWORD })],
    ['a lone surrogate in the username', JSON.stringify({ username: 'lone\ud800', password: PASSWORD })],
    ['control characters', JSON.stringify({ username: '\u0007\u001b[31m', password: `${PASSWORD}\u0000` })],
    ['a username over 255 characters', JSON.stringify({ username: 'u'.repeat(300), password: PASSWORD })],
    ['objects for strings', JSON.stringify({ username: { $ne: null }, password: [PASSWORD] })],
    ['a __proto__ member', `{"username":"alice","password":"${PASSWORD}","__proto__":{"admin":true}}`],
    ['a constructor member', `{"username":"alice","password":"${PASSWORD}","constructor":{"prototype":{"admin":true}}}`],
    ['null', 'null'],
    ['a string', '"alice"'],
    ['truncated JSON', '{"username":"alice","password":'],
    ['a body over 16 KiB', JSON.stringify({ username: 'alice', password: 'p'.repeat(20_000) })],
  ];
  for (const path of ['/auth/session', '/auth/login', '/auth/signup']) {
    test(`POST ${path} answers every hostile body with a 4xx and a detail, and makes no account`, async () => {
      const before = await server.keygate.accounts.count();
      for (const [what, body] of hostileBodies) assertRefusedWithDetail(await raw('POST', path, body), what);
      assertRefusedWithDetail(await raw('POST', path, 'username=alice', { 'content-type': 'application/x-www-form-urlencoded' }), 'a form body');
      assert.equal(await server.keygate.accounts.count(), before);
    });
  }

  test('POST /auth/refresh answers hostile tokens with a 4xx and a detail', async () => {
    const bodies: [string, unknown][] = [
      ['a NUL', { refresh_token: 'kgrt_\u0000' }],
      ['a lone surrogate', { current_token: 'ey\udc00.x.y' }],
      ['an oversized token', { current_token: 'e'.repeat(9000) }],
      ['a token with alg none', { current_token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}.` }],
      ['an object', { refresh_token: { $gt: '' } }],
    ];
    for (const [what, json] of bodies) assertRefusedWithDetail(await raw('POST', '/auth/refresh', JSON.stringify(json)), what);
  });

  test('odd cookies and CSRF headers are a 401 or 403 with a detail, never a 500', async () => {
    const cookies = ['keygate_session=%ZZ', 'keygate_session=', 'keygate_session="unterminated', `keygate_session=${'x'.repeat(4000)}`, 'a=b; keygate_session=1; keygate_session=2', '=; ;;'];
    for (const cookie of cookies) {
      assertRefusedWithDetail(await raw('GET', '/auth/session', undefined, { cookie }), `GET /auth/session with ${cookie.slice(0, 40)}`);
      assertRefusedWithDetail(await raw('GET', KEYS, undefined, { cookie }), `GET ${KEYS} with ${cookie.slice(0, 40)}`);
      assertRefusedWithDetail(await raw('DELETE', '/auth/session', undefined, { cookie, 'x-csrf-token': '\u00ff'.repeat(50) }), `DELETE with ${cookie.slice(0, 40)}`);
    }
  });
});

describe('sign-in limits shared in Redis', { skip: redisSkip }, () => {
  test('two instances count one account\'s attempts together', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, KEYGATE_RATE_LIMIT_SIGN_IN_PER_ACCOUNT: '3', KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP: '0' };
    const a = await startKeygate(env);
    const b = await startKeygate({ ...env, DATABASE_URL: a.databaseUrl });
    try {
      await addAccount(a.databaseUrl, 'alice', PASSWORD);
      const answers = [];
      for (const server of [a, b, a, b]) answers.push((await signIn(server.baseUrl, 'alice', PASSWORD)).status);
      assert.deepEqual(answers, [200, 200, 200, 429]);
    } finally {
      // The second instance first: the first owns the database and drops it on close.
      await b.close();
      await a.close();
      await redis.close();
    }
  });
});
