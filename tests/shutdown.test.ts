import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { mintLocalUserToken } from '../src/tokens/user-tokens.js';
import {
  call,
  exitCode,
  freshDatabase,
  holdConnection,
  spawnKeygate,
  temporaryFolder,
  TEST_SECRET,
  within,
  type HeldConnection,
  type KeygateProcess,
  type TestDatabase,
} from './support/keygate.js';

// SIGTERM while clients are connected: the server stops accepting, closes idle connections at
// once, lets requests in flight finish for KEYGATE_SHUTDOWN_GRACE_MS, then cuts what is left,
// writes the pending last_used times and exits 0. Each test runs keygate as a process of its own.

const GRACE_MS = 3000;
const MARGIN_MS = 5000;

/** Resolves once nothing listens on `baseUrl` any more (at most 100 tries, 50 ms apart). */
async function refusedAt(baseUrl: string): Promise<boolean> {
  const { hostname, port } = new URL(baseUrl);
  for (let attempt = 0; attempt < 100; attempt++) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: hostname, port: Number(port) });
      socket.once('connect', () => (socket.destroy(), resolve(false)));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe('SIGTERM with clients connected', () => {
  let folder: string;
  let database: TestDatabase;
  let server: KeygateProcess;
  let token: string;
  let apiKey: string;
  const held: HeldConnection[] = [];

  beforeEach(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    // A flush interval of an hour: the last_used of a verification is still pending at SIGTERM.
    const env = { DATABASE_URL: database.url, KEYGATE_SECRET: TEST_SECRET, KEYGATE_LAST_USED_FLUSH_MS: '3600000', KEYGATE_SHUTDOWN_GRACE_MS: String(GRACE_MS) };
    server = await spawnKeygate(env, folder);
    token = await mintLocalUserToken(TEST_SECRET, { userId: 'alice', ttl: '1h' });
    const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'shutdown' } });
    assert.equal(created.status, 201);
    apiKey = created.body.api_key;
    const verified = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': apiKey } });
    assert.equal(verified.status, 200);
  });
  afterEach(async () => {
    for (const connection of held.splice(0)) connection.socket.destroy();
    await server.stop();
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  test('a stuck request is cut after the grace period; the process exits 0 with last_used written', async () => {
    const listed = await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token });
    assert.equal(listed.body[0].last_used, null, 'the verification\'s last_used is still pending');
    const stuck = holdConnection(server.baseUrl, 'POST /api/v1/api-keys/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{');
    const idle = holdConnection(server.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    held.push(stuck, idle);
    await within(MARGIN_MS, idle.answered, 'the idle connection\'s answer');

    server.child.kill('SIGTERM');
    const first = await within(
      GRACE_MS + MARGIN_MS,
      Promise.race([idle.closedByServer.then(() => 'idle'), stuck.closedByServer.then(() => 'stuck')]),
      'a connection closing',
    );
    assert.equal(first, 'idle', 'the idle connection is closed at once, the stuck request keeps its grace');
    assert.equal(await exitCode(server.child, GRACE_MS + MARGIN_MS), 0);
    await within(MARGIN_MS, stuck.closedByServer, 'the stuck connection closed');
    assert.match(server.output(), /shutdown grace period over/, 'it was cut when the grace ended');

    const next = await spawnKeygate({ DATABASE_URL: database.url, KEYGATE_SECRET: TEST_SECRET }, folder);
    try {
      const relisted = await call(next.baseUrl, 'GET', '/api/v1/api-keys/', { token });
      assert.match(relisted.body[0].last_used ?? '', /^\d{4}-\d\d-\d\dT/);
    } finally {
      await next.stop();
    }
  });

  test('a request in flight is answered, with Connection: close, and the process exits without waiting out the grace', async () => {
    const inFlight = holdConnection(
      server.baseUrl,
      `POST /api/v1/api-keys/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${apiKey}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{`,
    );
    held.push(inFlight);
    await server.waitForOutput(/"url":"\/api\/v1\/api-keys\/verify".*"msg":"incoming request"[\s\S]*"url":"\/api\/v1\/api-keys\/verify".*"msg":"incoming request"/);

    server.child.kill('SIGTERM');
    assert.ok(await refusedAt(server.baseUrl), 'the server stopped accepting');
    inFlight.socket.write('}');
    const answer = await within(GRACE_MS, inFlight.closedByServer, 'the answer and the connection closing');
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.equal(await exitCode(server.child, GRACE_MS + MARGIN_MS), 0);
    assert.doesNotMatch(server.output(), /shutdown grace period over/, 'it exited once its last request was answered');
  });
});
