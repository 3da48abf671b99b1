import type { Actor } from '../audit/actor.js';
import { InvalidInput } from '../errors.js';
import { validChoice, validTimestamp } from '../valid-input.js';
import type { HourUsage, UsageRepository } from '../store/usage-repository.js';
import type { ApiKeyService } from './api-key-service.js';

// Each key's verifications per UTC hour or day, as UseRecorder wrote them behind: a count shows
// once the flush interval (KEYGATE_LAST_USED_FLUSH_MS) has passed. Read under the rule that
// reads the key itself (ApiKeyService.checkReadable), and forgotten with the audit trail, after
// KEYGATE_AUDIT_RETENTION_DAYS.

export const GRANULARITIES = ['hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** Buckets per answer at most: 83 days by the hour, 5 years by the day. */
export const MAX_BUCKETS = 2000;

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const BUCKET_MS: Record<Granularity, number> = { hour: HOUR_MS, day: DAY_MS };
/** How far back an answer reaches when `from` is not given. */
const DEFAULT_SPAN_MS: Record<Granularity, number> = { hour: DAY_MS, day: 30 * DAY_MS };

/** What a reader asks, as a query string gives it. */
export interface UsageRequest {
  from?: unknown;
  to?: unknown;
  granularity?: unknown;
}

export interface UsageCounts {
  valid: number;
  refused: number;
}

export interface UsageBucket extends UsageCounts {
  /** The bucket's start, ISO-8601 UTC. */
  start: string;
}

export interface KeyUsage {
  keyId: string;
  granularity: Granularity;
  /** The span the series covers: `from` inclusive, `to` exclusive, both bucket boundaries. */
  from: string;
  to: string;
  /** Every bucket of the span, oldest first, those without verifications as zeros. */
  series: UsageBucket[];
  total: UsageCounts;
}

/** A span in ms, on bucket boundaries. */
interface Span {
  granularity: Granularity;
  from: number;
  to: number;
}

export class UsageHistory {
  constructor(
    private readonly keys: Pick<ApiKeyService, 'checkReadable'>,
    private readonly repository: UsageRepository,
    /** How long hours are kept, in days, as the audit trail's events; 0: for ever. */
    private readonly retentionDays: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * The key's usage over the span `request` asks: `from` (inclusive) is moved back to the start
   * of its bucket, `to` (exclusive) on to the end of its bucket, so that every bucket is whole.
   * By default `to` is now and `from` a day before (by the hour) or 30 days (by the day).
   * NotFound, as for the key itself, when the actor may not read it.
   */
  async of(actor: Actor, keyId: string, request: UsageRequest): Promise<KeyUsage> {
    // The question is checked first: a malformed one costs no lookup and no audit event.
    const span = spanOf(request, this.now().getTime());
    await this.keys.checkReadable(actor, keyId);
    const hours = await this.repository.find(keyId, iso(span.from), iso(span.to));
    return usageOver(keyId, span, hours);
  }

  /** Deletes the hours older than the retention allows; how many rows. */
  async purge(): Promise<number> {
    if (this.retentionDays === 0) return 0;
    return this.repository.purgeBefore(iso(this.now().getTime() - this.retentionDays * DAY_MS));
  }
}

function spanOf(request: UsageRequest, now: number): Span {
  const granularity = request.granularity === undefined ? 'hour' : validChoice(request.granularity, 'granularity', GRANULARITIES);
  const bucketMs = BUCKET_MS[granularity];
  const to = request.to === undefined ? now : Date.parse(validTimestamp(request.to, 'to'));
  const from = request.from === undefined ? to - DEFAULT_SPAN_MS[granularity] : Date.parse(validTimestamp(request.from, 'from'));
  if (from >= to) throw new InvalidInput('from', `from should be before to (${iso(to)})`, 'less_than');
  // Times are whole milliseconds: the bucket that holds to - 1 ms ends at or after to.
  const span = { granularity, from: bucketStart(from, bucketMs), to: bucketStart(to - 1, bucketMs) + bucketMs };
  const buckets = (span.to - span.from) / bucketMs;
  if (buckets > MAX_BUCKETS) {
    const narrower = granularity === 'hour' ? 'narrow from and to, or ask for granularity=day' : 'narrow from and to';
    throw new InvalidInput(
      'from',
      `From ${iso(span.from)} to ${iso(span.to)} is ${buckets} ${granularity}s: at most ${MAX_BUCKETS} buckets per answer (${narrower})`,
      'value_error',
    );
  }
  return span;
}

/** The hours summed into the span's buckets, every bucket present. */
function usageOver(keyId: string, span: Span, hours: readonly HourUsage[]): KeyUsage {
  const bucketMs = BUCKET_MS[span.granularity];
  const series: UsageBucket[] = [];
  for (let start = span.from; start < span.to; start += bucketMs) series.push({ start: iso(start), valid: 0, refused: 0 });
  const total: UsageCounts = { valid: 0, refused: 0 };
  for (const hour of hours) {
    const bucket = series[Math.floor((Date.parse(hour.hour) - span.from) / bucketMs)]!;
    bucket.valid += hour.valid;
    bucket.refused += hour.refused;
    total.valid += hour.valid;
    total.refused += hour.refused;
  }
  return { keyId, granularity: span.granularity, from: iso(span.from), to: iso(span.to), series, total };
}

/** The start of the UTC hour or day (`bucketMs`) that holds `ms`, before 1970 too. */
function bucketStart(ms: number, bucketMs: number): number {
  return Math.floor(ms / bucketMs) * bucketMs;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
