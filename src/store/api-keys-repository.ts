import type { Selectable, Transaction } from 'kysely';
import type { KeygateDb } from './database.js';
import type { ApiKeyTable, Database } from './schema.js';

export type ApiKeyRow = Selectable<ApiKeyTable>;
export type ApiKeyMetadata = Omit<ApiKeyRow, 'key_hash'>;
export type VerificationRow = Pick<ApiKeyRow, 'key_id' | 'user_id' | 'name' | 'key_hash' | 'expires_at'>;

const metadataColumns = ['key_id', 'user_id', 'name', 'created_at', 'expires_at', 'last_used_at'] as const;

/**
 * Tells whether any key may have changed since a moment: this process's changes count at once
 * (noted by KeyChanges, src/keys/key-changes.ts), other processes' commits through the store's
 * own counter (SQLite's data_version does not move for this connection's own commits). Both
 * counters only grow, so their sum moves whenever either does.
 */
export class KeyChangeStamp {
  private localWrites = 0;

  constructor(private readonly externalChanges: (() => number) | undefined) {}

  noteLocalWrite(): void {
    this.localWrites += 1;
  }

  /** undefined where other processes' commits cannot be seen cheaply: then nothing is ever proven fresh. */
  current(): number | undefined {
    return this.externalChanges === undefined ? undefined : this.externalChanges() + this.localWrites;
  }
}

export class ApiKeyRepository {
  constructor(
    private readonly db: KeygateDb,
    readonly changes: KeyChangeStamp,
  ) {}

  /**
   * Runs `work` in one transaction, with the writes that change a key. For KeyChanges alone:
   * it notes each change for freshness once committed, which a write made elsewhere would not.
   */
  inTransaction<T>(work: (writes: KeyWrites) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(new KeyWrites(trx)));
  }

  /** The user's keys, newest first, without their hashes. */
  async listByUser(userId: string): Promise<ApiKeyMetadata[]> {
    return this.db
      .selectFrom('api_keys')
      .select(metadataColumns)
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('key_id', 'desc')
      .execute();
  }

  /** How many keys the user holds now. */
  countByUser(userId: string): Promise<number> {
    return countKeysOf(this.db, userId);
  }

  /** The hash of the user's key, or undefined when the user holds no such key. */
  async findHash(userId: string, keyId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('api_keys')
      .select('key_hash')
      .where('key_id', '=', keyId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.key_hash;
  }

  /** What verifying a presented key needs, found by primary key. */
  async findForVerification(keyId: string): Promise<VerificationRow | undefined> {
    return this.db
      .selectFrom('api_keys')
      .select(['key_id', 'user_id', 'name', 'key_hash', 'expires_at'])
      .where('key_id', '=', keyId)
      .executeTakeFirst();
  }

  /** Writes a batch of last-use times in one transaction; a time never moves backwards. */
  async recordLastUse(lastUse: ReadonlyMap<string, string>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const [keyId, usedAt] of lastUse) {
        await trx
          .updateTable('api_keys')
          .set({ last_used_at: usedAt })
          .where('key_id', '=', keyId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', usedAt)]))
          .execute();
      }
    });
  }
}

/**
 * The writes that change a key, all within one transaction (ApiKeyRepository.inTransaction).
 * The last-use batch is not among them: see KeyChanges.
 */
export class KeyWrites {
  constructor(private readonly trx: Transaction<Database>) {}

  /**
   * Inserts the key unless its owner already holds `limit` keys. Atomic across connections
   * and processes as the first statement of its transaction: the upsert on the owner's row
   * takes a write lock on it (a row lock in PostgreSQL, the database write lock in SQLite)
   * before the count, so concurrent creates for one user take turns and each counts the
   * others' committed keys.
   */
  async insertWithinLimit(row: ApiKeyRow, limit: number): Promise<boolean> {
    await this.trx
      .insertInto('key_owners')
      .values({ user_id: row.user_id })
      .onConflict((conflict) => conflict.column('user_id').doUpdateSet({ user_id: row.user_id }))
      .execute();
    if ((await countKeysOf(this.trx, row.user_id)) >= limit) return false;
    await this.trx.insertInto('api_keys').values(row).execute();
    return true;
  }

  /**
   * Replaces the key's hash `from` with `to`, only if it still is `from` (and, when given, the
   * key is `userId`'s): of two concurrent replacements exactly one takes effect. The key's
   * metadata when it did, else undefined.
   */
  async replaceHash(keyId: string, from: string, to: string, userId?: string): Promise<ApiKeyMetadata | undefined> {
    let update = this.trx.updateTable('api_keys').set({ key_hash: to }).where('key_id', '=', keyId).where('key_hash', '=', from);
    if (userId !== undefined) update = update.where('user_id', '=', userId);
    return update.returning(metadataColumns).executeTakeFirst();
  }

  /** Deletes the user's key; a key that is absent or someone else's is left alone. */
  async delete(userId: string, keyId: string): Promise<void> {
    await this.trx.deleteFrom('api_keys').where('key_id', '=', keyId).where('user_id', '=', userId).execute();
  }
}

async function countKeysOf(db: KeygateDb, userId: string): Promise<number> {
  const { held } = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number | string>().as('held'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(held);
}
