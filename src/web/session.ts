import { ApiError, request, useCsrfToken } from './api.js';
import type { Session } from './types.js';

// Who is signed in, in memory only: a reload asks GET /auth/session again (the cookie is
// HttpOnly, so the page never sees it), and nothing of it is written to storage.

let current: Session | undefined;

function begin(session: Session): Session {
  current = session;
  useCsrfToken(session.csrf_token);
  return session;
}

export function signedIn(): Session | undefined {
  return current;
}

/** Forgets the session here (after a 401, or signing out). */
export function forgetSession(): void {
  current = undefined;
  useCsrfToken(undefined);
}

/** The session the cookie holds, or undefined when there is none. */
export async function resumeSession(): Promise<Session | undefined> {
  try {
    return begin(await request<Session>('GET', '/auth/session', { signedIn: false }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    throw error;
  }
}

/** Signs in with a password (`/auth/session`), or makes an account and signs in (`/auth/signup`). */
export async function signInWith(path: '/auth/session' | '/auth/signup', username: string, password: string): Promise<Session> {
  return begin(await request<Session>('POST', path, { body: { username, password }, signedIn: false }));
}

export async function signOut(): Promise<void> {
  try {
    await request<void>('DELETE', '/auth/session', { signedIn: false });
  } finally {
    forgetSession();
  }
}
