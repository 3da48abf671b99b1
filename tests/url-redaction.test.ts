import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { urlRedactor } from '../src/http/redact-url.js';
import { call, freshDatabase, spawnKeygate, temporaryFolder, TEST_SECRET, type KeygateProcess, type TestDatabase } from './support/keygate.js';

// Clients do put keys in URLs (`?api_key=...`, a path segment). Such a URL must come back in no
// answer and go to no log line: query strings never, and no path segment with a key's shape.
// keygate runs as a process of its own at log level info, and its stdout is read.

const SECRET_PART = 'b'.repeat(43) + 'c'.repeat(6);
const KEY = `mcpkey_live_AAAAAAAAAAAA_${SECRET_PART}`;
/** The key's first letter percent-encoded, and then that encoding encoded again. */
const ENCODED_KEY = `%6D${KEY.slice(1)}`;
const DOUBLE_ENCODED_KEY = `%256D${KEY.slice(1)}`;

describe('a URL holding a key', () => {
  let folder: string;
  let database: TestDatabase;
  let server: KeygateProcess;

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    server = await spawnKeygate({ DATABASE_URL: database.url, KEYGATE_SECRET: TEST_SECRET }, folder);
  });
  after(async () => {
    await server.stop();
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  test('in a path segment: the 404 names the path with that segment redacted', async () => {
    for (const segment of [KEY, ENCODED_KEY, DOUBLE_ENCODED_KEY, `key=${KEY}`]) {
      const response = await call(server.baseUrl, 'GET', `/api/v1/keys/${segment}/info`);
      assert.equal(response.status, 404);
      assert.deepEqual(response.body, { detail: 'No route for GET /api/v1/keys/[redacted]/info' });
    }
  });

  test('in the query string: the 404 shows only that there was one', async () => {
    const response = await call(server.baseUrl, 'GET', `/nowhere?api_key=${KEY}`);
    assert.deepEqual(response.body, { detail: 'No route for GET /nowhere?[redacted]' });
  });

  test('is logged redacted, and no log line holds the key', async () => {
    assert.equal((await call(server.baseUrl, 'GET', `/healthz?api_key=${KEY}`)).status, 200);
    const output = await server.waitForOutput(/"url":"\/healthz\?\[redacted\]"/);
    assert.match(output, /"url":"\/healthz\?\[redacted\]"/);
    assert.match(output, /"url":"\/api\/v1\/keys\/\[redacted\]\/info"/);
    assert.ok(!output.includes(SECRET_PART), 'the secret part is in the log');
    assert.ok(!output.includes('api_key='), 'a query string is in the log');
  });
});

describe('urlRedactor', () => {
  const redact = urlRedactor(['mcpkey_live_', 'mcpkey_test_']);

  test('redacts a segment holding any of the prefixes, in any case, and keeps the others', () => {
    assert.equal(redact('/a/mcpkey_test_x/b/MCPKEY_LIVE_y'), '/a/[redacted]/b/[redacted]');
    assert.equal(redact('/api/v1/api-keys/3xZ9kQ2mB7aV/rotate'), '/api/v1/api-keys/3xZ9kQ2mB7aV/rotate');
  });

  test('decodes a segment however often it was encoded, and tolerates broken encodings', () => {
    assert.equal(redact('/%25256Dcpkey_live_x'), '/[redacted]');
    assert.equal(redact('/%zz/%E0%A4%A/mcpkey_live_%'), '/%zz/%E0%A4%A/[redacted]');
  });

  test('never keeps a query string', () => {
    assert.equal(redact('/?'), '/?[redacted]');
    assert.equal(redact('/healthz?x=1'), '/healthz?[redacted]');
  });
});
