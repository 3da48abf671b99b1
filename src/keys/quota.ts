import type { RefillInterval } from './key-settings.js';

// A quota's refill periods are aligned to the UTC calendar: an hourly quota refills at the top
// of every hour, a daily one at midnight UTC, a monthly one on the first of the month. Aligned
// periods need no anchor to remember and read the same to every process: the row keeps the start
// of the period its `remaining` counts down, and the first verification in a later period
// refills it (lazily, atomically: see ApiKeyRepository.consumeQuota), so no timer runs anywhere.

/** The start of the period of `interval` that holds `at`, as ISO-8601 UTC. */
export function periodStart(interval: RefillInterval, at: Date): string {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), interval === 'month' ? 1 : at.getUTCDate()));
  if (interval === 'hour') start.setUTCHours(at.getUTCHours());
  return start.toISOString();
}

/** When the period that starts at `start` ends, which is when the quota refills next. */
export function nextPeriodStart(interval: RefillInterval, start: string): string {
  const next = new Date(start);
  if (interval === 'hour') next.setUTCHours(next.getUTCHours() + 1);
  else if (interval === 'day') next.setUTCDate(next.getUTCDate() + 1);
  else next.setUTCMonth(next.getUTCMonth() + 1);
  return next.toISOString();
}

/** What a key's quota is, and what is due of it at `now`. */
export interface QuotaState {
  remaining: number;
  refill: { amount: number; interval: RefillInterval } | null;
  /** The start of the period `remaining` belongs to (null without refill). */
  period: string | null;
}

/** The refill due at `now`: the period to move to, or undefined when `remaining` still counts. */
export function dueRefill(quota: QuotaState, now: Date): string | undefined {
  if (quota.refill === null) return undefined;
  const current = periodStart(quota.refill.interval, now);
  return quota.period === null || quota.period < current ? current : undefined;
}

/** remaining as of `now` (a refill that is due counts as done), and when the next refill comes. */
export function quotaAsOf(quota: QuotaState, now: Date): { remaining: number; nextRefillAt: string | null } {
  if (quota.refill === null) return { remaining: quota.remaining, nextRefillAt: null };
  const due = dueRefill(quota, now);
  const period = due ?? (quota.period as string);
  return {
    remaining: due === undefined ? quota.remaining : quota.refill.amount,
    nextRefillAt: nextPeriodStart(quota.refill.interval, period),
  };
}
