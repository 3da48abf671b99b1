import { sql, type Kysely } from 'kysely';

// Local accounts and what signing in leaves behind: browser sessions and refresh tokens. No
// secret is stored as such: a password as its argon2id PHC string, a session cookie and a
// refresh token as the SHA-256 of their random value (both are 32 random bytes: a fast hash
// loses nothing, and a lookup by primary key stays one read). Times as ms since the epoch
// (bigint): sessions and refresh tokens are compared to now on every use.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    // user_id is the username as first given, so that keys a `keygate token --user alice` token
    // made belong to the account alice.
    .addColumn('user_id', 'varchar(255)', (column) => column.primaryKey())
    .addColumn('username', 'varchar(255)', (column) => column.notNull())
    .addColumn('password_hash', 'text', (column) => column.notNull())
    .addColumn('admin', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'varchar(30)', (column) => column.notNull())
    // Access tokens issued before it are not refreshed (POST /auth/refresh with current_token):
    // a changed password, or an account removed and made again, ends what came before.
    .addColumn('credentials_changed_at_ms', 'bigint', (column) => column.notNull())
    .execute();
  // Unique case-insensitively: "Alice" cannot be made beside "alice". Usernames are ASCII (see
  // src/accounts/usernames.ts), where lower() is the same in both dialects and in JavaScript.
  await db.schema.createIndex('users_by_username').on('users').unique().expression(sql`lower(username)`).execute();

  await db.schema
    .createTable('web_sessions')
    .addColumn('session_hash', 'varchar(64)', (column) => column.primaryKey())
    .addColumn('user_id', 'varchar(255)', (column) => column.notNull())
    .addColumn('username', 'varchar(255)', (column) => column.notNull())
    .addColumn('scopes', 'text', (column) => column.notNull())
    .addColumn('created_at_ms', 'bigint', (column) => column.notNull())
    .addColumn('expires_at_ms', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('web_sessions_by_user').on('web_sessions').column('user_id').execute();
  await db.schema.createIndex('web_sessions_by_expiry').on('web_sessions').column('expires_at_ms').execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('token_hash', 'varchar(64)', (column) => column.primaryKey())
    // Every token rotated from one first token shares its family: reuse of a spent one ends them all.
    .addColumn('family_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('user_id', 'varchar(255)', (column) => column.notNull())
    .addColumn('created_at_ms', 'bigint', (column) => column.notNull())
    .addColumn('expires_at_ms', 'bigint', (column) => column.notNull())
    // Set when the token is exchanged; kept until it expires, so that a reuse is recognised.
    .addColumn('used_at_ms', 'bigint')
    .execute();
  await db.schema.createIndex('refresh_tokens_by_family').on('refresh_tokens').column('family_id').execute();
  await db.schema.createIndex('refresh_tokens_by_user').on('refresh_tokens').column('user_id').execute();
  await db.schema.createIndex('refresh_tokens_by_expiry').on('refresh_tokens').column('expires_at_ms').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('refresh_tokens').execute();
  await db.schema.dropTable('web_sessions').execute();
  await db.schema.dropTable('users').execute();
}
