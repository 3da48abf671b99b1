import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openKeygate, type Keygate } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { mintLocalUserToken } from '../../src/tokens/user-tokens.js';

// Test harness: a real keygate on a real SQLite file in a fresh temporary folder, listening
// on a real loopback socket. Tests talk to it over HTTP with fetch.

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!';

export function temporaryFolder(): string {
  return mkdtempSync(join(tmpdir(), 'keygate-test-'));
}

export interface RunningKeygate {
  baseUrl: string;
  folder: string;
  keygate: Keygate;
  /** A local bearer token for `userId`, signed with the server's secret. */
  tokenFor(userId: string, scopes?: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startKeygate(env: Record<string, string> = {}): Promise<RunningKeygate> {
  const folder = temporaryFolder();
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(folder, 'keygate.db')}`,
    KEYGATE_SECRET: TEST_SECRET,
    KEYGATE_LOG_LEVEL: 'silent',
    ...env,
  });
  const keygate = await openKeygate(config);
  const server = await buildServer(keygate);
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    folder,
    keygate,
    tokenFor: (userId, scopes) => mintLocalUserToken(keygate.userTokenSecret, { userId, ttl: '1h', scopes }),
    async close() {
      await server.close();
      await keygate.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
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
  stop(): Promise<void>;
}

const SPAWN_TIMEOUT_MS = 30_000;

/**
 * Starts `node dist/src/main.js` as a separate process and waits until it listens (it learns
 * the port from the info-level "Server listening" line, so the log level stays at info).
 */
export async function spawnKeygate(env: Record<string, string>, cwd: string): Promise<KeygateProcess> {
  const child = spawn(process.execPath, [MAIN_SCRIPT], {
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
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
