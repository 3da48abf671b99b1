import type { Selectable, Transaction, Updateable } from 'kysely';
import type { AuditEvent } from '../audit/audit-event.js';
import { appendAuditEvent } from './audit-repository.js';
import type { KeygateDb } from './database.js';
import type { ApiKeyTable, Database } from './schema.js';
import { addUsage, type HourUsage } from './usage-repository.js';

export type ApiKeyRow = Selectable<ApiKeyTable>;
/** A key without its hashes: what management reads. */
export type ApiKeyMetadata = Omit<ApiKeyRow, 'key_hash' | 'previous_key_hash'>;
/** What verifying a key reads: everything but the times only management shows. */
export type VerificationRow = Omit<ApiKeyRow, 'created_at' | 'last_used_at'>;
/** The columns a PATCH may change (the version moves by itself). */
export type SettingsChange = Pick<
  Updateable<ApiKeyTable>,
  'name' | 'expires_at' | 'scopes' | 'metadata' | 'status' | 'rate_limit' | 'quota_remaining' | 'quota_refill_amount' | 'quota_refill_interval' | 'quota_period'
>;

/** What management and verification both read of a key. */
const sharedColumns = [
  'key_id',
  'user_id',
  'name',
  'expires_at',
  'scopes',
  'metadata',
  'status',
  'environment',
  'rate_limit',
  'quota_remaining',
  'quota_refill_amount',
  'quota_refill_interval',
  'quota_period',
  'previous_key_expires_at',
  'version',
] as const;

const metadataColumns = [...sharedColumns, 'created_at', 'last_used_at'] as const satisfies readonly (keyof ApiKeyMetadata)[];

const verificationColumns = [...sharedColumns, 'key_hash', 'previous_key_hash'] as const satisfies readonly (keyof VerificationRow)[];

/** Which keys of every user an operator lists. */
export interface KeyFilter {
  userId?: string;
  status?: string;
  environment?: string;
}

/** Where a page of keys starts: after this key, in the listing's order (newest first). */
export interface KeyPosition {
  createdAt: string;
  keyId: string;
}

/** A refill that is due: move the quota to `period` with `amount`, unless it is no longer in `from`. */
export interface QuotaRefill {
  period: string;
  from: string | null;
  amount: number;
}

/** What a successful quota use leaves: verifications left, and the period they belong to. */
export interface QuotaUse {
  remaining: number;
  period: string | null;
}

export class ApiKeyRepository {
  constructor(private readonly db: KeygateDb) {}

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

  /**
   * Every user's keys that pass `filter`, newest first (key_id breaking ties, so that the order
   * is total and a page never repeats or skips a key), `limit` of them after `after`.
   */
  async listAll(filter: KeyFilter, limit: number, after?: KeyPosition): Promise<ApiKeyMetadata[]> {
    let select = this.db.selectFrom('api_keys').select(metadataColumns);
    if (filter.userId !== undefined) select = select.where('user_id', '=', filter.userId);
    if (filter.status !== undefined) select = select.where('status', '=', filter.status);
    if (filter.environment !== undefined) select = select.where('environment', '=', filter.environment);
    if (after !== undefined) {
      select = select.where((eb) =>
        eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('key_id', '<', after.keyId)])]),
      );
    }
    return select.orderBy('created_at', 'desc').orderBy('key_id', 'desc').limit(limit).execute();
  }

  /** What rotating a key needs: its owner, hash, environment and version. */
  async findForRotation(keyId: string): Promise<Pick<ApiKeyRow, 'user_id' | 'key_hash' | 'environment' | 'version'> | undefined> {
    return this.db.selectFrom('api_keys').select(['user_id', 'key_hash', 'environment', 'version']).where('key_id', '=', keyId).executeTakeFirst();
  }

  /** The key without its hashes, whoever owns it; undefined when there is no such key. */
  async findById(keyId: string): Promise<ApiKeyMetadata | undefined> {
    return this.db.selectFrom('api_keys').select(metadataColumns).where('key_id', '=', keyId).executeTakeFirst();
  }

  /** What verifying a presented key needs, found by primary key. */
  async findForVerification(keyId: string): Promise<VerificationRow | undefined> {
    return this.db.selectFrom('api_keys').select(verificationColumns).where('key_id', '=', keyId).executeTakeFirst();
  }

  /**
   * Uses one verification of the key's quota, atomically across connections and processes: a
   * single conditional UPDATE, so that of concurrent uses of the last one exactly one succeeds.
   * undefined when nothing is left. Not through KeyChanges: a use changes no setting and no other
   * verification's answer but by this very count, which the UPDATE itself decides (see
   * key-changes.ts). A due refill comes first, through KeyChanges (KeyWrites.refillQuota).
   */
  async consumeQuota(keyId: string): Promise<QuotaUse | undefined> {
    const used = await this.db
      .updateTable('api_keys')
      .set((eb) => ({ quota_remaining: eb('quota_remaining', '-', 1) }))
      .where('key_id', '=', keyId)
      .where('quota_remaining', '>', 0)
      .returning(QUOTA_USE_COLUMNS)
      .executeTakeFirst();
    return used === undefined ? undefined : quotaUse(used);
  }

  /**
   * Writes what verifications noted since the last flush, in one transaction: last-use times (a
   * time never moves backwards) and usage counts (added to the stored ones, see addUsage). Keys
   * in key_id order, as addUsage's rows: concurrent flushes in PostgreSQL take row locks in the
   * same order, so they wait for each other rather than deadlock.
   */
  async recordUse(lastUse: ReadonlyMap<string, string>, usage: readonly HourUsage[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (const keyId of [...lastUse.keys()].sort()) {
        const usedAt = lastUse.get(keyId)!;
        await trx
          .updateTable('api_keys')
          .set({ last_used_at: usedAt })
          .where('key_id', '=', keyId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', usedAt)]))
          .execute();
      }
      await addUsage(trx, usage);
    });
  }
}

/**
 * The writes that change a key, all within one transaction (ApiKeyRepository.inTransaction).
 * The last-use and usage batch is not among them: see KeyChanges.
 */
export class KeyWrites {
  constructor(private readonly trx: Transaction<Database>) {}

  /** The transaction itself, for the change feed's last statements (src/store/postgres-change-feed.ts). */
  get transaction(): Transaction<Database> {
    return this.trx;
  }

  /** The change's audit event, committed with it (KeyChanges records it). */
  recordAuditEvent(event: AuditEvent): Promise<void> {
    return appendAuditEvent(this.trx, event);
  }

  /**
   * Moves the key's quota into the period `refill` names with its amount, of which this use takes
   * one, unless another process already moved it (undefined: then this use counts down what that
   * one refilled, with ApiKeyRepository.consumeQuota).
   */
  async refillQuota(keyId: string, refill: QuotaRefill): Promise<QuotaUse | undefined> {
    const refilled = await this.trx
      .updateTable('api_keys')
      .set({ quota_remaining: refill.amount - 1, quota_period: refill.period })
      .where('key_id', '=', keyId)
      .where((eb) => (refill.from === null ? eb('quota_period', 'is', null) : eb('quota_period', '=', refill.from)))
      .returning(QUOTA_USE_COLUMNS)
      .executeTakeFirst();
    return refilled === undefined ? undefined : quotaUse(refilled);
  }

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
   * Gives the user's key the hash `to` in place of `from`, only if the key is still at `version`:
   * of two concurrent rotations (or a rotation and a PATCH) exactly one takes effect. A rehash
   * meanwhile moves no version, and `from` still matches the old secret. The old secret keeps
   * working until `previousExpiresAt` (a grace period), or not at all (null); either way a
   * previous secret of an earlier rotation stops at once. The key's metadata when it took
   * effect, else undefined.
   */
  async rotate(
    userId: string,
    keyId: string,
    version: number,
    from: string,
    to: string,
    previousExpiresAt: string | null,
  ): Promise<ApiKeyMetadata | undefined> {
    return this.trx
      .updateTable('api_keys')
      .set((eb) => ({
        key_hash: to,
        previous_key_hash: previousExpiresAt === null ? null : from,
        previous_key_expires_at: previousExpiresAt,
        version: eb('version', '+', 1),
      }))
      .where('key_id', '=', keyId)
      .where('user_id', '=', userId)
      .where('version', '=', version)
      .returning(metadataColumns)
      .executeTakeFirst();
  }

  /**
   * Replaces the key's hash `from` with `to` of the same secret (another scheme or cost), only if
   * it still is `from`. Changes nothing a verification answers, so the version stays.
   */
  async rehash(keyId: string, from: string, to: string): Promise<boolean> {
    const updated = await this.trx
      .updateTable('api_keys')
      .set({ key_hash: to })
      .where('key_id', '=', keyId)
      .where('key_hash', '=', from)
      .returning('key_id')
      .executeTakeFirst();
    return updated !== undefined;
  }

  /**
   * Applies `change` to the user's key if it is still at `version` (nobody changed it since it
   * was read), moving the version on: of two concurrent updates exactly one takes effect. The
   * key's metadata when it did, else undefined.
   */
  async updateSettings(userId: string, keyId: string, version: number, change: SettingsChange): Promise<ApiKeyMetadata | undefined> {
    return this.trx
      .updateTable('api_keys')
      .set((eb) => ({ ...change, version: eb('version', '+', 1) }))
      .where('key_id', '=', keyId)
      .where('user_id', '=', userId)
      .where('version', '=', version)
      .returning(metadataColumns)
      .executeTakeFirst();
  }

  /** Deletes the user's key; a key that is absent or someone else's is left alone. The key as it was when deleted, if it was. */
  async delete(userId: string, keyId: string): Promise<ApiKeyMetadata | undefined> {
    return this.trx.deleteFrom('api_keys').where('key_id', '=', keyId).where('user_id', '=', userId).returning(metadataColumns).executeTakeFirst();
  }
}

const QUOTA_USE_COLUMNS = ['quota_remaining', 'quota_period'] as const;

function quotaUse(row: { quota_remaining: number | null; quota_period: string | null }): QuotaUse {
  return { remaining: Number(row.quota_remaining), period: row.quota_period };
}

async function countKeysOf(db: KeygateDb, userId: string): Promise<number> {
  const { held } = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number | string>().as('held'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(held);
}
