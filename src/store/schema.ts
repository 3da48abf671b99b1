import type { Generated } from 'kysely';
import type { ActorType } from '../audit/actor.js';
import type { AuditAction, AuditOutcome } from '../audit/audit-event.js';

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

/** One change to a key, or one refused attempt at one: never a key, a secret, a hash or a token. */
export interface AuditEventTable {
  event_id: string;
  occurred_at: string;
  actor_type: ActorType;
  /** The user id, the operator's OS user (cli), the reporter (leak_report), the key_id (key_holder). */
  actor_id: string;
  action: AuditAction;
  /** succeeded, or refused (someone else's key, a key that does not exist, a route for admins). */
  outcome: AuditOutcome;
  key_id: string | null;
  /** The user the key belongs (or belonged) to; null when no such key exists. */
  owner_id: string | null;
  /** JSON object: each non-secret field changed, as {"old": ..., "new": ...}. */
  changes: string;
  /** JSON object: what else the action had (a grace, a leak report's URL, a refusal's reason). */
  detail: string;
  client_address: string | null;
  user_agent: string | null;
  request_id: string | null;
}

/** Verifications of one key in one UTC hour, added to by every process's flushes. */
export interface KeyUsageTable {
  key_id: string;
  /** The hour's start, ISO-8601 UTC. */
  hour: string;
  valid: number;
  refused: number;
}

/** bigint columns: node-postgres reads them as text, SQLite as numbers. */
type Milliseconds = string | number;

/** An instance that holds warm entries, and its lease (src/keys/change-feed.ts, both transports). */
export interface InstanceTable {
  instance_id: string;
  /**
   * On PostgreSQL by the database's clock, in ms since the epoch (bigint, which node-postgres
   * reads as text); on SQLite in ms of the machine's monotonic clock.
   */
  lease_expires_ms: Milliseconds;
  /** bigint too. */
  acked_position: string | number;
}

/** SQLite's change log (src/store/sqlite-change-feed.ts); PostgreSQL NOTIFYs instead. */
export interface KeyChangeTable {
  position: Generated<number>;
  key_id: string;
  /** The instance that made the change. */
  writer: string;
}


/** A local account (src/accounts/accounts.ts). */
export interface UserTable {
  user_id: string;
  username: string;
  /** argon2id, as a PHC string; the password itself is never stored. */
  password_hash: string;
  admin: number;
  created_at: string;
  credentials_changed_at_ms: Milliseconds;
}

/** A browser's session (src/auth/web-sessions.ts): the cookie's value is never stored, only its SHA-256. */
export interface WebSessionTable {
  session_hash: string;
  user_id: string;
  username: string;
  /** Space-separated, fixed at sign-in. */
  scopes: string;
  created_at_ms: Milliseconds;
  expires_at_ms: Milliseconds;
}

/** A refresh token of POST /auth/refresh (src/auth/refresh-tokens.ts), by the SHA-256 of its value. */
export interface RefreshTokenTable {
  token_hash: string;
  family_id: string;
  user_id: string;
  created_at_ms: Milliseconds;
  expires_at_ms: Milliseconds;
  used_at_ms: Milliseconds | null;
}

export interface Database {
  keygate_instances: InstanceTable;
  keygate_key_changes: KeyChangeTable;
  api_keys: ApiKeyTable;
  audit_events: AuditEventTable;
  key_usage: KeyUsageTable;
  key_owners: KeyOwnerTable;
  settings: SettingTable;
  users: UserTable;
  web_sessions: WebSessionTable;
  refresh_tokens: RefreshTokenTable;
}
