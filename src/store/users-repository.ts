import { sql } from 'kysely';
import type { KeygateDb } from './database.js';
import type { UserTable } from './schema.js';

// The users table (local accounts). Usernames are found case-insensitively: `key` is the
// lowercase form, and lower(username) is what the unique index holds.

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

  /** Whether there was such a user. */
  async delete(userId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async setPassword(userId: string, passwordHash: string, changedAtMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, credentials_changed_at_ms: changedAtMs })
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
