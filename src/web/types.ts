// The API's answers, as the dashboard reads them (src/http/schemas.ts has the full models).

export interface Session {
  user_id: string;
  username: string;
  admin: boolean;
  scopes: string[];
  csrf_token: string;
  expires_at: string;
}

export interface AuthConfig {
  local_accounts: boolean;
  signup: boolean;
  oidc: boolean;
}

/** GET /auth/oidc/failures/<code>: the sentence keygate's own failure page says for that code. */
export interface SignInFailureText {
  code: string;
  status: number;
  message: string;
}

export interface KeySummary {
  key_id: string;
  name: string;
  created: string;
  expires_at: string;
  last_used: string | null;
}

export interface QuotaState {
  remaining: number;
  refill: { amount: number; interval: string } | null;
  next_refill_at: string | null;
}

export interface KeyDetails extends KeySummary {
  user_id: string;
  environment: 'live' | 'test';
  status: 'active' | 'disabled';
  scopes: string[];
  metadata: Record<string, unknown>;
  rate_limit: number | null;
  quota: QuotaState | null;
  previous_key_expires_at: string | null;
}

export interface CreatedKey extends KeySummary {
  api_key: string;
}

export interface RotatedKey {
  key_id: string;
  new_api_key: string;
}

export interface KeyPage {
  keys: KeyDetails[];
  next_cursor: string | null;
}

export interface UsageBucket {
  start: string;
  valid: number;
  refused: number;
}

export interface KeyUsage {
  key_id: string;
  granularity: 'hour' | 'day';
  from: string;
  to: string;
  series: UsageBucket[];
  total: { valid: number; refused: number };
}

export interface AuditEvent {
  event_id: string;
  occurred_at: string;
  actor: { type: string; id: string };
  action: string;
  outcome: 'succeeded' | 'refused';
  key_id: string | null;
  owner_id: string | null;
  changes: Record<string, { old: unknown; new: unknown }>;
  detail: Record<string, unknown>;
}

export interface AuditPage {
  events: AuditEvent[];
  next_cursor: string | null;
}
