import type { ApiKeyMetadata, ApiKeyRow, VerificationRow } from '../store/api-keys-repository.js';
import type { Environment } from './format.js';
import type { KeySettings, KeyStatus, QuotaSettings, RefillInterval } from './key-settings.js';
import type { QuotaState } from './quota.js';

// A key's settings as its row holds them (JSON text for scopes and metadata, one column per
// quota field) and back: the one translation, for management and verification alike.

type SettingsColumns = Pick<
  ApiKeyMetadata,
  'scopes' | 'metadata' | 'status' | 'rate_limit' | 'quota_remaining' | 'quota_refill_amount' | 'quota_refill_interval' | 'quota_period'
>;

export function quotaOfRow(row: SettingsColumns): QuotaState | null {
  if (row.quota_remaining === null) return null;
  const refill =
    row.quota_refill_amount === null || row.quota_refill_interval === null
      ? null
      : { amount: row.quota_refill_amount, interval: row.quota_refill_interval as RefillInterval };
  return { remaining: row.quota_remaining, refill, period: row.quota_period };
}

export function settingsOfRow(row: SettingsColumns): KeySettings {
  const quota = quotaOfRow(row);
  return {
    scopes: JSON.parse(row.scopes) as string[],
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    status: row.status as KeyStatus,
    rateLimit: row.rate_limit,
    quota: quota && { remaining: quota.remaining, refill: quota.refill },
  };
}

/** Whether the row's previous secret (of a rotation with a grace period) still works at `nowMs`. */
export function graceRunning(row: Pick<ApiKeyMetadata, 'previous_key_expires_at'>, nowMs: number): boolean {
  return row.previous_key_expires_at !== null && Date.parse(row.previous_key_expires_at) > nowMs;
}

/**
 * `value` and everything in it frozen: a key's metadata is one object handed to every caller
 * (the library, MCP tools), so none may change what the next verification returns.
 */
export function deepFrozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFrozen(member);
    Object.freeze(value);
  }
  return value;
}

export function environmentOfRow(row: Pick<VerificationRow, 'environment'>): Environment {
  return row.environment as Environment;
}

/** The columns of `settings`, but the quota's (see quotaColumns). */
export function settingsColumns(settings: KeySettings): Pick<ApiKeyRow, 'scopes' | 'metadata' | 'status' | 'rate_limit'> {
  return {
    scopes: JSON.stringify(settings.scopes),
    metadata: JSON.stringify(settings.metadata),
    status: settings.status,
    rate_limit: settings.rateLimit,
  };
}

/** The quota columns of a quota that starts counting in `period` (the current refill period, or null without refill). */
export function quotaColumns(
  quota: QuotaSettings | null,
  period: string | null,
): Pick<ApiKeyRow, 'quota_remaining' | 'quota_refill_amount' | 'quota_refill_interval' | 'quota_period'> {
  return {
    quota_remaining: quota?.remaining ?? null,
    quota_refill_amount: quota?.refill?.amount ?? null,
    quota_refill_interval: quota?.refill?.interval ?? null,
    quota_period: period,
  };
}
