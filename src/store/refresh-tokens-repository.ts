import type { KeygateDb } from './database.js';

// The refresh_tokens table: rows by the SHA-256 of the token, grouped in families.

export interface RefreshTokenRow {
  tokenHash: string;
  familyId: string;
  userId: string;
  createdAtMs: number;
  expiresAtMs: number;
  usedAtMs: number | null;
}

export type NewRefreshToken = Omit<RefreshTokenRow, 'usedAtMs'>;

export class RefreshTokensRepository {
  constructor(private readonly db: KeygateDb) {}

  async insert(row: NewRefreshToken, db: KeygateDb = this.db): Promise<void> {
    await db
      .insertInto('refresh_tokens')
      .values({
        token_hash: row.tokenHash,
        family_id: row.familyId,
        user_id: row.userId,
        created_at_ms: row.createdAtMs,
        expires_at_ms: row.expiresAtMs,
        used_at_ms: null,
      })
      .execute();
  }

  async find(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    const row = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (row === undefined) return undefined;
    return {
      tokenHash: row.token_hash,
      familyId: row.family_id,
      userId: row.user_id,
      createdAtMs: Number(row.created_at_ms),
      expiresAtMs: Number(row.expires_at_ms),
      usedAtMs: row.used_at_ms === null ? null : Number(row.used_at_ms),
    };
  }

  /**
   * Marks the token used, if it is unused and unexpired at `nowMs`, and stores `next` in its
   * place, in one transaction: of two exchanges of one token at once exactly one succeeds (the
   * update decides), and a failure halfway leaves the token unspent, so a retry is no reuse.
   */
  rotate(tokenHash: string, nowMs: number, next: NewRefreshToken): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('refresh_tokens')
        .set({ used_at_ms: nowMs })
        .where('token_hash', '=', tokenHash)
        .where('used_at_ms', 'is', null)
        .where('expires_at_ms', '>', nowMs)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await this.insert(next, trx);
      return true;
    });
  }

  async deleteFamily(familyId: string): Promise<void> {
    await this.db.deleteFrom('refresh_tokens').where('family_id', '=', familyId).execute();
  }

  async deleteExpired(nowMs: number): Promise<void> {
    await this.db.deleteFrom('refresh_tokens').where('expires_at_ms', '<=', nowMs).execute();
  }
}
