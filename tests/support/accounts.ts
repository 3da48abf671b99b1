import assert from 'node:assert/strict';
import { runCli } from './cli.js';

// Local accounts and browser sessions, as a test drives them: the real CLI makes accounts (the
// password on stdin, as a script pipes it), and fetch signs in and sends the cookie as a
// browser would.

/** Makes an account with the CLI, failing the test unless it says it did. */
export async function addAccount(databaseUrl: string, username: string, password: string, options: { admin?: boolean } = {}): Promise<void> {
  const ran = await runCli(databaseUrl, ['users', 'add', username, ...(options.admin ? ['--admin'] : [])], `${password}\n`);
  assert.equal(ran.status, 0, ran.stderr);
}

export interface BrowserAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** A request as the dashboard makes it: the session cookie, and the CSRF token where given. */
export async function browserCall(
  baseUrl: string,
  method: string,
  path: string,
  options: { cookie?: string; csrf?: string; json?: unknown; headers?: Record<string, string> } = {},
): Promise<BrowserAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(baseUrl + path, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

export interface SignedIn extends BrowserAnswer {
  /** `keygate_session=<value>`, as a browser sends it back; undefined when none was set. */
  cookie: string | undefined;
  setCookie: string | undefined;
}

/** POST `path` (/auth/session, /auth/signup) with the credentials; the cookie it set. */
export async function signIn(baseUrl: string, username: string, password: string, path = '/auth/session', headers: Record<string, string> = {}): Promise<SignedIn> {
  const answer = await browserCall(baseUrl, 'POST', path, { json: { username, password }, headers });
  const setCookie = answer.headers.get('set-cookie') ?? undefined;
  return { ...answer, setCookie, cookie: setCookie?.split(';')[0] };
}
