import { Unauthenticated } from '../errors.js';
import type { NewRefreshToken, RefreshTokensRepository } from '../store/refresh-tokens-repository.js';
import { newSecretValue, secretHash } from './secret-values.js';

// Refresh tokens for scripts (POST /auth/refresh): opaque (32 random bytes behind a prefix that
// secret scanners can match), stored only as their SHA-256, good once. Each use hands out the
// next token of the same family, with a full lifetime again (KEYGATE_REFRESH_TOKEN_TTL: a
// script that runs at least that often never signs in again). A spent token presented again
// means two holders (a copy was stolen, or the legitimate client lost an answer): keygate cannot
// tell which is which, so the whole family is revoked and both must sign in again (OAuth 2.0
// Security BCP, section 4.14.2). A removed account or a changed password ends every family
// (store/users-repository.ts).

export const REFRESH_TOKEN_PREFIX = 'kgrt_';

const SPENT_DETAIL = 'Refresh token was already used: every token of its sign-in is revoked, sign in again';

export class RefreshTokens {
  constructor(
    private readonly repository: RefreshTokensRepository,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A first token, of a new family. Expired rows are swept here, where rows are made. */
  async issue(userId: string): Promise<string> {
    await this.repository.deleteExpired(this.now());
    const { token, row } = this.next(userId, newSecretValue());
    await this.repository.insert(row);
    return token;
  }

  /**
   * Spends `token`: the user it was issued to and the next token of its family. Unauthenticated
   * for a token that is unknown, expired or spent (and then its family is revoked).
   */
  async exchange(token: string): Promise<{ userId: string; next: string }> {
    const tokenHash = secretHash(token);
    const row = await this.repository.find(tokenHash);
    if (row === undefined) throw new Unauthenticated('Refresh token is not known (revoked, or never issued)');
    if (row.usedAtMs !== null) return this.reused(row.familyId);
    const next = this.next(row.userId, row.familyId);
    if (!(await this.repository.rotate(tokenHash, this.now(), next.row))) {
      if (row.expiresAtMs <= this.now()) throw new Unauthenticated('Refresh token has expired: sign in again');
      // Spent by a request that got there first (or revoked meanwhile): the same reuse, by a hair.
      return this.reused(row.familyId);
    }
    return { userId: row.userId, next: next.token };
  }

  /** Revokes the token's family (one just handed out to an account that changed meanwhile). */
  async revoke(token: string): Promise<void> {
    const row = await this.repository.find(secretHash(token));
    if (row !== undefined) await this.repository.deleteFamily(row.familyId);
  }

  /** A new token of the family, and the row that stores it. */
  private next(userId: string, familyId: string): { token: string; row: NewRefreshToken } {
    const token = REFRESH_TOKEN_PREFIX + newSecretValue();
    const createdAtMs = this.now();
    return { token, row: { tokenHash: secretHash(token), familyId, userId, createdAtMs, expiresAtMs: createdAtMs + this.ttlSeconds * 1000 } };
  }

  private async reused(familyId: string): Promise<never> {
    await this.repository.deleteFamily(familyId);
    throw new Unauthenticated(SPENT_DETAIL);
  }
}
