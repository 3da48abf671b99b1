import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, keygateForTests } from './support/keygate.js';

// The create and rotate answers carry a key in clear: no cache (a browser's, a proxy's) may keep them.

const server = keygateForTests();

test('the create and rotate answers, which carry the key, say Cache-Control: no-store', async () => {
  const token = await server.tokenFor('carol');
  const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'no-store' } });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const rotated = await call(server.baseUrl, 'POST', `/api/v1/api-keys/${created.body.key_id}/rotate`, { token });
  assert.equal(rotated.status, 200);
  assert.equal(rotated.headers.get('cache-control'), 'no-store');
});
