import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before } from 'node:test';
import { openKeygate, type Keygate } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { mintLocalUserToken } from '../../src/tokens/user-tokens.js';
import { createDatabase } from './postgres.js';

// Test harness: a real keygate on a real database, listening on a real loopback socket. Tests
// talk to it over HTTP with fetch. The database is a SQLite file in a fresh temporary folder,
// or, in `npm test`'s PostgreSQL pass (KEYGATE_TEST_POSTGRES_URL set by with-postgres.ts), a
// fresh database on the throwaway cluster.

const POSTGRES_ADMIN_URL = process.env.KEYGATE_TEST_POSTGRES_URL;
export const onPostgres = POSTGRES_ADMIN_URL !== undefined;
/** A skip reason for tests about SQLite's files, in the PostgreSQL pass. */
export const sqliteOnly: string | false = onPostgres ? 'about SQLite files: covered by the SQLite pass' : false;

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database of the pass's kind; `folder` holds it on SQLite. */
export async function freshDatabase(folder: string): Promise<TestDatabase> {
  if (POSTGRES_ADMIN_URL !== undefined) return createDatabase(POSTGRES_ADMIN_URL);
  return { url: `sqlite:${join(folder, 'keygate.db')}`, drop: async () => {} };
}

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';

export function temporaryFolder(): string {
  return mkdtempSync(join(tmpdir(), 'keygate-test-'));
}

export interface RunningKeygate {
  baseUrl: string;
  /** The DATABASE_URL this keygate runs on: other processes may open it too. */
  databaseUrl: string;
  folder: string;
  keygate: Keygate;
  /** A local bearer token for `userId`, signed with the server's secret. */
  tokenFor(userId: string, scopes?: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startKeygate(env: Record<string, string> = {}): Promise<RunningKeygate> {
  const folder = temporaryFolder();
  // A keygate started on another's database (a second instance) does not own it: only its
  // creator drops it, so closing the second never pulls the database from under the first.
  const database: TestDatabase =
    env.DATABASE_URL === undefined ? await freshDatabase(folder) : { url: env.DATABASE_URL, drop: async () => {} };
  const config = loadConfig({
    DATABASE_URL: database.url,
    KEYGATE_SECRET: TEST_SECRET,
    KEYGATE_LOG_LEVEL: 'silent',
    PORT: '0',
    ...env,
  });
  const keygate = await openKeygate(config);
  const server = await buildServer(keygate);
  // A port of the OS's choosing, unless the test must know it beforehand (KEYGATE_PUBLIC_URL names it).
  await server.listen({ host: '127.0.0.1', port: config.port });
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    databaseUrl: database.url,
    folder,
    keygate,
    tokenFor: (userId, scopes) => mintLocalUserToken(keygate.userTokenSecret, { userId, ttl: '1h', scopes }),
    async close() {
      await server.close();
      await keygate.close();
      await database.drop();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/**
 * The keygate of the enclosing describe() (or test file): started before its tests, closed after
 * them. Its members read the running one, so tests use it as they use startKeygate()'s.
 */
export function keygateForTests(env: Record<string, string> = {}): RunningKeygate {
  let running: RunningKeygate | undefined;
  before(async () => {
    running = await startKeygate(env);
  });
  after(async () => {
    await running?.close();
  });
  const current = (): RunningKeygate => {
    if (running === undefined) throw new Error('this keygate runs only between its before() and after()');
    return running;
  };
  return {
    get baseUrl() {
      return current().baseUrl;
    },
    get databaseUrl() {
      return current().databaseUrl;
    },
    get folder() {
      return current().folder;
    },
    get keygate() {
      return current().keygate;
    },
    tokenFor: (userId, scopes) => current().tokenFor(userId, scopes),
    close: () => current().close(),
  };
}

/** A user token signed with the secret kept in that database, as `keygate token` mints it. */
export async function tokenFromDatabase(databaseUrl: string, userId: string): Promise<string> {
  const keygate = await openKeygate(loadConfig({ DATABASE_URL: databaseUrl, KEYGATE_LOG_LEVEL: 'silent' }));
  try {
    return await mintLocalUserToken(keygate.userTokenSecret, { userId, ttl: '1h' });
  } finally {
    await keygate.close();
  }
}

/** The value of one series in a keygate's /metrics, e.g. `keygate_key_hash_compares_total`. */
export async function metric(baseUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  if (line === undefined) throw new Error(`metric ${series} is not exposed`);
  return Number(line.split(' ')[1]);
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** fetch with a JSON body and a parsed JSON answer (undefined for an empty one). */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(baseUrl + path, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** The package's own entry points, as a user runs them after `npm ci`. */
export const MAIN_SCRIPT = new URL('../../src/main.js', import.meta.url).pathname;
export const CLI_SCRIPT = new URL('../../src/cli.js', import.meta.url).pathname;

export interface KeygateProcess {
  baseUrl: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Waits (at most 10 s) until the output matches: a log line may arrive after the answer. */
  waitForOutput(pattern: RegExp): Promise<string>;
  stop(): Promise<void>;
}

const SPAWN_TIMEOUT_MS = 30_000;

/**
 * Starts `node dist/src/main.js` as a separate process and waits until it listens (it learns
 * the port from the info-level "Server listening" line, so the log level stays at info).
 */
export interface SpawnOptions {
  /** `ulimit -n` for the process: how many file descriptors (sockets included) it may hold. */
  fileDescriptorLimit?: number;
  /** The Node binary that runs it: this test run's own unless given. */
  node?: string;
  /** The server's main file: this build's unless given (an installed package's, say). */
  script?: string;
}

export async function spawnKeygate(env: Record<string, string>, cwd: string, options: SpawnOptions = {}): Promise<KeygateProcess> {
  const { fileDescriptorLimit: limit, node = process.execPath, script = MAIN_SCRIPT } = options;
  // bash sets the limit, then exec hands its process over to node: the pid stays the server's.
  const [command, args] =
    limit === undefined
      ? [node, [script]]
      : ['bash', ['-c', `ulimit -n ${limit} && exec "$0" "$1"`, node, script]];
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH, PORT: '0', ...env, KEYGATE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keygate did not start within ${SPAWN_TIMEOUT_MS} ms:\n${output}`));
    }, SPAWN_TIMEOUT_MS);
    const onData = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`keygate exited with ${code}:\n${output}`));
    });
  });
  return {
    baseUrl,
    child,
    output: () => output,
    async waitForOutput(pattern) {
      for (let attempt = 0; attempt < 200 && !pattern.test(output); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return output;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return; // exited, or killed
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** The exit code of `child` (null: killed by a signal); a child still running after `withinMs` is killed and the wait fails. */
export async function exitCode(child: ChildProcess, withinMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), withinMs);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (signal === 'SIGKILL') throw new Error(`the process did not exit within ${withinMs} ms`);
    return code;
  } finally {
    clearTimeout(timer);
  }
}

export interface HeldConnection {
  socket: Socket;
  /** Resolves when the first bytes of an answer arrive. */
  answered: Promise<void>;
  /** Everything the server sent, once the server has ended or reset the connection. */
  closedByServer: Promise<string>;
}

/**
 * Opens a loopback connection, sends `bytes` and holds it open: it never ends its own side
 * (allowHalfOpen), so it closes only when the server closes it. Callers destroy it when done.
 */
export function holdConnection(baseUrl: string, bytes: string): HeldConnection {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
  socket.on('connect', () => socket.write(bytes));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const answered = once(socket, 'data').then(() => undefined);
  answered.catch(() => {}); // a connection closed without an answer rejects it: only awaiting it fails
  const closedByServer = new Promise<string>((resolve) => {
    socket.once('end', () => resolve(received));
    // A reset (by the server, or by the kernel on its behalf when it accepts nothing more).
    socket.on('error', () => resolve(received));
  });
  return { socket, answered, closedByServer };
}

/** Resolves with what `promise` resolves to, or rejects once `ms` have passed without it. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RawExchange {
  status: number;
  /** Lowercase names. */
  headers: Record<string, string>;
  /** Every byte after the header block, up to the server closing the connection. */
  body: string;
}

/**
 * Sends `bytes` on a new connection and reads until the server closes it, so that stray bytes
 * after an answer show (a body on a HEAD answer, say). Fails after `hangAfterMs`.
 */
export async function rawExchange(baseUrl: string, bytes: string, hangAfterMs = 10_000): Promise<RawExchange> {
  const held = holdConnection(baseUrl, bytes);
  try {
    const text = await within(hangAfterMs, held.closedByServer, 'the server closing the connection');
    const headEnd = text.indexOf('\r\n\r\n');
    const [statusLine = '', ...lines] = text.slice(0, headEnd === -1 ? text.length : headEnd).split('\r\n');
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
    if (status === null || headEnd === -1) throw new Error(`not an HTTP answer: ${JSON.stringify(text)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status: Number(status[1]), headers, body: text.slice(headEnd + 4) };
  } finally {
    held.socket.destroy();
  }
}
