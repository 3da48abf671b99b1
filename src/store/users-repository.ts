import { sql, type Transaction } from 'kysely';
import type { KeygateDb } from './database.js';
import type { Database, UserTable } from './schema.js';

// The users table (local accounts). Usernames are found case-insensitively: `key` is the
// lowercase form, and lower(username) is what the unique index holds. Removing an account or
// changing its password ends its sign-ins (web sessions, refresh tokens) in the same
// transaction: there is no moment, and no failure halfway, that leaves a removed account
// signed in or a changed password's sessions alive.

export interface UserRow {
  userId: string;
  username: string;
  passwordHash: string;
  admin: boolean;
  createdAt: string;
  credentialsChangedAtMs: number;
}

function rowOf(row: UserTable): UserRow {
  return {
    userId: row.user_id,
    username: row.username,
    passwordHash: row.password_hash,
    admin: row.admin === 1,
    createdAt: row.created_at,
    credentialsChangedAtMs: Number(row.credentials_changed_at_ms),
  };
}

export class UsersRepository {
  constructor(private readonly db: KeygateDb) {}

  async findByKey(key: string): Promise<UserRow | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where(sql<string>`lower(username)`, '=', key).executeTakeFirst();
    return row === undefined ? undefined : rowOf(row);
  }

  /** false when the username (in any case) is taken: the unique index decides, so two at once cannot both win. */
  async insert(user: UserRow): Promise<boolean> {
    const result = await this.db
      .insertInto('users')
      .values({
        user_id: user.userId,
        username: user.username,
        password_hash: user.passwordHash,
        admin: user.admin ? 1 : 0,
        created_at: user.createdAt,
        credentials_changed_at_ms: user.credentialsChangedAtMs,
      })
      .onConflict((conflict) => conflict.doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  async list(): Promise<UserRow[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('username').execute()).map(rowOf);
  }

  async count(): Promise<number> {
    const { count } = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<string | number>().as('count')).executeTakeFirstOrThrow();
    return Number(count);
  }

  /** Deletes the user and its sign-ins; whether there was such a user. */
  delete(userId: string): Promise<boolean> {
    return this.endingSignIns(userId, async (trx) => {
      const result = await trx.deleteFrom('users').where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) === 1;
    });
  }

  /** Sets the password and ends the sign-ins made with the old one; whether there was such a user. */
  setPassword(userId: string, passwordHash: string, changedAtMs: number): Promise<boolean> {
    return this.endingSignIns(userId, async (trx) => {
      const result = await trx
        .updateTable('users')
        .set({ password_hash: passwordHash, credentials_changed_at_ms: changedAtMs })
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    });
  }

  /** `change` and the end of the user's sessions and refresh tokens, in one transaction. */
  private endingSignIns(userId: string, change: (trx: Transaction<Database>) => Promise<boolean>): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const changed = await change(trx);
      await trx.deleteFrom('web_sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('refresh_tokens').where('user_id', '=', userId).execute();
      return changed;
    });
  }
}
