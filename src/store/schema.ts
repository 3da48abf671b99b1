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
  /** JSON array of scope strings. */
  scopes: string;
  /** JSON object, as the owner gave it. */
  metadata: string;
  status: string;
  environment: string;
  /** Verifications per minute for this key; null: the server's KEYGATE_RATE_LIMIT_VERIFY_PER_KEY. */
  rate_limit: number | null;
  /** Verifications left in the current refill period; null: no quota. */
  quota_remaining: number | null;
  quota_refill_amount: number | null;
  quota_refill_interval: string | null;
  /** The start of the refill period quota_remaining belongs to. */
  quota_period: string | null;
  /** During a grace rotation: the old secret's hash, valid until previous_key_expires_at. */
  previous_key_hash: string | null;
  previous_key_expires_at: string | null;
  /** Moves with every change of the row's settings: what PATCH compares and sets. */
  version: number;
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
