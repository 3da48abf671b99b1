import { collectDefaultMetrics, Counter, type Metric, Registry } from 'prom-client';
import { VERIFICATION_RESULTS, type VerificationResult, type VerifierObserver } from './keys/verifier.js';

// What GET /metrics shows, in Prometheus text. Counts and timings only: no key, no user.

export interface Metrics {
  registry: Registry;
  verifier: VerifierObserver;
  rateLimits: RateLimitObserver;
}

/** The rate limits keygate enforces, as /metrics labels them. */
export type RateLimitName = 'manage_user' | 'verify_key' | 'verify_ip' | 'sign_in_account' | 'sign_in_ip';

export interface RateLimitObserver {
  /** A request was refused with 429 by this limit. */
  refused(limit: RateLimitName): void;
  /** The limit store (Redis) failed to answer: the request went through unlimited. */
  storeFailed(): void;
}

const RATE_LIMITS: RateLimitName[] = ['manage_user', 'verify_key', 'verify_ip', 'sign_in_account', 'sign_in_ip'];

const RESULTS = VERIFICATION_RESULTS;

const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

// The verifier reports every verification, so its four series are tallied in plain numbers and
// handed to prom-client only when /metrics is scraped. prom-client's own inc() and observe()
// hash the labels and allocate on every call: about 0.8 µs per verification in a loop, a tenth
// of a warm hit.

interface TalliedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * A series prom-client reads from tallies kept elsewhere: the metric protocol its Registry uses
 * (name, help, type, get(), reset()), with the values its own Counter or Histogram would give.
 * prom-client has no public way to set a counter's or a histogram's values, hence the cast.
 */
function talliedMetric(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  values: () => TalliedValue[],
  reset: () => void,
): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    // The name is read when scraped: for OpenMetrics the Registry renames counters in place.
    get: async () => ({ name: metric.name, help, type, aggregator: 'sum', values: values() }),
    reset,
  };
  return metric as unknown as Metric;
}

/** Verification times in fixed buckets; observe() is a short loop and three additions. */
class LatencyTally {
  /** Observations at most LATENCY_BUCKETS[i] (and above the bucket before), not cumulative. */
  private readonly counts = new Float64Array(LATENCY_BUCKETS.length);
  private sum = 0;
  private count = 0;

  observe(seconds: number): void {
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[bucket] as number)) bucket++;
    if (bucket < LATENCY_BUCKETS.length) this.counts[bucket] = (this.counts[bucket] as number) + 1;
    this.sum += seconds;
    this.count += 1;
  }

  /** As prom-client's Histogram gives them: cumulative buckets, +Inf, sum and count. */
  values(name: string): TalliedValue[] {
    let cumulative = 0;
    const buckets = LATENCY_BUCKETS.map((le, i) => {
      cumulative += this.counts[i] as number;
      return { labels: { le }, value: cumulative, metricName: `${name}_bucket` };
    });
    return [
      ...buckets,
      { labels: { le: '+Inf' }, value: this.count, metricName: `${name}_bucket` },
      { labels: {}, value: this.sum, metricName: `${name}_sum` },
      { labels: {}, value: this.count, metricName: `${name}_count` },
    ];
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** The verifier's observer, tallying in plain numbers, and its four series for `registry`. */
function verifierMetrics(registry: Registry): VerifierObserver {
  const zeroResults = () => Object.fromEntries(RESULTS.map((result) => [result, 0])) as Record<VerificationResult, number>;
  let results = zeroResults();
  const cache = { hit: 0, miss: 0 };
  let compares = 0;
  let rowReads = 0;
  const latency = new LatencyTally();

  registry.registerMetric(
    talliedMetric(
      'keygate_verifications_total',
      'API-key verifications by result',
      'counter',
      () => RESULTS.map((result) => ({ labels: { result }, value: results[result] })),
      () => {
        results = zeroResults();
      },
    ),
  );
  registry.registerMetric(
    talliedMetric(
      'keygate_verify_cache_total',
      'Verifications of well-formed keys by warm-cache outcome: a hit needs no hash compare (and no row read while its freshness is proven)',
      'counter',
      () => [
        { labels: { outcome: 'hit' }, value: cache.hit },
        { labels: { outcome: 'miss' }, value: cache.miss },
      ],
      () => {
        cache.hit = 0;
        cache.miss = 0;
      },
    ),
  );
  registry.registerMetric(
    talliedMetric(
      'keygate_key_row_reads_total',
      "Keys' rows read to verify them: none for a warm key while its freshness is proven (the change feed's lease)",
      'counter',
      () => [{ labels: {}, value: rowReads }],
      () => {
        rowReads = 0;
      },
    ),
  );
  registry.registerMetric(
    talliedMetric(
      'keygate_key_hash_compares_total',
      'Key hash compares (bcrypt, or HMAC where chosen) run to verify API keys',
      'counter',
      () => [{ labels: {}, value: compares }],
      () => {
        compares = 0;
      },
    ),
  );
  const durationName = 'keygate_verification_duration_seconds';
  registry.registerMetric(
    talliedMetric(durationName, 'Time to verify one API key', 'histogram', () => latency.values(durationName), () => latency.reset()),
  );

  return {
    verified(result, seconds) {
      results[result] += 1;
      latency.observe(seconds);
    },
    warmCache(hit) {
      if (hit) cache.hit += 1;
      else cache.miss += 1;
    },
    rowRead() {
      rowReads += 1;
    },
    hashCompared() {
      compares += 1;
    },
  };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keygate_' });
  const verifier = verifierMetrics(registry);

  const limited = new Counter({
    name: 'keygate_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit, by limit',
    labelNames: ['limit'],
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'keygate_rate_limit_store_errors_total',
    help: 'Rate-limit checks the store (Redis) could not answer; those requests were let through (fail open)',
    registers: [registry],
  });
  // Present from the start (at 0), so that a dashboard sees the series before the first refusal.
  for (const limit of RATE_LIMITS) limited.inc({ limit }, 0);
  return {
    registry,
    verifier,
    rateLimits: {
      refused(limit) {
        limited.inc({ limit });
      },
      storeFailed() {
        storeErrors.inc();
      },
    },
  };
}
