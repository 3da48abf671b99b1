import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openKeygate } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { Unavailable } from '../src/errors.js';
import { REPORTER_KEYS_COOLDOWN_MS, ReporterKeys } from '../src/leaks/reporter-keys.js';
import { buildServer } from '../src/server.js';
import { call, freshDatabase, startKeygate, TEST_SECRET, temporaryFolder, type RunningKeygate } from './support/keygate.js';
import { unknownKey } from './support/keys.js';

// POST /api/v1/leaks: GitHub's secret scanning reports tokens it found, signed with ECDSA P-256
// over the raw body by one of the keys it publishes; each token that is a keygate key's secret
// gets its key revoked (or disabled), audited as the leak_report actor, and no token is kept.

const LEAKS = '/api/v1/leaks';
const KEYS = '/api/v1/api-keys';

/** A reporter's signing key, as GitHub holds one, with the public half as GitHub publishes it. */
interface ReporterKey {
  identifier: string;
  pem: string;
  sign(body: string): string;
}

function reporterKey(identifier = randomBytes(16).toString('hex')): ReporterKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    identifier,
    pem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    sign: (body) => sign('sha256', Buffer.from(body), privateKey).toString('base64'),
  };
}

function keyList(keys: readonly ReporterKey[]): string {
  return JSON.stringify({ public_keys: keys.map((key, index) => ({ key_identifier: key.identifier, key: key.pem, is_current: index === 0 })) });
}

/** GitHub's public key endpoint on a real loopback socket: it counts its fetches, and can be made to fail. */
interface KeyServer {
  url: string;
  fetches: number;
  published: ReporterKey[];
  failing: boolean;
  close(): Promise<void>;
}

async function keyServer(published: ReporterKey[]): Promise<KeyServer> {
  const state = { fetches: 0, published, failing: false };
  const server = createServer((_request, response) => {
    state.fetches += 1;
    if (state.failing) {
      response.writeHead(502).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(keyList(state.published));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/meta/public_keys/secret_scanning`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** Every token any test reported: none may show in the audit trail. */
const reported: string[] = [];

interface Leak {
  token: string;
  type?: string;
  url?: string;
  source?: string;
}

function reportBody(leaks: readonly Leak[]): string {
  for (const { token } of leaks) reported.push(token);
  return JSON.stringify(leaks.map((leak) => ({ type: 'keygate_api_key', url: 'https://github.com/octo/repo/blob/main/.env', source: 'content', ...leak })));
}

function signedBy(key: ReporterKey, body: string): Record<string, string> {
  return { 'github-public-key-identifier': key.identifier, 'github-public-key-signature': key.sign(body) };
}

const postReport = (baseUrl: string, body: string, headers: Record<string, string>) =>
  call(baseUrl, 'POST', LEAKS, { rawBody: body, headers: { 'content-type': 'application/json', ...headers } });

/** A report of `leaks` signed by `key`. */
const report = (baseUrl: string, key: ReporterKey, leaks: readonly Leak[]) => {
  const body = reportBody(leaks);
  return postReport(baseUrl, body, signedBy(key, body));
};

let users = 0;

async function newKey(server: RunningKeygate, json: Record<string, unknown> = {}) {
  const token = await server.tokenFor(`leaky-${++users}`);
  const created = await call(server.baseUrl, 'POST', `${KEYS}/`, { token, json: { name: 'leaky', ...json } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { token, keyId: created.body.key_id as string, apiKey: created.body.api_key as string };
}

const verify = (server: RunningKeygate, apiKey: string) => call(server.baseUrl, 'POST', `${KEYS}/verify`, { headers: { 'x-api-key': apiKey } });

async function auditEvents(server: RunningKeygate, query = ''): Promise<any[]> {
  const token = await server.tokenFor('ops', ['keygate:admin']);
  const page = await call(server.baseUrl, 'GET', `/api/v1/audit?limit=500${query}`, { token });
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.events;
}

/** The audit trail holds no token any test reported. */
async function assertNoReportedToken(server: RunningKeygate): Promise<void> {
  const trail = JSON.stringify(await auditEvents(server));
  for (const token of reported) assert.ok(!trail.includes(token), 'a reported token is in the audit trail');
}

describe('POST /api/v1/leaks with the reporter keys at a URL', () => {
  const github = reporterKey();
  const stranger = reporterKey(github.identifier);
  let keys: KeyServer;
  let server: RunningKeygate;

  before(async () => {
    keys = await keyServer([github]);
    server = await startKeygate({ KEYGATE_LEAK_KEYS_URL: keys.url });
  });
  after(async () => {
    try {
      await assertNoReportedToken(server);
    } finally {
      await server?.close();
      await keys?.close();
    }
  });

  test('a live key reported is revoked: true_positive, refused by /verify, audited as leak_report with the url; other text is false_positive', async () => {
    const leaked = await newKey(server);
    const owner = await newKey(server);
    const revoked = await newKey(server);
    assert.equal((await call(server.baseUrl, 'DELETE', `${KEYS}/${revoked.keyId}`, { token: revoked.token })).status, 204);
    assert.equal((await verify(server, leaked.apiKey)).status, 200);

    const answer = await report(server.baseUrl, github, [
      { token: 'not a key at all', type: 'other_type' },
      { token: leaked.apiKey, url: 'https://github.com/octo/repo/commit/abc123', source: 'commit' },
      { token: revoked.apiKey },
      { token: unknownKey() },
      { token: leaked.apiKey },
    ]);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      answer.body.map((verdict: { label: string }) => verdict.label),
      ['false_positive', 'true_positive', 'false_positive', 'false_positive', 'true_positive'],
    );
    assert.deepEqual(answer.body[0], { token_raw: 'not a key at all', token_type: 'other_type', label: 'false_positive' });
    assert.deepEqual(answer.body[1], { token_raw: leaked.apiKey, token_type: 'keygate_api_key', label: 'true_positive' });

    assert.deepEqual((await verify(server, leaked.apiKey)).body, { detail: 'Invalid API key' });
    assert.equal((await call(server.baseUrl, 'GET', `${KEYS}/${leaked.keyId}`, { token: leaked.token })).status, 404);
    assert.equal((await verify(server, owner.apiKey)).status, 200, 'a key not reported is untouched');

    const events = await auditEvents(server, `&key_id=${leaked.keyId}&action=key.revoked`);
    assert.equal(events.length, 1, 'revoked once, though reported twice');
    assert.deepEqual(events[0].actor, { type: 'leak_report', id: 'github' });
    assert.equal(events[0].outcome, 'succeeded');
    assert.deepEqual(events[0].detail.leak, { url: 'https://github.com/octo/repo/commit/abc123', source: 'commit', type: 'keygate_api_key' });
    assert.equal(events[0].client_address, '127.0.0.1');
    // The owner sees it in their own trail too.
    const theirs = await call(server.baseUrl, 'GET', `/api/v1/audit?key_id=${leaked.keyId}`, { token: leaked.token });
    assert.ok(theirs.body.events.some((event: { action: string }) => event.action === 'key.revoked'));

    // Reported again (GitHub retries): the key is gone, so it is no live key any more.
    const again = await report(server.baseUrl, github, [{ token: leaked.apiKey }]);
    assert.deepEqual(again.body, [{ token_raw: leaked.apiKey, token_type: 'keygate_api_key', label: 'false_positive' }]);
  });

  test('a disabled key counts too, and either secret of a grace rotation proves the whole key, once', async () => {
    const disabled = await newKey(server, { status: 'disabled' });
    const rotating = await newKey(server);
    const rotated = await call(server.baseUrl, 'POST', `${KEYS}/${rotating.keyId}/rotate`, { token: rotating.token, json: { grace_seconds: 3600 } });
    assert.equal(rotated.status, 200);
    const answer = await report(server.baseUrl, github, [{ token: disabled.apiKey }, { token: rotating.apiKey }, { token: rotated.body.new_api_key }]);
    assert.deepEqual(
      answer.body.map((verdict: { label: string }) => verdict.label),
      ['true_positive', 'true_positive', 'true_positive'],
    );
    assert.equal((await call(server.baseUrl, 'GET', `${KEYS}/${disabled.keyId}`, { token: disabled.token })).status, 404);
    assert.equal((await verify(server, rotated.body.new_api_key)).status, 401);
    assert.equal((await auditEvents(server, `&key_id=${rotating.keyId}&action=key.revoked`)).length, 1);
  });

  test('an unsigned, missigned or tampered report is 401 with a detail, and revokes nothing', async () => {
    const key = await newKey(server);
    const body = reportBody([{ token: key.apiKey }]);
    const signature = github.sign(body);
    const cases: [string, string, Record<string, string>][] = [
      ['no headers', body, {}],
      ['no signature', body, { 'github-public-key-identifier': github.identifier }],
      ['no identifier', body, { 'github-public-key-signature': signature }],
      ['a signature of other bytes', body, signedBy(github, `${body} `)],
      ['random bytes', body, { 'github-public-key-identifier': github.identifier, 'github-public-key-signature': randomBytes(71).toString('base64') }],
      ['not base64', body, { 'github-public-key-identifier': github.identifier, 'github-public-key-signature': 'not base64!' }],
      ['signed by another key under the same identifier', body, signedBy(stranger, body)],
      ['the body changed after signing', body.replace('content', 'commit'), { 'github-public-key-identifier': github.identifier, 'github-public-key-signature': signature }],
      ['the body re-serialized', JSON.stringify(JSON.parse(body), null, 2), { 'github-public-key-identifier': github.identifier, 'github-public-key-signature': signature }],
    ];
    for (const [what, sent, headers] of cases) {
      const answer = await postReport(server.baseUrl, sent, headers);
      assert.equal(answer.status, 401, what);
      assert.equal(typeof answer.body.detail, 'string', what);
      assert.ok(!answer.body.detail.includes(key.apiKey), what);
    }
    assert.match((await postReport(server.baseUrl, body, {})).body.detail, /Github-Public-Key-Identifier and Github-Public-Key-Signature/);
    assert.match((await postReport(server.baseUrl, body, signedBy(stranger, body))).body.detail, /not a signature of this body/);
    // The signed body as sent is good: proof that only the signature failed above.
    assert.equal((await verify(server, key.apiKey)).status, 200, 'the key still works');
    assert.equal((await postReport(server.baseUrl, body, { ...signedBy(github, body) })).status, 200);
  });

  test('a signed body that is no report is 422 with a detail, and revokes nothing', async () => {
    const key = await newKey(server);
    const entry = { token: key.apiKey, type: 'keygate_api_key', url: 'https://github.com/x', source: 'content' };
    reported.push(key.apiKey);
    const { token: _token, ...withoutToken } = entry;
    const cases: [string, string, (string | number)[]][] = [
      ['not JSON', `[${JSON.stringify(entry)}`, ['body']],
      ['an object', JSON.stringify(entry), ['body']],
      ['an entry that is no object', JSON.stringify([entry, 'text']), ['body', 1]],
      ['a missing field', JSON.stringify([entry, withoutToken]), ['body', 1, 'token']],
      ['a token that is no string', JSON.stringify([entry, { ...entry, token: 42 }]), ['body', 1, 'token']],
      ['a url that is no string', JSON.stringify([entry, { ...entry, url: null }]), ['body', 1, 'url']],
      ['too many tokens', JSON.stringify(Array.from({ length: 1001 }, () => entry)), ['body']],
    ];
    for (const [what, body, loc] of cases) {
      const answer = await postReport(server.baseUrl, body, signedBy(github, body));
      assert.equal(answer.status, 422, what);
      assert.deepEqual(answer.body.detail[0].loc, loc, what);
      assert.ok(!JSON.stringify(answer.body).includes(key.apiKey), what);
    }
    const empty = await postReport(server.baseUrl, '', signedBy(github, ''));
    assert.equal(empty.status, 422);
    assert.equal((await verify(server, key.apiKey)).status, 200, 'the key still works');
    // A report of 1000 tokens is one GitHub may send: the limit is of tokens, not the server's 16 KiB.
    const largest = reportBody(Array.from({ length: 1000 }, (_, index) => ({ token: `text-${index}` })));
    assert.ok(Buffer.byteLength(largest) > 16 * 1024);
    const answer = await postReport(server.baseUrl, largest, signedBy(github, largest));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.length, 1000);
  });

  test('the key list is fetched once for many reports; a new identifier fetches it again, at most once per cooldown', async () => {
    const fetchesBefore = keys.fetches;
    for (let index = 0; index < 3; index++) assert.equal((await report(server.baseUrl, github, [{ token: 'text' }])).status, 200);
    assert.equal(keys.fetches, fetchesBefore, 'no fetch for a key already held');
    assert.equal(fetchesBefore, 1, 'one fetch, at the first report');

    // GitHub rotates: reports signed with its new key are verified after one fetch.
    const rotated = reporterKey();
    keys.published = [rotated, github];
    const fetches = keys.fetches;
    assert.equal((await report(server.baseUrl, rotated, [{ token: 'text' }])).status, 200);
    assert.equal(keys.fetches, fetches + 1);
    // Within the cooldown no identifier fetches again, published or not.
    const unknown = await report(server.baseUrl, reporterKey(), [{ token: 'text' }]);
    assert.equal(unknown.status, 401);
    assert.match(unknown.body.detail, /names none of the reporter's public keys/);
    keys.published = [reporterKey('later'), rotated, github];
    assert.equal((await report(server.baseUrl, reporterKey('later'), [{ token: 'text' }])).status, 401);
    assert.equal(keys.fetches, fetches + 1);
    assert.equal((await report(server.baseUrl, github, [{ token: 'text' }])).status, 200, 'held keys still verify');
  });
});

describe('POST /api/v1/leaks when the key list cannot be fetched', () => {
  const github = reporterKey();
  let keys: KeyServer;
  let server: RunningKeygate;

  before(async () => {
    keys = await keyServer([github]);
    keys.failing = true;
    server = await startKeygate({ KEYGATE_LEAK_KEYS_URL: keys.url });
  });
  after(async () => {
    await server?.close();
    await keys?.close();
  });

  test('503 with Retry-After, nothing revoked, and no fetch again within the cooldown', async () => {
    const key = await newKey(server);
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await report(server.baseUrl, github, [{ token: key.apiKey }]);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), String(REPORTER_KEYS_COOLDOWN_MS / 1000));
      assert.match(answer.body.detail, /public keys that verify leak reports cannot be read/);
    }
    assert.equal(keys.fetches, 1);
    assert.equal((await verify(server, key.apiKey)).status, 200);
  });

  test('a key server that is not there at all is a 503 too', async () => {
    const closed = await keyServer([github]);
    await closed.close();
    const elsewhere = await startKeygate({ KEYGATE_LEAK_KEYS_URL: closed.url });
    try {
      const answer = await report(elsewhere.baseUrl, github, [{ token: 'text' }]);
      assert.equal(answer.status, 503);
      assert.ok(answer.headers.get('retry-after'));
    } finally {
      await elsewhere.close();
    }
  });
});

describe('POST /api/v1/leaks with the reporter keys in a file, and KEYGATE_LEAK_ACTION=disable', () => {
  const github = reporterKey();
  const folder = temporaryFolder();
  let server: RunningKeygate;

  before(async () => {
    const file = join(folder, 'secret_scanning.json');
    writeFileSync(file, keyList([github]));
    server = await startKeygate({ KEYGATE_LEAK_KEYS_FILE: file, KEYGATE_LEAK_ACTION: 'disable' });
  });
  after(async () => {
    try {
      await assertNoReportedToken(server);
    } finally {
      await server?.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('the reported key is disabled, not deleted: GET shows it disabled, /verify refuses it, the event says who', async () => {
    const key = await newKey(server);
    const answer = await report(server.baseUrl, github, [{ token: key.apiKey, url: 'https://gist.github.com/octo/1', source: 'gist' }]);
    assert.deepEqual(answer.body, [{ token_raw: key.apiKey, token_type: 'keygate_api_key', label: 'true_positive' }]);
    const details = await call(server.baseUrl, 'GET', `${KEYS}/${key.keyId}`, { token: key.token });
    assert.equal(details.status, 200);
    assert.equal(details.body.status, 'disabled');
    assert.equal((await verify(server, key.apiKey)).status, 401);
    const [event] = await auditEvents(server, `&key_id=${key.keyId}&action=key.disabled`);
    assert.deepEqual(event.actor, { type: 'leak_report', id: 'github' });
    assert.deepEqual(event.detail.leak, { url: 'https://gist.github.com/octo/1', source: 'gist', type: 'keygate_api_key' });
    // A disabled key is still the holder's secret: reported again, it is a true positive, and nothing changes.
    const again = await report(server.baseUrl, github, [{ token: key.apiKey }]);
    assert.equal(again.body[0].label, 'true_positive');
    assert.equal((await auditEvents(server, `&key_id=${key.keyId}&action=key.disabled`)).length, 1);
  });

  test('a report signed by a key not in the file is 401', async () => {
    const key = await newKey(server);
    assert.equal((await report(server.baseUrl, reporterKey(), [{ token: key.apiKey }])).status, 401);
    assert.equal((await verify(server, key.apiKey)).status, 200);
  });
});

describe('POST /api/v1/leaks when not configured', () => {
  let server: RunningKeygate;
  before(async () => {
    server = await startKeygate();
  });
  after(async () => server?.close());

  test('404 with a detail naming the two settings, even for a signed report', async () => {
    const github = reporterKey();
    const answer = await report(server.baseUrl, github, [{ token: 'text' }]);
    assert.equal(answer.status, 404);
    assert.match(answer.body.detail, /KEYGATE_LEAK_KEYS_URL/);
    assert.match(answer.body.detail, /KEYGATE_LEAK_KEYS_FILE/);
  });

  test('the route is documented', async () => {
    const document = (await call(server.baseUrl, 'GET', '/openapi.json')).body;
    const operation = document.paths[LEAKS].post;
    assert.equal(operation.operationId, 'report_leaked_keys');
    assert.deepEqual(Object.keys(operation.responses).sort(), ['200', '401', '404', '422', '429', '503']);
    assert.equal(operation.requestBody.content['application/json'].schema.type, 'array');
  });
});

describe('leak settings', () => {
  const base = { DATABASE_URL: 'sqlite::memory:' };

  test('a bad URL, both sources, or an unknown action is a ConfigError with one line', () => {
    for (const [env, message] of [
      [{ KEYGATE_LEAK_KEYS_URL: 'api.github.com/meta' }, /KEYGATE_LEAK_KEYS_URL must be an http:\/\/ or https:\/\/ URL/],
      [{ KEYGATE_LEAK_KEYS_URL: 'file:///etc/keys.json' }, /KEYGATE_LEAK_KEYS_URL must be/],
      [{ KEYGATE_LEAK_KEYS_URL: 'https://api.github.com/x', KEYGATE_LEAK_KEYS_FILE: 'keys.json' }, /not both/],
      [{ KEYGATE_LEAK_ACTION: 'delete' }, /KEYGATE_LEAK_ACTION must be revoke or disable, got "delete"/],
    ] as const) {
      assert.throws(() => loadConfig({ ...base, ...env }), (error: Error) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('\n'));
    }
    assert.deepEqual(loadConfig(base).leaks, { keys: undefined, action: 'revoke' });
  });

  test('a keys file that cannot be read, or holds no key list, fails the start with a ConfigError naming it', async () => {
    const folder = temporaryFolder();
    const notAList = join(folder, 'not-a-list.json');
    writeFileSync(notAList, '{"keys": []}');
    const database = await freshDatabase(folder);
    try {
      for (const [file, message] of [
        [join(folder, 'missing.json'), /ENOENT/],
        [notAList, /no "public_keys" array/],
      ] as const) {
        const keygate = await openKeygate(loadConfig({ DATABASE_URL: database.url, KEYGATE_SECRET: TEST_SECRET, KEYGATE_LOG_LEVEL: 'silent', KEYGATE_LEAK_KEYS_FILE: file }));
        try {
          await assert.rejects(buildServer(keygate), (error: Error) => error instanceof ConfigError && error.message.startsWith(`KEYGATE_LEAK_KEYS_FILE ${file}: `) && message.test(error.message));
        } finally {
          await keygate.close();
        }
      }
    } finally {
      await database.drop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('ReporterKeys', () => {
  const github = reporterKey('github-1');

  function counted(list: () => string) {
    const source = { reads: 0, failing: false, clock: 0 };
    const keys = new ReporterKeys(async () => {
      source.reads += 1;
      if (source.failing) throw new Error('down');
      return list();
    }, () => source.clock);
    return { source, keys };
  }

  test('an unknown identifier reads the list again once per cooldown, and after it again', async () => {
    let published = [github];
    const { source, keys } = counted(() => keyList(published));
    assert.ok(await keys.keyFor('github-1'));
    assert.equal(await keys.keyFor('github-2'), undefined);
    assert.equal(source.reads, 2);
    const rotated = reporterKey('github-2');
    published = [rotated, github];
    source.clock += REPORTER_KEYS_COOLDOWN_MS - 1;
    assert.equal(await keys.keyFor('github-2'), undefined, 'still within the cooldown');
    assert.equal(source.reads, 2);
    source.clock += 1;
    assert.ok(await keys.keyFor('github-2'));
    assert.equal(source.reads, 3);
  });

  test('a failed read is Unavailable, tried again only after the cooldown; held keys answer meanwhile', async () => {
    const { source, keys } = counted(() => keyList([github]));
    source.failing = true;
    await assert.rejects(keys.keyFor('github-1'), Unavailable);
    await assert.rejects(keys.keyFor('github-1'), Unavailable);
    assert.equal(source.reads, 1);
    source.clock += REPORTER_KEYS_COOLDOWN_MS;
    source.failing = false;
    assert.ok(await keys.keyFor('github-1'));
    source.failing = true;
    // An identifier the reporter may just have published cannot be judged while it is down.
    await assert.rejects(keys.keyFor('github-2'), Unavailable);
    await assert.rejects(keys.keyFor('github-3'), Unavailable);
    assert.equal(source.reads, 3);
    assert.ok(await keys.keyFor('github-1'));
  });

  test('concurrent reports share one read', async () => {
    const { source, keys } = counted(() => keyList([github]));
    await Promise.all([keys.keyFor('github-1'), keys.keyFor('github-1'), keys.keyFor('github-1')]);
    assert.equal(source.reads, 1);
  });

  test('entries that are no P-256 key are passed over', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const list = JSON.stringify({
      public_keys: [{ key_identifier: 'rsa', key: rsa }, { key_identifier: 'broken', key: 'nope' }, { key: github.pem }, { key_identifier: 'github-1', key: github.pem }],
    });
    const { keys } = counted(() => list);
    assert.ok(await keys.keyFor('github-1'));
    assert.equal(await keys.keyFor('rsa'), undefined);
    assert.equal(await keys.keyFor('broken'), undefined);
  });
});
