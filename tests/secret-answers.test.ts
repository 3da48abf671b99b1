import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addAccount, signIn } from './support/accounts.js';
import { call, keygateForTests, type JsonResponse } from './support/keygate.js';

// Every answer that carries a secret in clear (a key, an exchanged JWT, a sign-in's access or
// refresh token, a session's cookie and CSRF token): no cache (a browser's, a proxy's) may keep it.

const server = keygateForTests({ KEYGATE_SIGNUP: 'open' });
const PASSWORD = 'a password of some length';

function assertNoStore(answer: JsonResponse, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.headers.get('cache-control'), 'no-store', what);
}

test('the create and rotate answers, which carry the key, say Cache-Control: no-store', async () => {
  const token = await server.tokenFor('carol');
  const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'no-store' } });
  assertNoStore(created, 201, 'create');
  assertNoStore(await call(server.baseUrl, 'POST', `/api/v1/api-keys/${created.body.key_id}/rotate`, { token }), 200, 'rotate');
});

test("so do an admin's create and rotate, and /validate, which carries an exchanged JWT", async () => {
  const admin = await server.tokenFor('dora', [server.keygate.config.adminScope]);
  const created = await call(server.baseUrl, 'POST', '/api/v1/admin/api-keys', { token: admin, json: { user_id: 'erin', name: 'no-store' } });
  assertNoStore(created, 201, 'admin create');
  const rotated = await call(server.baseUrl, 'POST', `/api/v1/admin/api-keys/${created.body.key_id}/rotate`, { token: admin });
  assertNoStore(rotated, 200, 'admin rotate');
  const validated = await call(server.baseUrl, 'POST', '/api/v1/api-keys/validate', { headers: { 'x-api-key': rotated.body.new_api_key } });
  assertNoStore(validated, 200, 'validate');
  assert.equal(typeof validated.body.access_token, 'string');
});

test('so do the sign-in answers: a session (sign-up, sign-in, reading it), access tokens and refresh tokens', async () => {
  assertNoStore(await signIn(server.baseUrl, 'newcomer', PASSWORD, '/auth/signup'), 200, 'sign-up');
  await addAccount(server.databaseUrl, 'frank', PASSWORD);
  const session = await signIn(server.baseUrl, 'frank', PASSWORD);
  assertNoStore(session, 200, 'session sign-in');
  assertNoStore(await call(server.baseUrl, 'GET', '/auth/session', { headers: { cookie: session.cookie! } }), 200, 'the session and its CSRF token');
  const login = await call(server.baseUrl, 'POST', '/auth/login', { json: { username: 'frank', password: PASSWORD } });
  assertNoStore(login, 200, 'login');
  const started = await call(server.baseUrl, 'POST', '/auth/refresh', { json: { current_token: login.body.access_token } });
  assertNoStore(started, 200, 'refresh from an access token');
  assertNoStore(await call(server.baseUrl, 'POST', '/auth/refresh', { json: { refresh_token: started.body.refresh_token } }), 200, 'refresh');
});
