import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { addAccount, browserCall, signIn } from './support/accounts.js';
import { runCli } from './support/cli.js';
import { call, keygateForTests, startKeygate } from './support/keygate.js';

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
