import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { startMcpServer, type RunningMcpServer } from '../examples/mcp-server/server.js';
import { parseDatabaseUrl } from '../src/config.js';
import { keygateMcpVerifier } from '../src/integrations/mcp.js';
import { createKeyVerifier, keygateExpress, keygateFastify, type KeygateKeyVerifier } from '../src/index.js';
import { openDatabase } from '../src/store/database.js';
import { DatabaseUnavailable, DATABASE_UNAVAILABLE_DETAIL } from '../src/store/outage.js';
import { postgresDoesNotAnswer, sqliteDoesNotAnswer } from '../src/store/unreachable.js';
import { mintLocalUserToken } from '../src/tokens/user-tokens.js';
import {
  call,
  freshDatabase,
  onPostgres,
  spawnKeygate,
  sqliteOnly,
  startKeygate,
  temporaryFolder,
  TEST_SECRET,
  type JsonResponse,
  type KeygateProcess,
  type RunningKeygate,
} from './support/keygate.js';
import { addAccount, signIn } from './support/accounts.js';
import { createDatabase, startPostgres, type PostgresCluster } from './support/postgres.js';

// A database that does not answer is keygate's outage, not a bug: every endpoint and every
// adapter answers 503 with Retry-After, the log says so once per outage, and the same servers
// answer again once the database is back, without a restart.

const OUTAGE_DETAIL = /database does not answer/i;
const BASE = '/api/v1/api-keys';

function assertUnavailable(answer: { status: number; headers: Headers; detail: unknown }, what: string): void {
  assert.equal(answer.status, 503, `${what}: ${JSON.stringify(answer.detail)}`);
  assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/, `${what}: Retry-After`);
  assert.match(String(answer.detail), OUTAGE_DETAIL, what);
}

const unavailable = (response: JsonResponse, what: string) =>
  assertUnavailable({ status: response.status, headers: response.headers, detail: response.body?.detail }, what);

/** Any answer, JSON or not (a framework's own 500 may be HTML). */
async function fetchText(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function jsonOrText(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

/** An error as drivers make them: a message and a `code` (errno name, SQLSTATE, SQLite result). */
const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

const countOf = (text: string, pattern: RegExp): number => text.split('\n').filter((line) => pattern.test(line)).length;

/** A Fastify app and an Express app of a library user, each with one route behind keygate's glue. */
async function startGlueApps(keys: KeygateKeyVerifier): Promise<{ fastifyUrl: string; expressUrl: string; close(): Promise<void> }> {
  const fastify: FastifyInstance = Fastify();
  fastify.get('/data', { preHandler: keygateFastify(keys) }, async (request) => ({ keyId: request.apiKey?.keyId }));
  await fastify.listen({ host: '127.0.0.1', port: 0 });
  const expressApp = express();
  expressApp.use('/data', keygateExpress(keys), (request, response) => {
    response.json({ keyId: (request as { apiKey?: { keyId: string } }).apiKey?.keyId });
  });
  const listener = expressApp.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  return {
    fastifyUrl: `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/data`,
    expressUrl: `http://127.0.0.1:${(listener.address() as AddressInfo).port}/data`,
    async close() {
      await fastify.close();
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

/**
 * A TCP relay to PostgreSQL that can go silent, as a server out of reach does (a partition, a
 * failover): it cuts the connections it relays and accepts new ones without ever answering.
 */
async function startRelay(targetPort: number): Promise<{ port: number; goSilent(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let silent = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const relay = createServer((client) => {
    track(client);
    if (silent) return;
    const upstream = connect(targetPort, '127.0.0.1');
    track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as AddressInfo).port,
    goSilent() {
      silent = true;
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

/** A request as `call` makes it. */
type Request = Parameters<typeof call>[3];

/**
 * A leak reporter whose public key is written to `keysFile` (KEYGATE_LEAK_KEYS_FILE): the
 * signed report of a token, as GitHub sends it.
 */
function leakReporter(keysFile: string): (token: string) => Request {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const identifier = 'outage-reporter';
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  writeFileSync(keysFile, JSON.stringify({ public_keys: [{ key_identifier: identifier, key: pem, is_current: true }] }));
  return (token) => {
    const rawBody = JSON.stringify([{ token, type: 'keygate_api_key', url: 'https://github.com/octo/repo', source: 'content' }]);
    const signature = sign('sha256', Buffer.from(rawBody), privateKey).toString('base64');
    return {
      rawBody,
      headers: { 'content-type': 'application/json', 'github-public-key-identifier': identifier, 'github-public-key-signature': signature },
    };
  };
}

describe('PostgreSQL stopped, then started again', { skip: onPostgres ? false : 'needs PostgreSQL: runs in the PostgreSQL pass' }, () => {
  // A cluster of this file's own: stopping it leaves the shared cluster of the pass alone.
  let cluster: PostgresCluster;
  let databaseUrl: string;
  let server: RunningKeygate;
  let spawned: KeygateProcess;
  let spawnedFolder: string;
  let keys: KeygateKeyVerifier;
  let glue: Awaited<ReturnType<typeof startGlueApps>>;
  let mcp: RunningMcpServer;
  let paused = false;
  let token: string;
  /** Verified before the outage: warm in every verifier (on PostgreSQL a warm key still reads its row). */
  let warmKey: string;
  /** Never verified by anyone before the outage. */
  let coldKey: string;
  let coldKeyId: string;
  /**
   * Each operation of the OpenAPI document, by "METHOD path", as a client allowed to make it
   * does; filled in once the credentials exist.
   */
  let operations: Record<string, Request>;
  /** Routes the document does not hold: [what, method, path, request]. */
  let besideTheDocument: [string, string, string, Request][];

  before(async () => {
    cluster = await startPostgres();
    databaseUrl = (await createDatabase(cluster.adminUrl)).url;
    spawnedFolder = temporaryFolder();
    const leakKeysFile = join(spawnedFolder, 'secret_scanning.json');
    const leakReport = leakReporter(leakKeysFile);
    server = await startKeygate({ DATABASE_URL: databaseUrl, KEYGATE_SIGNUP: 'open', KEYGATE_LEAK_KEYS_FILE: leakKeysFile });
    spawned = await spawnKeygate({ DATABASE_URL: databaseUrl, KEYGATE_SECRET: TEST_SECRET }, spawnedFolder);
    keys = await createKeyVerifier({ databaseUrl });
    glue = await startGlueApps(keys);
    mcp = await startMcpServer({ databaseUrl, port: 0 });

    token = await server.tokenFor('outage@example.com');
    const created = [];
    for (const name of ['warm', 'cold']) {
      const answer = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name } });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      created.push(answer.body);
    }
    warmKey = created[0].api_key;
    coldKey = created[1].api_key;
    coldKeyId = created[1].key_id;
    const headers = { 'x-api-key': warmKey };
    assert.equal((await call(server.baseUrl, 'POST', `${BASE}/verify`, { headers })).status, 200);
    assert.equal((await call(spawned.baseUrl, 'POST', `${BASE}/verify`, { headers })).status, 200);
    assert.equal((await fetchText(glue.fastifyUrl, { headers })).status, 200);
    assert.equal((await fetchText(glue.expressUrl, { headers })).status, 200);

    // Credentials for every other operation: an admin's token, an account's session, its
    // access and refresh tokens, and a key only the verification routes present.
    const admin = await server.tokenFor('outage-admin@example.com', [server.keygate.config.adminScope]);
    const password = 'an outage password';
    await addAccount(databaseUrl, 'outage-account', password);
    const session = await signIn(server.baseUrl, 'outage-account', password);
    assert.equal(session.status, 200, JSON.stringify(session.body));
    const login = await call(server.baseUrl, 'POST', '/auth/login', { json: { username: 'outage-account', password } });
    const refresh = await call(server.baseUrl, 'POST', '/auth/refresh', { json: { current_token: login.body.access_token } });
    assert.equal(refresh.status, 200, JSON.stringify(refresh.body));
    const spare = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'spare' } });
    const spareKey = { 'x-api-key': spare.body.api_key };
    const adminKeys = '/api/v1/admin/api-keys';
    operations = {
      [`GET ${BASE}/`]: { token },
      [`POST ${BASE}/`]: { token, json: { name: 'during' } },
      [`GET ${BASE}/{key_id}`]: { token },
      [`PATCH ${BASE}/{key_id}`]: { token, json: { name: 'renamed' } },
      [`DELETE ${BASE}/{key_id}`]: { token },
      [`GET ${BASE}/{key_id}/usage`]: { token },
      [`POST ${BASE}/{key_id}/rotate`]: { token },
      [`GET ${adminKeys}`]: { token: admin },
      [`POST ${adminKeys}`]: { token: admin, json: { user_id: 'someone', name: 'during' } },
      [`GET ${adminKeys}/{key_id}`]: { token: admin },
      [`PATCH ${adminKeys}/{key_id}`]: { token: admin, json: { name: 'renamed' } },
      [`DELETE ${adminKeys}/{key_id}`]: { token: admin },
      [`GET ${adminKeys}/{key_id}/usage`]: { token: admin },
      [`POST ${adminKeys}/{key_id}/rotate`]: { token: admin },
      'GET /api/v1/audit': { token: admin },
      'POST /auth/session': { json: { username: 'outage-account', password } },
      'GET /auth/session': { headers: { cookie: session.cookie! } },
      'DELETE /auth/session': { headers: { cookie: session.cookie!, 'x-csrf-token': session.body.csrf_token } },
      'POST /auth/signup': { json: { username: 'outage-newcomer', password } },
      'POST /auth/login': { json: { username: 'outage-account', password } },
      'POST /auth/refresh': { json: { refresh_token: refresh.body.refresh_token } },
      [`POST ${BASE}/verify`]: { headers: spareKey },
      [`POST ${BASE}/validate`]: { headers: spareKey },
      [`POST ${BASE}/self-revoke`]: { headers: spareKey },
      // A key keygate issued: only its row tells whether it is current (text it did not issue needs none).
      'POST /api/v1/leaks': leakReport(spare.body.api_key),
    };
    besideTheDocument = [
      ['the gateway\'s forward auth', 'GET', `${BASE}/forward-auth`, { headers: spareKey }],
      ['a user route with a session cookie', 'GET', `${BASE}/`, { headers: { cookie: session.cookie! } }],
    ];
  });

  after(async () => {
    if (paused) await cluster.resume();
    await mcp?.close();
    await glue?.close();
    await keys?.close();
    await spawned?.stop();
    await server?.close();
    await cluster?.stop();
    if (spawnedFolder !== undefined) rmSync(spawnedFolder, { recursive: true, force: true });
  });

  test('a server that accepts connections but never answers gets 503 once the connect timeout runs out, not a hang', { timeout: 30_000 }, async () => {
    const relay = await startRelay(Number(new URL(cluster.adminUrl).port));
    const viaRelay = new URL(databaseUrl);
    viaRelay.port = String(relay.port);
    const relayed = await startKeygate({ DATABASE_URL: viaRelay.toString() });
    try {
      assert.equal((await call(relayed.baseUrl, 'GET', '/healthz')).status, 200);
      relay.goSilent();
      unavailable(await call(relayed.baseUrl, 'GET', `${BASE}/`, { token }), 'list');
      unavailable(await call(relayed.baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': coldKey } }), 'verify');
    } finally {
      await relayed.close();
      await relay.close();
    }
  });

  test('while it is stopped, every endpoint answers 503 with Retry-After and a detail', async () => {
    await cluster.pause();
    paused = true;
    const { baseUrl } = server;
    unavailable(await call(baseUrl, 'GET', `${BASE}/`, { token }), 'list');
    unavailable(await call(baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'during' } }), 'create');
    unavailable(await call(baseUrl, 'POST', `${BASE}/${coldKeyId}/rotate`, { token }), 'rotate');
    unavailable(await call(baseUrl, 'DELETE', `${BASE}/${coldKeyId}`, { token }), 'revoke');
    unavailable(await call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': coldKey } }), 'verify, cold key');
    unavailable(await call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': warmKey } }), 'verify, warm key');
    unavailable(await call(baseUrl, 'POST', `${BASE}/validate`, { headers: { authorization: `ApiKey ${coldKey}` } }), 'validate');
    unavailable(await call(baseUrl, 'GET', '/healthz'), 'healthz');
  });

  test('so does every operation of the OpenAPI document (one key, PATCH, usage, admin, audit, sign-in, leaks) and the routes beside it', async () => {
    assert.ok(paused, 'runs during the outage');
    // Routes whose answer needs no database: they go on answering.
    const withoutDatabase = ['GET /.well-known/jwks.json', 'GET /auth/config'];
    const document = await call(server.baseUrl, 'GET', '/openapi.json');
    const documented = Object.entries(document.body.paths as Record<string, object>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual([...Object.keys(operations), ...withoutDatabase].sort(), [...documented].sort(), 'each documented operation is made below, or said to need no database');
    for (const operation of withoutDatabase) {
      const [method, path] = operation.split(' ') as [string, string];
      assert.equal((await call(server.baseUrl, method, path)).status, 200, operation);
    }
    for (const [operation, request] of Object.entries(operations)) {
      const [method, path] = operation.split(' ') as [string, string];
      unavailable(await call(server.baseUrl, method, path.replace('{key_id}', coldKeyId), request), operation);
    }
    for (const [what, method, path, request] of besideTheDocument) unavailable(await call(server.baseUrl, method, path, request), what);
  });

  test('the Fastify, Express and MCP glue answer 503 with Retry-After too', async () => {
    assert.ok(paused, 'runs during the outage');
    for (const [what, url] of [['Fastify', glue.fastifyUrl], ['Express', glue.expressUrl]] as const) {
      for (const key of [warmKey, coldKey]) {
        const answer = await fetchText(url, { headers: { 'x-api-key': key } });
        assertUnavailable({ ...answer, detail: jsonOrText(answer.text).detail }, what);
      }
    }
    const answer = await fetchText(mcp.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${coldKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    const body = jsonOrText(answer.text);
    assert.equal(body.error, 'temporarily_unavailable', answer.text);
    assertUnavailable({ ...answer, detail: body.error_description }, 'MCP');
  });

  test('50 requests during the outage log "database does not answer" once', async () => {
    assert.ok(paused, 'runs during the outage');
    const completed = /"msg":"request completed"/;
    const completedBefore = countOf(spawned.output(), completed);
    const spawnedToken = await mintLocalUserToken(TEST_SECRET, { userId: 'outage@example.com', ttl: '1h' });
    const requests = Array.from({ length: 50 }, (_, i) => {
      if (i % 3 === 0) return call(spawned.baseUrl, 'GET', `${BASE}/`, { token: spawnedToken });
      if (i % 3 === 1) return call(spawned.baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': i % 2 ? coldKey : warmKey } });
      return call(spawned.baseUrl, 'GET', '/healthz');
    });
    for (const [i, answer] of (await Promise.all(requests)).entries()) unavailable(answer, `request ${i}`);
    // Every line a request logs comes before its "request completed": once the 50th is in, all are.
    for (let attempt = 0; attempt < 200 && countOf(spawned.output(), completed) < completedBefore + 50; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const output = spawned.output();
    assert.ok(countOf(output, completed) >= completedBefore + 50, output);
    assert.equal(countOf(output, OUTAGE_DETAIL), 1, output);
  });

  test('once it is started again, the same servers answer again without restart, and the log says so once', async () => {
    await cluster.resume();
    paused = false;
    const { baseUrl } = server;
    assert.equal((await call(baseUrl, 'GET', '/healthz')).status, 200);
    assert.equal((await call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': coldKey } })).status, 200);
    assert.equal((await call(baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': warmKey } })).status, 200);
    assert.equal((await call(baseUrl, 'POST', `${BASE}/validate`, { headers: { 'x-api-key': warmKey } })).status, 200);
    assert.equal((await call(baseUrl, 'GET', `${BASE}/`, { token })).status, 200);
    assert.equal((await call(baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'after' } })).status, 201);
    assert.equal((await call(baseUrl, 'POST', `${BASE}/${coldKeyId}/rotate`, { token })).status, 200);
    assert.equal((await call(baseUrl, 'DELETE', `${BASE}/${coldKeyId}`, { token })).status, 204);

    for (const url of [glue.fastifyUrl, glue.expressUrl]) {
      assert.equal((await fetchText(url, { headers: { 'x-api-key': warmKey } })).status, 200, url);
    }
    const client = new Client({ name: 'keygate-outage-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcp.url), { requestInit: { headers: { authorization: `Bearer ${warmKey}` } } }),
    );
    try {
      assert.ok((await client.listTools()).tools.length > 0);
    } finally {
      await client.close();
    }

    assert.equal((await call(spawned.baseUrl, 'GET', '/healthz')).status, 200);
    assert.equal((await call(spawned.baseUrl, 'POST', `${BASE}/verify`, { headers: { 'x-api-key': warmKey } })).status, 200);
    const output = await spawned.waitForOutput(/database answers again/i);
    assert.equal(countOf(output, /database answers again/i), 1, output);
    assert.equal(countOf(output, OUTAGE_DETAIL), 1, output);
  });
});

describe('a PostgreSQL connection dropped while checked out', { skip: onPostgres ? false : 'needs PostgreSQL: runs in the PostgreSQL pass' }, () => {
  test('fails its transaction as an outage and does not crash the process; the next query works', async () => {
    const database = await freshDatabase(temporaryFolder());
    const store = await openDatabase(parseDatabaseUrl(database.url));
    const admin = new pg.Client({ connectionString: process.env.KEYGATE_TEST_POSTGRES_URL });
    await admin.connect();
    try {
      const transaction = store.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        // Between two statements the client is checked out and no query is pending: the
        // server ending the session now makes the client emit 'error' with nobody listening.
        await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [
          new URL(database.url).pathname.slice(1),
        ]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await sql`select 2`.execute(trx);
      });
      await assert.rejects(transaction, DatabaseUnavailable);
      assert.equal((await sql<{ one: number }>`select 1 as one`.execute(store.db)).rows[0]?.one, 1);
    } finally {
      await admin.end();
      await store.db.destroy();
      await database.drop();
    }
  });
});

describe('a SQLite file another connection keeps locked', { skip: sqliteOnly }, () => {
  let server: RunningKeygate;
  let blocker: SqliteDatabase.Database;
  let token: string;
  let keyId: string;

  before(async () => {
    server = await startKeygate();
    token = await server.tokenFor('locked@example.com');
    const created = await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'locked' } });
    assert.equal(created.status, 201);
    keyId = created.body.key_id;
    // The server waits busy_timeout (5 s) for a lock, blocking its thread: a tenth of a second
    // on its own connection makes the same failure quick to reach.
    await sql`PRAGMA busy_timeout = 100`.execute(server.keygate.db);
    blocker = new SqliteDatabase(join(server.folder, 'keygate.db'));
  });

  after(async () => {
    if (blocker?.inTransaction) blocker.exec('ROLLBACK');
    blocker?.close();
    await server?.close();
  });

  test('writes answer 503 with Retry-After while the lock is held beyond busy_timeout, and work once it is released', async () => {
    blocker.exec('BEGIN EXCLUSIVE');
    blocker.prepare("UPDATE api_keys SET name = 'held' WHERE key_id = ?").run(keyId);
    unavailable(await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'blocked' } }), 'create');
    unavailable(await call(server.baseUrl, 'POST', `${BASE}/${keyId}/rotate`, { token }), 'rotate');
    unavailable(await call(server.baseUrl, 'DELETE', `${BASE}/${keyId}`, { token }), 'revoke');
    blocker.exec('ROLLBACK');
    assert.equal((await call(server.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'released' } })).status, 201);
    assert.equal((await call(server.baseUrl, 'POST', `${BASE}/${keyId}/rotate`, { token })).status, 200);
  });
});

describe('which failures mean the database does not answer', () => {
  test('on PostgreSQL: refused, reset, timed out, a name that does not resolve now, terminated, SQLSTATE 08xxx, 57P01-57P03, 53300', () => {
    for (const error of [
      withCode('ECONNREFUSED'),
      withCode('ENOTFOUND'),
      withCode('EAI_AGAIN'),
      withCode('ECONNRESET'),
      withCode('ETIMEDOUT'),
      new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]),
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      new Error('timeout exceeded when trying to connect'),
      withCode('08006'),
      withCode('08001'),
      withCode('57P01'),
      withCode('57P02'),
      withCode('57P03'),
      withCode('53300'),
    ]) {
      assert.equal(postgresDoesNotAnswer(error), true, `${(error as { code?: string }).code ?? ''} ${error.message}`);
    }
  });

  test('anything else stays an error: constraint, syntax, missing table, wrong password, other classes', () => {
    for (const error of [withCode('23505'), withCode('42601'), withCode('42P01'), withCode('28P01'), withCode('57014'), withCode('53100'), new Error('boom'), 'text']) {
      assert.equal(postgresDoesNotAnswer(error), false, String(error));
    }
    for (const error of [withCode('SQLITE_CONSTRAINT_UNIQUE'), withCode('SQLITE_ERROR'), withCode('SQLITE_READONLY'), new TypeError('The database connection is not open')]) {
      assert.equal(sqliteDoesNotAnswer(error), false, String(error));
    }
  });

  test('on SQLite: busy or locked beyond busy_timeout, I/O errors, cannot open, disk full', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN', 'SQLITE_FULL']) {
      assert.equal(sqliteDoesNotAnswer(withCode(code)), true, code);
    }
  });
});

describe('keygateMcpVerifier under the bare requireBearerAuth', () => {
  test('a database that does not answer is ServerError (the SDK answers 500: it has no 503) naming the reason', async () => {
    const verifier = keygateMcpVerifier({ verify: async () => Promise.reject(new DatabaseUnavailable(withCode('ECONNREFUSED'))) });
    await assert.rejects(verifier.verifyAccessToken('x'), (error: unknown) => {
      assert.ok(error instanceof ServerError, String(error));
      assert.equal(error.message, DATABASE_UNAVAILABLE_DETAIL);
      return true;
    });
  });
});
