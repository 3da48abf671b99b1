import type { FastifyRequest } from 'fastify';

// Sign-ins go to the log, not to the audit trail: the trail is the history of changes to keys
// (one row per change, purged with the keys' retention), and a sign-in changes no key. The log
// line names the account and the outcome, never the password; the request's own log fields
// (id, client address) are on it.

export type SignInVia = 'session' | 'signup' | 'login' | 'refresh';

export function logSignIn(request: FastifyRequest, via: SignInVia, username: string, outcome: 'succeeded' | 'refused'): void {
  const line = { signIn: { via, username, outcome } };
  if (outcome === 'succeeded') request.log.info(line, `sign-in ${outcome}`);
  else request.log.warn(line, `sign-in ${outcome}`);
}
