import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import {
  call,
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

// Slow clients (slowloris): connections that send a request slowly, or never finish it, must not
// hold the server's descriptors for longer than the configured timeouts. The server runs as a
// process of its own under `ulimit -n 512` (loading its modules alone takes some 260
// descriptors at once), so that more slow connections than it may hold are possible; timeouts
// are short (1-3 s) so that the file stays quick.

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;
const KEEP_ALIVE_TIMEOUT_MS = 1000;
const DESCRIPTOR_LIMIT = 512;
const SLOW_CONNECTIONS = 600;
// Node checks request and headers timeouts every quarter of the shorter one, so a slow
// client is cut within 1.25 times its timeout; the margin covers a loaded test machine.
const MARGIN_MS = 3000;

/** Headers complete, a body of 10 bytes announced, one sent: the request never completes. */
const SLOW_BODY = 'POST /api/v1/api-keys/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{';

function assertTimeoutAnswer(received: string): void {
  assert.match(received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.deepEqual(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)), { detail: 'The request took too long to arrive' });
}

describe('a server with short client timeouts, under a descriptor limit', () => {
  let folder: string;
  let database: TestDatabase;
  let server: KeygateProcess;
  const held: HeldConnection[] = [];

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    server = await spawnKeygate(
      {
        DATABASE_URL: database.url,
        KEYGATE_SECRET: TEST_SECRET,
        KEYGATE_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        KEYGATE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        KEYGATE_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
      },
      folder,
      { fileDescriptorLimit: DESCRIPTOR_LIMIT },
    );
  });
  after(async () => {
    for (const connection of held) connection.socket.destroy();
    await server.stop();
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  test('a client that never finishes its headers gets 408 and is closed at the headers timeout, not the request timeout', async () => {
    const connection = holdConnection(server.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // Opened at the same moment, headers complete but its body not: the request timeout's case.
    const slowBody = holdConnection(server.baseUrl, 'POST /api/v1/api-keys/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{');
    held.push(connection, slowBody);
    const first = await within(
      REQUEST_TIMEOUT_MS + MARGIN_MS,
      Promise.race([connection.closedByServer.then(() => 'headers'), slowBody.closedByServer.then(() => 'body')]),
      'the server closing one of them',
    );
    assert.equal(first, 'headers', 'the unfinished headers were cut first, by the shorter headers timeout');
    assertTimeoutAnswer(await connection.closedByServer);
    assertTimeoutAnswer(await within(REQUEST_TIMEOUT_MS + MARGIN_MS, slowBody.closedByServer, 'the slow body cut too'));
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const connection = holdConnection(server.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    held.push(connection);
    // Node closes an idle connection one second after the timeout it advertises.
    const received = await within(KEEP_ALIVE_TIMEOUT_MS + 1000 + MARGIN_MS, connection.closedByServer, 'the server closing it');
    assert.match(received, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nKeep-Alive: timeout=1\r\n/);
  });

  test('more slow clients than descriptors: they are cut at the request timeout and a normal client is served again', async () => {
    const flood = Array.from({ length: SLOW_CONNECTIONS }, () => holdConnection(server.baseUrl, SLOW_BODY));
    held.push(...flood);
    // Every slow connection is either cut at the request timeout or refused at once (the
    // kernel queue overflowed while the server had no descriptor left to accept it with).
    const answers = await within(REQUEST_TIMEOUT_MS + MARGIN_MS, Promise.all(flood.map((c) => c.closedByServer)), 'all slow connections closed');
    const answered = answers.filter((received) => received !== '');
    assert.ok(answered.length > DESCRIPTOR_LIMIT / 2, `${answered.length} slow connections were answered`);
    for (const received of answered) assertTimeoutAnswer(received);

    // The slow connections stay open on this side: only the server's closing freed its descriptors.
    const deadline = Date.now() + REQUEST_TIMEOUT_MS + MARGIN_MS;
    let status: number | undefined;
    for (let attempt = 0; attempt < 100 && status !== 200 && Date.now() < deadline; attempt++) {
      status = await call(server.baseUrl, 'GET', '/healthz').then(
        (response) => response.status,
        () => undefined, // refused or reset: the server is still out of descriptors
      );
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, 200);
  });
});

describe('client timeout settings', () => {
  test('have defaults: 10 s for headers, 30 s for the whole request, 5 s idle, 10 s of grace at shutdown', () => {
    assert.deepEqual(loadConfig({}).http, { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5000, shutdownGraceMs: 10_000 });
  });

  test('refuse a headers timeout longer than the request timeout, which includes it', () => {
    assert.throws(
      () => loadConfig({ KEYGATE_HEADERS_TIMEOUT_MS: '5000', KEYGATE_REQUEST_TIMEOUT_MS: '1000' }),
      (error: unknown) => error instanceof ConfigError && /KEYGATE_HEADERS_TIMEOUT_MS.*KEYGATE_REQUEST_TIMEOUT_MS/.test(error.message),
    );
  });

  test('refuse 0: every phase of a client stays bounded', () => {
    for (const name of ['KEYGATE_HEADERS_TIMEOUT_MS', 'KEYGATE_REQUEST_TIMEOUT_MS', 'KEYGATE_KEEP_ALIVE_TIMEOUT_MS']) {
      assert.throws(() => loadConfig({ [name]: '0' }), (error: unknown) => error instanceof ConfigError && error.message.includes(name));
    }
  });
});
