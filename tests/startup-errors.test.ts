import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { ConfigError, loadConfig, parseDatabaseUrl } from '../src/config.js';
import { closedPortUrl } from './support/identity-provider.js';
import {
  call,
  CLI_SCRIPT,
  exitCode,
  keygateForTests,
  MAIN_SCRIPT,
  onPostgres,
  spawnKeygate,
  temporaryFolder,
  TEST_SECRET,
  type KeygateProcess,
} from './support/keygate.js';
import { postgresBinaries, startPostgres, type PostgresCluster } from './support/postgres.js';

// The usual mistakes at start, made for real: a port taken by another process, a PostgreSQL that
// is down or refuses the password, DATABASE_URLs as people write them, files that cannot be a
// database. Each must end the process with one line naming the setting, never a stack trace (and
// never a password). The file starts the processes and the PostgreSQL cluster it needs itself,
// so the PostgreSQL pass of the suite skips it rather than run it twice.

const coveredOnce: string | false = onPostgres ? 'start-up errors: covered by the SQLite pass, on a cluster of its own' : false;
const MCP_EXAMPLE_SCRIPT = new URL('../examples/mcp-server/server.js', import.meta.url).pathname;
const EXIT_WITHIN_MS = 30_000;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a script of this package to its end, in `cwd`, with only PATH and `env` for environment. */
async function run(script: string, args: string[], env: Record<string, string>, cwd: string): Promise<Finished> {
  const child = spawn(process.execPath, [script, ...args], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await exitCode(child, EXIT_WITHIN_MS);
  return { code, stdout, stderr };
}

const server = (env: Record<string, string>, cwd: string) => run(MAIN_SCRIPT, [], { PORT: '0', ...env }, cwd);
const mintToken = (env: Record<string, string>, cwd: string) => run(CLI_SCRIPT, ['token', '--user', 'alice'], env, cwd);

/** Exit code 1 and stderr exactly one line, `<prefix>: ...` matching `pattern`: no stack trace. */
function assertOneLine(finished: Finished, pattern: RegExp, prefix = 'keygate'): string {
  assert.equal(finished.code, 1, finished.stderr);
  const lines = finished.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, finished.stderr);
  const [line] = lines as [string];
  assert.ok(line.startsWith(`${prefix}: `), line);
  assert.match(line, pattern);
  return line;
}

/** A loopback port held by a plain TCP listener, as another program would hold it. */
async function takenPort(): Promise<{ port: number; release(): Promise<void> }> {
  const holder: Server = createServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  return {
    port: (holder.address() as AddressInfo).port,
    release: async () => {
      holder.close();
      await once(holder, 'close');
    },
  };
}

describe('a port already in use', { skip: coveredOnce }, () => {
  let folder: string;
  let taken: Awaited<ReturnType<typeof takenPort>>;
  before(async () => {
    folder = temporaryFolder();
    taken = await takenPort();
  });
  after(async () => {
    await taken.release();
    rmSync(folder, { recursive: true, force: true });
  });

  test('stops the server with one line naming PORT', async () => {
    const finished = await server({ PORT: String(taken.port) }, folder);
    assertOneLine(finished, new RegExp(`^keygate: PORT ${taken.port}: 127\\.0\\.0\\.1:${taken.port} is already in use; .*set PORT to a free port`));
  });

  test('stops the MCP example with one line naming PORT', async () => {
    // The example opens only an existing keygate database: the CLI makes one.
    const databaseUrl = `sqlite:${join(folder, 'data', 'keygate.db')}`;
    assert.equal((await mintToken({ DATABASE_URL: databaseUrl }, folder)).code, 0);
    const finished = await run(MCP_EXAMPLE_SCRIPT, [], { DATABASE_URL: databaseUrl, PORT: String(taken.port) }, folder);
    assertOneLine(finished, new RegExp(`PORT ${taken.port}: .* is already in use; .*set PORT to a free port`), 'mcp-server');
  });

  test('a HOST that is not an address of this machine is named too', async () => {
    // 192.0.2.1 is TEST-NET-1: no machine has it, and binding to it sends nothing anywhere.
    assertOneLine(await server({ HOST: '192.0.2.1' }, folder), /^keygate: HOST 192\.0\.2\.1 is not an address of this machine/);
  });
});

describe('KEYGATE_LOG_LEVEL', { skip: coveredOnce }, () => {
  test('a level pino does not know is a ConfigError naming the variable and the levels', () => {
    assert.throws(
      () => loadConfig({ KEYGATE_LOG_LEVEL: 'verbose' }),
      (error: unknown) => error instanceof ConfigError && /^KEYGATE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "verbose"$/.test(error.message),
    );
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      assert.equal(loadConfig({ KEYGATE_LOG_LEVEL: level }).logLevel, level);
    }
  });

  test('stops the server with that line, not pino\'s stack', async () => {
    const folder = temporaryFolder();
    try {
      assertOneLine(await server({ KEYGATE_LOG_LEVEL: 'verbose' }, folder), /^keygate: KEYGATE_LOG_LEVEL must be one of/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('DATABASE_URL forms', { skip: coveredOnce }, () => {
  test('sqlite: takes the path as written; an empty authority or . and .. before it change nothing', () => {
    const forms: [string, string][] = [
      ['sqlite:./data/keygate.db', './data/keygate.db'],
      ['sqlite:data/keygate.db', 'data/keygate.db'],
      ['sqlite:/var/lib/keygate.db', '/var/lib/keygate.db'],
      ['sqlite:///var/lib/keygate.db', '/var/lib/keygate.db'],
      ['sqlite://./data/keygate.db', './data/keygate.db'],
      ['sqlite://../data/keygate.db', '../data/keygate.db'],
      ['sqlite::memory:', ':memory:'],
    ];
    for (const [url, path] of forms) assert.deepEqual(parseDatabaseUrl(url), { kind: 'sqlite', path }, url);
  });

  test('sqlite://<host>/... is refused with both spellings that may be meant', () => {
    assert.throws(
      () => parseDatabaseUrl('sqlite://data/keygate.db'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes('names a host ("data")') &&
        error.message.includes('write sqlite:data/keygate.db for a path relative to the working folder, or sqlite:/data/keygate.db'),
    );
    for (const empty of ['sqlite:', 'sqlite://']) {
      assert.throws(() => parseDatabaseUrl(empty), (error: unknown) => error instanceof ConfigError && /names no file: write sqlite:/.test(error.message));
    }
  });

  test('sqlite://./data/keygate.db is the working folder\'s data/keygate.db, and the CLI says so on stderr', async () => {
    const folder = temporaryFolder();
    try {
      const finished = await mintToken({ DATABASE_URL: 'sqlite://./data/keygate.db' }, folder);
      assert.equal(finished.code, 0, finished.stderr);
      assert.ok(existsSync(join(folder, 'data', 'keygate.db')));
      assert.ok(finished.stderr.includes(`sqlite:${join(folder, 'data', 'keygate.db')}`), finished.stderr);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a bare path is refused naming what was given, the accepted forms and the spelling meant', async () => {
    const folder = temporaryFolder();
    try {
      const line = assertOneLine(await server({ DATABASE_URL: './data/keygate.db' }, folder), /^keygate: DATABASE_URL must be sqlite:/);
      assert.ok(line.includes('got "./data/keygate.db" (for that file: sqlite:./data/keygate.db)'), line);
      assert.ok(line.includes('postgres://user:password@host:5432/db'), line);
      assert.ok(!line.includes(':..."'), line);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('an unknown scheme is named without the password it carries', () => {
    assert.throws(
      () => parseDatabaseUrl('mysql://alice:s3cret-pw@db.example.com/keygate'),
      (error: unknown) => error instanceof ConfigError && error.message.includes('got "mysql://alice:***@db.example.com/keygate"') && !error.message.includes('s3cret-pw'),
    );
  });
});

describe('a SQLite path that cannot be a database', { skip: coveredOnce }, () => {
  let folder: string;
  before(() => {
    folder = temporaryFolder();
    writeFileSync(join(folder, 'plain'), 'a regular file\n');
    writeFileSync(join(folder, 'notes.txt'), 'not a database, and longer than a SQLite header would be: '.repeat(4));
    mkdirSync(join(folder, 'a-folder'));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('under a regular file: names the file in the way', async () => {
    // The file itself where the folder should be (EEXIST), and a folder further up (ENOTDIR).
    for (const below of ['x.db', join('sub', 'x.db')]) {
      const line = assertOneLine(await server({ DATABASE_URL: `sqlite:./plain/${below}` }, folder), /^keygate: DATABASE_URL sqlite:/);
      assert.ok(line.includes(`its folder cannot be created: ${join(folder, 'plain')} is a file, not a folder`), line);
    }
  });

  test('a file that is not a SQLite database is named as such, and left as it was', async () => {
    const line = assertOneLine(await server({ DATABASE_URL: 'sqlite:./notes.txt' }, folder), /the file is not a SQLite database/);
    assert.ok(line.startsWith(`keygate: DATABASE_URL sqlite:${join(folder, 'notes.txt')}: `), line);
  });

  test('a folder where the file should be', async () => {
    assertOneLine(await server({ DATABASE_URL: 'sqlite:./a-folder' }, folder), /^keygate: DATABASE_URL sqlite:.*a-folder: SQLite cannot use the file/);
  });

  test('a failure of no known kind still prints its stack', async () => {
    // A SQLite database, but another application's, whose table keygate's migration cannot create.
    const foreign = new SqliteDatabase(join(folder, 'foreign.db'));
    foreign.exec('CREATE TABLE api_keys (something_else TEXT)');
    foreign.close();
    const finished = await server({ DATABASE_URL: 'sqlite:./foreign.db' }, folder);
    assert.equal(finished.code, 1);
    assert.match(finished.stderr, /\n\s+at /, 'a stack trace');
  });
});

describe('PostgreSQL that cannot be used', { skip: coveredOnce }, () => {
  const PASSWORD = 'the-right-password';
  const WRONG_PASSWORD = 'a-wrong-password';
  const noPostgres = postgresBinaries() === undefined && !process.env.CI;
  let cluster: PostgresCluster | undefined;
  let folder: string;
  /** The cluster's address for `user` with `password`, on database `database`. */
  let urlFor: (user: string, password: string, database?: string) => string;

  before(async () => {
    folder = temporaryFolder();
    if (noPostgres) return;
    cluster = await startPostgres();
    urlFor = (user, password, database = 'postgres') => {
      const url = new URL(cluster!.adminUrl);
      url.username = user;
      url.password = password;
      url.pathname = `/${database}`;
      return url.toString();
    };
    await requirePasswordOf(cluster.adminUrl, 'alice', PASSWORD);
  });
  after(async () => {
    await cluster?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  /** Both the server and the CLI: each must stop with the same line. */
  async function bothStopWith(databaseUrl: string, pattern: RegExp): Promise<void> {
    for (const finished of [await server({ DATABASE_URL: databaseUrl }, folder), await mintToken({ DATABASE_URL: databaseUrl }, folder)]) {
      const line = assertOneLine(finished, pattern);
      assert.ok(!line.includes(PASSWORD) && !line.includes(WRONG_PASSWORD), line);
      assert.equal(finished.stdout.includes(WRONG_PASSWORD), false);
    }
  }

  test('unreachable (a closed port): names DATABASE_URL without its password', async () => {
    const port = new URL(await closedPortUrl()).port;
    const url = `postgres://alice:${WRONG_PASSWORD}@127.0.0.1:${port}/keygate`;
    await bothStopWith(url, new RegExp(`^keygate: DATABASE_URL postgres://alice:\\*\\*\\*@127\\.0\\.0\\.1:${port}/keygate: PostgreSQL does not answer \\(.*ECONNREFUSED.*\\): start it, or correct the host and port in DATABASE_URL$`));
  });

  test('a host name that does not resolve: one line naming it, not a stack', async () => {
    // .invalid never resolves (RFC 2606).
    const url = `postgres://alice:${WRONG_PASSWORD}@db.invalid:5432/keygate`;
    await bothStopWith(url, /^keygate: DATABASE_URL postgres:\/\/alice:\*\*\*@db\.invalid:5432\/keygate: the host db\.invalid (is not found|could not be resolved now) \(.*\): correct the host in DATABASE_URL$/);
  });

  test('a wrong password', { skip: noPostgres && 'PostgreSQL is not installed' }, async () => {
    await bothStopWith(urlFor('alice', WRONG_PASSWORD), /^keygate: DATABASE_URL postgres:\/\/alice:\*\*\*@.*: PostgreSQL refused the login \(password authentication failed for user "alice"\): correct the user and password in DATABASE_URL$/);
  });

  test('no password where one is needed', { skip: noPostgres && 'PostgreSQL is not installed' }, async () => {
    await bothStopWith(urlFor('alice', ''), /^keygate: DATABASE_URL postgres:\/\/alice@.*: PostgreSQL asks for a password and DATABASE_URL has none/);
  });

  test('a database that does not exist', { skip: noPostgres && 'PostgreSQL is not installed' }, async () => {
    await bothStopWith(urlFor('alice', PASSWORD, 'no_such_db'), /: database "no_such_db" does not exist: create it, or correct the database name in DATABASE_URL$/);
  });

  test('the right password opens it (the refusals above are about the password)', { skip: noPostgres && 'PostgreSQL is not installed' }, async () => {
    const finished = await mintToken({ DATABASE_URL: urlFor('alice', PASSWORD) }, folder);
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.ok(!finished.stderr.includes(PASSWORD), finished.stderr);
  });
});

/**
 * A login role `user` that must give `password` over TCP: the cluster trusts every login, so its
 * pg_hba.conf is rewritten (the superuser may write the cluster's files) and reloaded.
 */
async function requirePasswordOf(adminUrl: string, user: string, password: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${user} LOGIN CREATEDB PASSWORD '${password}'`);
    await admin.query(`GRANT ALL ON SCHEMA public TO ${user}`);
    const { rows } = await admin.query<{ hba_file: string }>('SHOW hba_file');
    const lines = [`host all ${user} 127.0.0.1/32 scram-sha-256`, 'host all all 127.0.0.1/32 trust', 'local all all trust'];
    await admin.query(`COPY (VALUES ${lines.map((line) => `('${line}')`).join(', ')}) TO '${rows[0]!.hba_file}'`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
}

describe('a token minted against another database than the server\'s', { skip: coveredOnce }, () => {
  let serverFolder: string;
  let cliFolder: string;
  let running: KeygateProcess;
  before(async () => {
    serverFolder = temporaryFolder();
    cliFolder = temporaryFolder();
    running = await spawnKeygate({}, serverFolder);
  });
  after(async () => {
    await running.stop();
    rmSync(serverFolder, { recursive: true, force: true });
    rmSync(cliFolder, { recursive: true, force: true });
  });

  test('the CLI names on stderr the database whose secret signed it; stdout holds the token alone', async () => {
    const finished = await mintToken({}, cliFolder);
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal(
      finished.stderr,
      `keygate: signed with the secret kept in sqlite:${join(cliFolder, 'data', 'keygate.db')}: the server must run on that database\n`,
    );
    const refused = await call(running.baseUrl, 'GET', '/api/v1/api-keys/', { token: finished.stdout.trim() });
    assert.equal(refused.status, 401);
    assert.match(refused.body.detail, /^Token signature is invalid: it was not signed with this server's secret \(minted by `keygate token` against another database, or with another KEYGATE_SECRET\?\)$/);
  });

  test('with KEYGATE_SECRET set, the CLI names that variable, never its value', async () => {
    const finished = await mintToken({ KEYGATE_SECRET: TEST_SECRET }, cliFolder);
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stderr, /^keygate: signed with KEYGATE_SECRET \(database sqlite:.*\): the server must have the same KEYGATE_SECRET\n$/);
    assert.ok(!finished.stderr.includes(TEST_SECRET));
    assert.equal((await call(running.baseUrl, 'GET', '/api/v1/api-keys/', { token: finished.stdout.trim() })).status, 401);
  });
});

describe('a body that is not JSON', { skip: coveredOnce }, () => {
  const keygate = keygateForTests();
  test('is 415, saying to send Content-Type: application/json', async () => {
    const token = await keygate.tokenFor('alice');
    const response = await call(keygate.baseUrl, 'POST', '/api/v1/api-keys/', {
      token,
      headers: { 'content-type': 'text/plain' },
      rawBody: '{"name": "x"}',
    });
    assert.equal(response.status, 415);
    assert.match(response.body.detail, /send Content-Type: application\/json$/);
  });
});
