import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { call, CLI_SCRIPT, MAIN_SCRIPT, spawnKeygate, sqliteOnly, temporaryFolder, type KeygateProcess } from './support/keygate.js';

// keygate as a user runs it: `node dist/src/main.js` (what `npm start` runs) and the CLI,
// as separate processes, on the default embedded database in a fresh working folder. All of it
// is about the embedded default, so the PostgreSQL pass skips this file.

const run = promisify(execFile);

async function cli(args: string[], cwd: string, env: Record<string, string> = {}) {
  return run(process.execPath, [CLI_SCRIPT, ...args], { cwd, env: { PATH: process.env.PATH, ...env } });
}

/** Every byte keygate keeps on disk, database, WAL and shared memory alike. */
function dataFolderBytes(folder: string): string {
  return readdirSync(folder)
    .map((name) => readFileSync(join(folder, name)).toString('latin1'))
    .join('\n');
}

describe('a server started on the defaults', { skip: sqliteOnly }, () => {
  let folder: string;
  let server: KeygateProcess;
  let token: string;
  const issuedKeys: string[] = [];

  before(async () => {
    folder = temporaryFolder();
    server = await spawnKeygate({}, folder);
    token = (await cli(['token', '--user', 'alice'], folder)).stdout.trim().split('\n').at(-1) ?? '';
  });
  after(async () => {
    await server.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  test('listens on 127.0.0.1 and answers /healthz', async () => {
    assert.match(server.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await call(server.baseUrl, 'GET', '/healthz');
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ok' });
  });

  test('keeps its database in ./data, readable only by its owner', () => {
    assert.equal(statSync(join(folder, 'data')).mode & 0o777, 0o700);
    assert.equal(statSync(join(folder, 'data', 'keygate.db')).mode & 0o777, 0o600);
  });

  test('accepts a token minted by `keygate token` with the generated secret', async () => {
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'from the CLI' } });
    assert.equal(created.status, 201);
    issuedKeys.push(created.body.api_key);
    const rotated = await call(server.baseUrl, 'POST', `/api/v1/api-keys/${created.body.key_id}/rotate`, { token });
    assert.equal(rotated.status, 200);
    issuedKeys.push(rotated.body.new_api_key);
  });

  test('never writes an issued key, nor its secret part, to the database files', () => {
    assert.equal(issuedKeys.length, 2);
    const bytes = dataFolderBytes(join(folder, 'data'));
    assert.ok(bytes.includes('from the CLI'), 'the scan does read the stored rows');
    for (const key of issuedKeys) {
      const secretPart = key.split('_').at(-1)!.slice(0, 43);
      assert.ok(!bytes.includes(key));
      assert.ok(!bytes.includes(secretPart));
    }
  });

  test('an unexpected failure is a 500 with a generic detail, and the log names the cause without secrets', async () => {
    const sabotage = new SqliteDatabase(join(folder, 'data', 'keygate.db'));
    sabotage.exec('ALTER TABLE api_keys RENAME TO api_keys_elsewhere');
    try {
      const response = await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token });
      assert.equal(response.status, 500);
      assert.deepEqual(response.body, { detail: 'Internal server error' });
      assert.match(await server.waitForOutput(/no such table: api_keys/), /no such table: api_keys/);
    } finally {
      sabotage.exec('ALTER TABLE api_keys_elsewhere RENAME TO api_keys');
      sabotage.close();
    }
    assert.equal((await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token })).status, 200);
  });

  test('logs requests without keys, tokens or secrets', async () => {
    await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token: `${token}x` });
    const log = await server.waitForOutput(/"statusCode":401/);
    assert.match(log, /"url":"\/api\/v1\/api-keys\/"/, 'requests are logged');
    for (const key of issuedKeys) assert.ok(!log.includes(key) && !log.includes(key.slice(-54)));
    assert.ok(!log.includes(token.split('.')[2]!), 'no token signature in the log');
  });

  test('keeps the generated secret across restarts: an earlier token still works', async () => {
    await server.stop();
    server = await spawnKeygate({}, folder);
    const response = await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token });
    assert.equal(response.status, 200);
    assert.equal(response.body.length, 1);
  });
});

describe('configuration and CLI errors', { skip: sqliteOnly }, () => {
  test('a bad setting stops the server at start with a message naming it', async () => {
    const folder = temporaryFolder();
    try {
      await assert.rejects(
        run(process.execPath, [MAIN_SCRIPT], { cwd: folder, env: { PATH: process.env.PATH, PORT: 'eighty' } }),
        (error: { code: number; stderr: string }) => error.code === 1 && /PORT must be an integer/.test(error.stderr),
      );
      await assert.rejects(
        run(process.execPath, [MAIN_SCRIPT], { cwd: folder, env: { PATH: process.env.PATH, KEYGATE_SECRET: 'short' } }),
        (error: { stderr: string }) => /KEYGATE_SECRET must be at least 32 bytes/.test(error.stderr),
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('`keygate token` without --user explains its usage', async () => {
    const folder = temporaryFolder();
    try {
      await assert.rejects(cli(['token'], folder), (error: { code: number; stderr: string }) => {
        return error.code === 2 && /--user <id> is required/.test(error.stderr);
      });
      await assert.rejects(cli(['token', '--user', 'a', '--ttl', 'forever'], folder), /--ttl must be a duration/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('`keygate token` carries the requested scopes and lifetime', async () => {
    const folder = temporaryFolder();
    try {
      const { stdout } = await cli(['token', '--user', 'bob', '--ttl', '2h', '--scope', 'keys:manage', '--scope', 'read'], folder);
      const payload = JSON.parse(Buffer.from(stdout.trim().split('.')[1]!, 'base64url').toString());
      assert.equal(payload.sub, 'bob');
      assert.equal(payload.scope, 'keys:manage read');
      assert.equal(payload.exp - payload.iat, 7200);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('`keygate token` refuses to mint in OIDC mode', async () => {
    const folder = temporaryFolder();
    try {
      const oidc = { KEYGATE_OIDC_ISSUER: 'https://id.example.com', KEYGATE_OIDC_AUDIENCE: 'keygate' };
      await assert.rejects(cli(['token', '--user', 'a'], folder, oidc), /OIDC mode/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
