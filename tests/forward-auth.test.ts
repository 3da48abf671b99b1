import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { call, exitCode, keygateForTests, temporaryFolder, type RunningKeygate } from './support/keygate.js';
import { forgedKey, unknownKey } from './support/keys.js';
import { freePort } from './support/ports.js';

// Forward authentication with a real nginx from Debian: nginx's auth_request asks keygate's
// /api/v1/api-keys/forward-auth about every request, and passes the request on to an upstream
// (a node:http server here that records what reaches it) only when keygate says 200, with the
// identity keygate named in header fields nginx sets. nginx runs the very configuration the
// README gives, read from README.md, on loopback ports of its own.

const NGINX = '/usr/sbin/nginx';
// Without nginx a developer's run says so loudly and skips the nginx tests; CI (CI=true) never skips.
const SKIP = !existsSync(NGINX) && !process.env.CI ? `${NGINX} is missing: run apt-get install nginx` : false;
if (SKIP) console.warn(`\n*** SKIPPING the nginx forward-auth tests: ${SKIP} ***\n`);

const FORWARD_AUTH = '/api/v1/api-keys/forward-auth';
const ISSUER = 'https://keygate.test';
const AUDIENCE = 'upstream';
const EXCHANGE_ENV = { KEYGATE_EXCHANGE_ISSUER: ISSUER, KEYGATE_EXCHANGE_AUDIENCE: AUDIENCE };

// ---- the README's configuration -------------------------------------------------------------

const README_SECTION = '### Behind nginx (forward auth)';
/** Addresses as the README writes them, replaced by the test's own. */
const README_KEYGATE = 'server 127.0.0.1:8080;';
const README_UPSTREAM = 'proxy_pass http://127.0.0.1:3000;';
const README_LISTEN = 'listen 80;';
const README_JWT_AUTH = '/api/v1/api-keys/forward-auth?jwt=true;';

function readmeNginxBlock(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(README_SECTION);
  assert.ok(start !== -1, `README.md has a "${README_SECTION}" section`);
  const block = /```nginx\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(block?.[1], `the "${README_SECTION}" section of README.md has an nginx block`);
  return block[1];
}

/** `text` with its one `from` replaced: a README that no longer says `from` exactly once fails here. */
function replaceOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  assert.equal(parts.length, 2, `the README's nginx block says ${JSON.stringify(from)} exactly once`);
  return parts.join(to);
}

interface Addresses {
  /** host:port */
  keygate: string;
  upstream: string;
  listenPort: number;
  /** false: the README's block without ?jwt=true, as it says to do for no JWT. */
  jwt: boolean;
}

function readmeHttpBlock(addresses: Addresses): string {
  let block = readmeNginxBlock();
  block = replaceOnce(block, README_KEYGATE, `server ${addresses.keygate};`);
  block = replaceOnce(block, README_UPSTREAM, `proxy_pass http://${addresses.upstream};`);
  block = replaceOnce(block, README_LISTEN, `listen 127.0.0.1:${addresses.listenPort};`);
  return addresses.jwt ? block : replaceOnce(block, README_JWT_AUTH, '/api/v1/api-keys/forward-auth;');
}

// ---- nginx, the upstream, and free ports ----------------------------------------------------

interface RunningNginx {
  baseUrl: string;
  close(): Promise<void>;
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const START_ATTEMPTS = 5;
const READY_POLLS = 400;

/**
 * nginx in the foreground with `http` (what goes in nginx.conf's http block) and everything else
 * (pid, logs, temporary files) inside a folder of its own. As root nginx runs its workers as
 * `nobody`, which need only to reach their temporary folders: the folder is made traversable
 * (0711) rather than running the workers as root. A port taken between freePort() and nginx's
 * bind is tried again, a bounded number of times.
 */
async function startNginx(httpBlock: (listenPort: number) => string): Promise<RunningNginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: .ci/run installs it (apt-get install nginx)`);
  const prefix = temporaryFolder();
  chmodSync(prefix, 0o711);
  let failures = '';
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(
      conf,
      [
        'worker_processes 1;',
        `pid ${join(prefix, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 128; }',
        'http {',
        '    access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${join(prefix, kind)};`),
        httpBlock(port),
        '}',
      ].join('\n'),
    );
    const child = spawn(NGINX, ['-p', prefix, '-e', 'stderr', '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    if (await listening(child, port)) {
      return {
        baseUrl: `http://127.0.0.1:${port}`,
        async close() {
          child.kill('SIGTERM');
          await exitCode(child, 10_000);
          rmSync(prefix, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exitCode(child, 10_000);
    failures += `attempt ${attempt + 1} on port ${port}:\n${stderr}\n`;
    if (!/Address already in use/.test(stderr)) break;
  }
  rmSync(prefix, { recursive: true, force: true });
  throw new Error(`nginx did not start:\n${failures}`);
}

/** Whether `child` came to accept connections on `port` (false once it exited, or after READY_POLLS). */
async function listening(child: ChildProcess, port: number): Promise<boolean> {
  for (let poll = 0; poll < READY_POLLS; poll++) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await accepts(port)) return true;
    await sleep(25);
  }
  return false;
}

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Upstream {
  address: string;
  /** Every request that reached the upstream, in order. */
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/** The service behind nginx: records each request and answers 200 with what it received. */
async function startUpstream(): Promise<Upstream> {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    received.push({ method: request.method!, url: request.url!, headers: request.headers, body });
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reached: 'upstream' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function keygateAddress(server: RunningKeygate): string {
  return new URL(server.baseUrl).host;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function through(nginx: RunningNginx, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(nginx.baseUrl + path, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The status nginx answers a GET of / from `localAddress` (any 127.x.y.z is this machine). */
function statusFrom(nginx: RunningNginx, localAddress: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${nginx.baseUrl}/`, { localAddress, headers, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
    });
    request.on('error', reject);
    request.end();
  });
}

/** nginx, the README's configuration, in front of a new upstream and `server`'s keygate. */
function nginxForTests(server: RunningKeygate, jwt: boolean): { nginx: () => RunningNginx; upstream: () => Upstream } {
  let nginx: RunningNginx | undefined;
  let upstream: Upstream | undefined;
  before(async () => {
    if (SKIP) return;
    upstream = await startUpstream();
    const upstreamAddress = upstream.address;
    nginx = await startNginx((listenPort) => readmeHttpBlock({ keygate: keygateAddress(server), upstream: upstreamAddress, listenPort, jwt }));
  });
  after(async () => {
    await nginx?.close();
    await upstream?.close();
  });
  return { nginx: () => nginx!, upstream: () => upstream! };
}

let userCount = 0;

async function newKey(server: RunningKeygate, userId = `forward-user-${++userCount}`) {
  const userToken = await server.tokenFor(userId);
  const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token: userToken, json: { name: 'behind nginx' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { userId, userToken, keyId: created.body.key_id as string, apiKey: created.body.api_key as string };
}

/** The fields of a request that reached the upstream whose names start like keygate's. */
const keygateFields = (headers: IncomingHttpHeaders) =>
  Object.keys(headers).filter((name) => /^x[-_]keygate/i.test(name)).sort();

// ---- the route itself -----------------------------------------------------------------------

describe('GET /api/v1/api-keys/forward-auth', () => {
  const server = keygateForTests(EXCHANGE_ENV);

  test('a valid key: 200, no body, the user and key id in header fields, a JWT only when asked', async () => {
    const { userId, keyId, apiKey } = await newKey(server);
    const plain = await fetch(server.baseUrl + FORWARD_AUTH, { headers: { 'x-api-key': apiKey } });
    assert.equal(plain.status, 200);
    assert.equal(await plain.text(), '');
    assert.equal(plain.headers.get('x-keygate-user-id'), userId);
    assert.equal(plain.headers.get('x-keygate-key-id'), keyId);
    assert.equal(plain.headers.get('authorization'), null);

    const withJwt = await fetch(`${server.baseUrl}${FORWARD_AUTH}?jwt=true`, { headers: { authorization: `ApiKey ${apiKey}` } });
    assert.equal(withJwt.status, 200);
    const [scheme, token] = (withJwt.headers.get('authorization') ?? '').split(' ');
    assert.equal(scheme, 'Bearer');
    const jwks = createRemoteJWKSet(new URL(`${server.baseUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(token!, jwks, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'] });
    assert.equal(payload.sub, userId);
    assert.equal(payload.key_id, keyId);
  });

  test('answers whatever method a gateway asks with, HEAD included', async () => {
    const { keyId, apiKey } = await newKey(server);
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const response = await fetch(server.baseUrl + FORWARD_AUTH, { method, headers: { 'x-api-key': apiKey } });
      assert.equal(response.status, 200, method);
      assert.equal(response.headers.get('x-keygate-key-id'), keyId, method);
    }
  });

  test('no key and refused keys: 401 with a challenge (not /verify\'s 400: nginx would make that a 500)', async () => {
    const { keyId } = await newKey(server);
    const none = await call(server.baseUrl, 'GET', FORWARD_AUTH);
    assert.equal(none.status, 401);
    assert.match(none.body.detail, /X-API-Key/);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    for (const key of [forgedKey(keyId), unknownKey(), 'not-a-key']) {
      const refused = await call(server.baseUrl, 'GET', FORWARD_AUTH, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(refused.status, 401);
      assert.deepEqual(refused.body, { detail: 'Invalid API key' });
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      assert.equal(refused.headers.get('x-keygate-user-id'), null);
    }
  });

  test('a user id beyond plain ASCII is percent-encoded, and decodes to the very id', async () => {
    const { userId, apiKey } = await newKey(server, 'Jürgen 日本 100% <ops>');
    const response = await fetch(server.baseUrl + FORWARD_AUTH, { headers: { 'x-api-key': apiKey } });
    assert.equal(response.status, 200);
    const field = response.headers.get('x-keygate-user-id')!;
    assert.match(field, /^[\x21-\x7e]+$/, 'visible ASCII only');
    assert.equal(decodeURIComponent(field), userId);
  });

  test('a jwt flag other than true or false is a 422', async () => {
    const { apiKey } = await newKey(server);
    const response = await call(server.baseUrl, 'GET', `${FORWARD_AUTH}?jwt=yes`, { headers: { 'x-api-key': apiKey } });
    assert.equal(response.status, 422);
    assert.deepEqual(response.body.detail[0].loc, ['query', 'jwt']);
  });
});

// ---- behind a real nginx --------------------------------------------------------------------

describe('nginx auth_request with the README configuration (with ?jwt=true)', { skip: SKIP }, () => {
  const server = keygateForTests(EXCHANGE_ENV);
  const { nginx, upstream } = nginxForTests(server, true);

  test('a valid key reaches the upstream with the user, the key id and a JWT that verifies; the key stays at nginx', async () => {
    const { userId, keyId, apiKey } = await newKey(server);
    const jwks = createRemoteJWKSet(new URL(`${server.baseUrl}/.well-known/jwks.json`));
    const presentations: Record<string, string>[] = [{ 'x-api-key': apiKey }, { authorization: `ApiKey ${apiKey}` }, { authorization: `Bearer ${apiKey}` }];
    for (const headers of presentations) {
      const before = upstream().received.length;
      // A POST with a body: nginx asks keygate with the client's method and no body, then passes the body on.
      const answer = await through(nginx(), '/orders?page=2', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(answer.status, 200, `${Object.keys(headers)}: ${answer.text}`);
      assert.deepEqual(JSON.parse(answer.text), { reached: 'upstream' });
      assert.equal(upstream().received.length, before + 1);
      const reached = upstream().received.at(-1)!;
      assert.equal(reached.method, 'POST');
      assert.equal(reached.url, '/orders?page=2');
      assert.equal(reached.body, '{"n":1}');
      assert.equal(reached.headers['x-keygate-user-id'], userId);
      assert.equal(reached.headers['x-keygate-key-id'], keyId);
      assert.equal(reached.headers['x-api-key'], undefined, 'the key does not reach the upstream');
      const [scheme, token] = String(reached.headers.authorization).split(' ');
      assert.equal(scheme, 'Bearer');
      assert.notEqual(token, apiKey);
      const { payload } = await jwtVerify(token!, jwks, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'] });
      assert.equal(payload.sub, userId);
      assert.equal(payload.key_id, keyId);
    }
  });

  test('no key or a wrong key: nginx answers 401 with keygate\'s challenge, and the upstream sees nothing', async () => {
    const { keyId } = await newKey(server);
    const before = upstream().received.length;
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Basic YWxpY2U6c2VjcmV0' },
      { 'x-api-key': forgedKey(keyId) },
      { 'x-api-key': unknownKey() },
      { authorization: 'Bearer not-a-key' },
    ];
    for (const headers of attempts) {
      const answer = await through(nginx(), '/orders', { headers });
      assert.equal(answer.status, 401, JSON.stringify(headers));
      assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer/, JSON.stringify(headers));
    }
    assert.equal(upstream().received.length, before, 'no refused request reached the upstream');
  });

  test('a revoked key is refused by nginx on the very next request', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 200);
    assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 200, 'warm');
    const before = upstream().received.length;
    assert.equal((await call(server.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token: userToken })).status, 204);
    assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 401);
    assert.equal(upstream().received.length, before);
  });

  test('a rotated key: the old text is refused on the very next request, the new one admitted', async () => {
    const { userToken, keyId, apiKey } = await newKey(server);
    assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 200);
    const rotated = await call(server.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token: userToken });
    assert.equal(rotated.status, 200);
    assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 401);
    const renewed = await through(nginx(), '/', { headers: { 'x-api-key': rotated.body.new_api_key } });
    assert.equal(renewed.status, 200);
    assert.equal(upstream().received.at(-1)!.headers['x-keygate-key-id'], keyId);
  });

  test('the client cannot forge the identity: nginx overwrites what it sent, and drops look-alikes', async () => {
    const { userId, keyId, apiKey } = await newKey(server);
    const forged = {
      'x-keygate-user-id': 'admin',
      'x-keygate-key-id': 'someone-elses-key',
      'x-keygate_user_id': 'admin', // an underscore: a CGI-style backend would read it as X-Keygate-User-Id
      authorization: 'Bearer forged.jwt.token',
    };
    const answer = await through(nginx(), '/', { headers: { ...forged, 'x-api-key': apiKey } });
    assert.equal(answer.status, 200);
    const reached = upstream().received.at(-1)!;
    assert.equal(reached.headers['x-keygate-user-id'], userId, 'one value, keygate\'s');
    assert.equal(reached.headers['x-keygate-key-id'], keyId);
    assert.deepEqual(keygateFields(reached.headers), ['x-keygate-key-id', 'x-keygate-user-id']);
    assert.notEqual(reached.headers.authorization, forged.authorization);
    assert.match(String(reached.headers.authorization), /^Bearer eyJ/);

    const before = upstream().received.length;
    assert.equal((await through(nginx(), '/', { headers: forged })).status, 401, 'forged fields and no key');
    assert.equal(upstream().received.length, before);
  });

  test('a user id beyond plain ASCII reaches the upstream percent-encoded, and decodes to the very id', async () => {
    const { userId, apiKey } = await newKey(server, 'Jürgen 日本 100%');
    assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 200);
    assert.equal(decodeURIComponent(String(upstream().received.at(-1)!.headers['x-keygate-user-id'])), userId);
  });
});

describe('nginx auth_request with the README configuration without ?jwt=true', { skip: SKIP }, () => {
  const server = keygateForTests(EXCHANGE_ENV);
  const { nginx, upstream } = nginxForTests(server, false);

  test('the upstream gets the user and key id and no Authorization at all, whatever the client sent', async () => {
    const { userId, keyId, apiKey } = await newKey(server);
    const presentations: Record<string, string>[] = [
      { authorization: `ApiKey ${apiKey}` },
      { 'x-api-key': apiKey, authorization: 'Bearer forged.jwt.token' },
    ];
    for (const headers of presentations) {
      assert.equal((await through(nginx(), '/', { headers })).status, 200);
      const reached = upstream().received.at(-1)!;
      assert.equal(reached.headers['x-keygate-user-id'], userId);
      assert.equal(reached.headers['x-keygate-key-id'], keyId);
      assert.equal(reached.headers.authorization, undefined);
      assert.equal(reached.headers['x-api-key'], undefined);
    }
  });
});

describe('nginx auth_request when keygate cannot decide now', { skip: SKIP }, () => {
  const server = keygateForTests({
    ...EXCHANGE_ENV,
    KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '2',
    // One compare at a time and none waiting: concurrent cold keys are refused with 503.
    KEYGATE_BCRYPT_CONCURRENCY: '1',
    KEYGATE_BCRYPT_QUEUE_LENGTH: '0',
    KEYGATE_MAX_KEYS_PER_USER: '10',
  });
  const { nginx, upstream } = nginxForTests(server, true);

  test('rate limited: the client gets keygate\'s 429 with Retry-After, not nginx\'s 500', async () => {
    const { apiKey } = await newKey(server);
    const before = upstream().received.length;
    for (let i = 0; i < 2; i++) assert.equal((await through(nginx(), '/', { headers: { 'x-api-key': apiKey } })).status, 200);
    const limited = await through(nginx(), '/', { headers: { 'x-api-key': apiKey } });
    assert.equal(limited.status, 429, limited.text);
    assert.match(limited.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.match(JSON.parse(limited.text).detail, /Rate limit/);
    assert.equal(upstream().received.length, before + 2);
  });

  test('too many cold keys at once: 503 with keygate\'s Retry-After, and the refused never reach the upstream', async () => {
    const userId = `forward-burst-${++userCount}`;
    const keys: string[] = [];
    for (let i = 0; i < 6; i++) keys.push((await newKey(server, userId)).apiKey);
    const before = upstream().received.length;
    const answers = await Promise.all(keys.map((apiKey) => through(nginx(), '/', { headers: { 'x-api-key': apiKey } })));
    const statuses = answers.map((answer) => answer.status);
    assert.ok(statuses.every((status) => status === 200 || status === 503), String(statuses));
    const refused = answers.filter((answer) => answer.status === 503);
    assert.ok(refused.length > 0, `one compare at a time, none waiting: ${statuses}`);
    for (const answer of refused) {
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.match(JSON.parse(answer.text).detail, /retry/);
    }
    assert.equal(upstream().received.length - before, statuses.length - refused.length);
  });

  test('keygate not answering at all: 503, and nothing reaches the upstream', async () => {
    const deadPort = await freePort();
    const lone = await startUpstream();
    const cut = await startNginx((listenPort) =>
      readmeHttpBlock({ keygate: `127.0.0.1:${deadPort}`, upstream: lone.address, listenPort, jwt: true }),
    );
    try {
      const { apiKey } = await newKey(server);
      const answer = await through(cut, '/', { headers: { 'x-api-key': apiKey } });
      assert.equal(answer.status, 503, answer.text);
      assert.match(JSON.parse(answer.text).detail, /cannot be verified now/);
      assert.equal(lone.received.length, 0);
    } finally {
      await cut.close();
      await lone.close();
    }
  });
});

describe('nginx auth_request with KEYGATE_TRUST_PROXY set to nginx\'s address, as the README says', { skip: SKIP }, () => {
  const server = keygateForTests({ KEYGATE_TRUST_PROXY: '127.0.0.1', KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '2' });
  const { nginx } = nginxForTests(server, false);

  test('the per-address limit counts each client, from the X-Forwarded-For nginx sets, not nginx', async () => {
    const { apiKey } = await newKey(server);
    const headers = { 'x-api-key': apiKey, 'x-forwarded-for': '203.0.113.9' }; // a client's own claim counts for nothing
    assert.equal(await statusFrom(nginx(), '127.0.0.2', headers), 200);
    assert.equal(await statusFrom(nginx(), '127.0.0.2', headers), 200);
    assert.equal(await statusFrom(nginx(), '127.0.0.2', headers), 429, 'the third from one address');
    assert.equal(await statusFrom(nginx(), '127.0.0.3', headers), 200, 'another address has a budget of its own');
  });
});
