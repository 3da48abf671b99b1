import type { KeygateDb } from './database.js';

// The web_sessions table: rows by the SHA-256 of their cookie's value.

export interface SessionRow {
  sessionHash: string;
  userId: string;
  username: string;
  scopes: readonly string[];
  createdAtMs: number;
  expiresAtMs: number;
}

export class WebSessionsRepository {
  constructor(private readonly db: KeygateDb) {}

  async insert(session: SessionRow): Promise<void> {
    await this.db
      .insertInto('web_sessions')
      .values({
        session_hash: session.sessionHash,
        user_id: session.userId,
        username: session.username,
        scopes: session.scopes.join(' '),
        created_at_ms: session.createdAtMs,
        expires_at_ms: session.expiresAtMs,
      })
      .execute();
  }

  /** The session unless it has expired by `nowMs`. */
  async findLive(sessionHash: string, nowMs: number): Promise<SessionRow | undefined> {
    const row = await this.db
      .selectFrom('web_sessions')
      .selectAll()
      .where('session_hash', '=', sessionHash)
      .where('expires_at_ms', '>', nowMs)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      sessionHash: row.session_hash,
      userId: row.user_id,
      username: row.username,
      scopes: row.scopes === '' ? [] : row.scopes.split(' '),
      createdAtMs: Number(row.created_at_ms),
      expiresAtMs: Number(row.expires_at_ms),
    };
  }

  async delete(sessionHash: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('session_hash', '=', sessionHash).execute();
  }

  async deleteAllOf(userId: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('user_id', '=', userId).execute();
  }

  async deleteExpired(nowMs: number): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('expires_at_ms', '<=', nowMs).execute();
  }
}
