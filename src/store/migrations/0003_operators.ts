import type { Kysely } from 'kysely';

// What operators read: the audit trail (one row per change to a key, and per refused attempt)
// and each key's usage per hour. Neither refers to api_keys by a foreign key: both outlive the
// key they describe (a revoked key's history is what a security review asks for), and both are
// purged by age instead (KEYGATE_AUDIT_RETENTION_DAYS).

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('event_id', 'varchar(40)', (column) => column.primaryKey())
    .addColumn('occurred_at', 'varchar(30)', (column) => column.notNull())
    .addColumn('actor_type', 'varchar(20)', (column) => column.notNull())
    .addColumn('actor_id', 'varchar(255)', (column) => column.notNull())
    .addColumn('action', 'varchar(40)', (column) => column.notNull())
    .addColumn('outcome', 'varchar(10)', (column) => column.notNull())
    .addColumn('key_id', 'varchar(64)')
    .addColumn('owner_id', 'varchar(255)')
    .addColumn('changes', 'text', (column) => column.notNull())
    .addColumn('detail', 'text', (column) => column.notNull())
    .addColumn('client_address', 'varchar(64)')
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('request_id', 'varchar(128)')
    .execute();
  // Newest first, overall and per key and per owner: the three ways the trail is read.
  await db.schema.createIndex('audit_events_by_time').on('audit_events').columns(['occurred_at', 'event_id']).execute();
  await db.schema.createIndex('audit_events_by_key').on('audit_events').columns(['key_id', 'occurred_at']).execute();
  await db.schema.createIndex('audit_events_by_owner').on('audit_events').columns(['owner_id', 'occurred_at']).execute();

  // Every user's keys, newest first, a page at a time (the admin listing's order).
  await db.schema.createIndex('api_keys_by_creation').on('api_keys').columns(['created_at', 'key_id']).execute();

  await db.schema
    .createTable('key_usage')
    .addColumn('key_id', 'varchar(64)', (column) => column.notNull())
    .addColumn('hour', 'varchar(30)', (column) => column.notNull())
    .addColumn('valid', 'integer', (column) => column.notNull())
    .addColumn('refused', 'integer', (column) => column.notNull())
    .addPrimaryKeyConstraint('key_usage_pk', ['key_id', 'hour'])
    .execute();
  await db.schema.createIndex('key_usage_by_hour').on('key_usage').column('hour').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('key_usage').execute();
  await db.schema.dropIndex('api_keys_by_creation').execute();
  await db.schema.dropTable('audit_events').execute();
}
