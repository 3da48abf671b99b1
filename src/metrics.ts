import { collectDefaultMetrics, Counter, type Metric, Registry } from 'prom-client';
import type { VerificationResult, VerifierObserver } from './keys/verifier.js';

// What GET /metrics shows, in Prometheus text. Counts and timings only: no key, no user.

export interface Metrics {
  registry: Registry;
  verifier: VerifierObserver;
  rateLimits: RateLimitObserver;
}

/** The rate limits keygate enforces, as /metrics labels them. */
export type RateLimitName = 'manage_user' | 'verify_key' | 'verify_ip';

export interface RateLimitObserver {
  /** A request was refused with 429 by this limit. */
  refused(limit: RateLimitName): void;
  /** The limit store (Redis) failed to answer: the request went through unlimited. */
  storeFailed(): void;
}

const RATE_LIMITS: RateLimitName[] = ['manage_user', 'verify_key', 'verify_ip'];

const RESULTS: VerificationResult[] = ['valid', 'malformed', 'unknown', 'expired', 'throttled', 'overloaded'];

const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

// The verifier reports every verification, so its tallies are plain numbers, and prom-client
// reads them only when /metrics is scraped (a counter's collect hook). Its own inc() and
// observe() hash the labels and allocate on every call: measured at about 0.8 µs per
// verification in a loop, a tenth of a warm hit.

/** Verification times in fixed buckets; observe() is a short loop and three additions. */
class LatencyTally {
  /** Observations at most LATENCY_BUCKETS[i], not cumulative. */
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

  /**
   * A prom-client histogram of these tallies. prom-client has no way to set a histogram's
   * buckets, so this is a metric of its own shape: what prom-client's Registry calls (get,
   * reset) with the values it formats, the same series its own Histogram would give.
   */
  metric(name: string, help: string): Metric {
    const values = () => {
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
    };
    const shape = { name, help, type: 'histogram', aggregator: 'sum' } as const;
    const metric = {
      ...shape,
      get: async () => ({ ...shape, values: values() }),
      reset: () => {
        this.counts.fill(0);
        this.sum = 0;
        this.count = 0;
      },
    };
    return metric as unknown as Metric;
  }
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keygate_' });

  const results = Object.fromEntries(RESULTS.map((result) => [result, 0])) as Record<VerificationResult, number>;
  const cacheOutcomes = { hit: 0, miss: 0 };
  let compares = 0;
  const latency = new LatencyTally();

  new Counter({
    name: 'keygate_verifications_total',
    help: 'API-key verifications by result',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const result of RESULTS) this.inc({ result }, results[result]);
    },
  });
  new Counter({
    name: 'keygate_verify_cache_total',
    help: 'Verifications of well-formed keys by warm-cache outcome: a hit needs no bcrypt (and on SQLite no database read)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [outcome, count] of Object.entries(cacheOutcomes)) this.inc({ outcome }, count);
    },
  });
  new Counter({
    name: 'keygate_bcrypt_compares_total',
    help: 'bcrypt compares run to verify API keys',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(compares);
    },
  });
  registry.registerMetric(latency.metric('keygate_verification_duration_seconds', 'Time to verify one API key'));

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
  const byLimit = new Map(RATE_LIMITS.map((limit) => [limit, limited.labels(limit)]));
  // Present from the start (at 0), so that a dashboard sees the series before the first refusal.
  for (const limit of RATE_LIMITS) byLimit.get(limit)?.inc(0);
  return {
    registry,
    verifier: {
      verified(result, seconds) {
        results[result] += 1;
        latency.observe(seconds);
      },
      warmCache(hit) {
        if (hit) cacheOutcomes.hit += 1;
        else cacheOutcomes.miss += 1;
      },
      bcryptCompared() {
        compares += 1;
      },
    },
    rateLimits: {
      refused(limit) {
        byLimit.get(limit)?.inc();
      },
      storeFailed() {
        storeErrors.inc();
      },
    },
  };
}
