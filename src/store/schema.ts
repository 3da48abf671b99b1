// Table shapes as Kysely sees them. Timestamps are ISO-8601 UTC strings in both dialects:
// fixed-width, so they sort as text, and they need no per-dialect date handling.

export interface ApiKeyTable {
  key_id: string;
  user_id: string;
  name: string;
  /** bcrypt hash of a digest of the whole key; the key itself is never stored. */
  key_hash: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
}

/** One row per user who ever held a key: locking it serializes that user's creates. */
export interface KeyOwnerTable {
  user_id: string;
}

/** Generated server secrets, shared by every process that opens the database. */
export interface SettingTable {
  name: string;
  value: string;
}

export interface Database {
  api_keys: ApiKeyTable;
  key_owners: KeyOwnerTable;
  settings: SettingTable;
}
