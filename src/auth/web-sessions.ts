import { hmac, newSecretValue, sameSecret, secretHash } from './secret-values.js';
import type { WebSessionsRepository } from '../store/web-sessions-repository.js';

// Browser sessions: a random cookie value the browser holds, whose SHA-256 is the row's key
// (the value itself is never stored), with an absolute lifetime (KEYGATE_SESSION_TTL) and the
// scopes fixed at sign-in. Its CSRF token is derived, not stored: HMAC-SHA256 of the cookie's
// value under a server key, so any instance on the database can check it.

export interface SessionIdentity {
  userId: string;
  username: string;
  scopes: readonly string[];
}

export interface StartedSession {
  cookieValue: string;
  csrfToken: string;
  expiresAt: Date;
}

export interface ActiveSession extends SessionIdentity {
  csrfToken: string;
  expiresAt: Date;
}

export class WebSessions {
  constructor(
    private readonly repository: WebSessionsRepository,
    /** The CSRF tokens' HMAC key (a generated server setting). */
    private readonly csrfKey: Buffer,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new row; a random 32-byte cookie value. Expired rows are swept here, where rows are made. */
  async start(identity: SessionIdentity): Promise<StartedSession> {
    const cookieValue = newSecretValue();
    const createdAtMs = this.now();
    const expiresAtMs = createdAtMs + this.ttlSeconds * 1000;
    await this.repository.deleteExpired(createdAtMs);
    await this.repository.insert({
      sessionHash: secretHash(cookieValue),
      userId: identity.userId,
      username: identity.username,
      scopes: [...identity.scopes],
      createdAtMs,
      expiresAtMs,
    });
    return { cookieValue, csrfToken: this.csrfTokenOf(cookieValue), expiresAt: new Date(expiresAtMs) };
  }

  /** undefined when unknown or expired. */
  async find(cookieValue: string): Promise<ActiveSession | undefined> {
    const row = await this.repository.findLive(secretHash(cookieValue), this.now());
    if (row === undefined) return undefined;
    const { userId, username, scopes } = row;
    return { userId, username, scopes, csrfToken: this.csrfTokenOf(cookieValue), expiresAt: new Date(row.expiresAtMs) };
  }

  async end(cookieValue: string): Promise<void> {
    await this.repository.delete(secretHash(cookieValue));
  }

  /** A removed account, a changed password. */
  async endAllOf(userId: string): Promise<void> {
    await this.repository.deleteAllOf(userId);
  }

  /** Whether `presented` (the X-CSRF-Token header) is the session's CSRF token; constant-time. */
  csrfTokenMatches(cookieValue: string, presented: string | undefined): boolean {
    return presented !== undefined && sameSecret(presented, this.csrfTokenOf(cookieValue));
  }

  private csrfTokenOf(cookieValue: string): string {
    return hmac(this.csrfKey, cookieValue);
  }
}
