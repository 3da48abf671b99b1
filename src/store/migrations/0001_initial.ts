import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('key_id', 'varchar(32)', (column) => column.primaryKey())
    .addColumn('user_id', 'varchar(255)', (column) => column.notNull())
    .addColumn('name', 'varchar(400)', (column) => column.notNull())
    .addColumn('key_hash', 'varchar(100)', (column) => column.notNull())
    .addColumn('created_at', 'varchar(30)', (column) => column.notNull())
    .addColumn('expires_at', 'varchar(30)', (column) => column.notNull())
    .addColumn('last_used_at', 'varchar(30)')
    .execute();
  await db.schema.createIndex('api_keys_by_user').on('api_keys').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('key_owners')
    .addColumn('user_id', 'varchar(255)', (column) => column.primaryKey())
    .execute();

  await db.schema
    .createTable('settings')
    .addColumn('name', 'varchar(100)', (column) => column.primaryKey())
    .addColumn('value', 'text', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('settings').execute();
  await db.schema.dropTable('key_owners').execute();
  await db.schema.dropTable('api_keys').execute();
}
