import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
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

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keygate_' });
  const verifications = new Counter({
    name: 'keygate_verifications_total',
    help: 'API-key verifications by result',
    labelNames: ['result'],
    registers: [registry],
  });
  const cache = new Counter({
    name: 'keygate_verify_cache_total',
    help: 'Verifications of well-formed keys by warm-cache outcome: a hit needs no bcrypt (and on SQLite no database read)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const compares = new Counter({
    name: 'keygate_bcrypt_compares_total',
    help: 'bcrypt compares run to verify API keys',
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'keygate_verification_duration_seconds',
    help: 'Time to verify one API key',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  // Label children resolved once: the hot path does no label lookups.
  const byResult = new Map(RESULTS.map((result) => [result, verifications.labels(result)]));
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
  const hits = cache.labels('hit');
  const misses = cache.labels('miss');
  const byLimit = new Map(RATE_LIMITS.map((limit) => [limit, limited.labels(limit)]));
  // Present from the start (at 0), so that a dashboard sees the series before the first refusal.
  for (const limit of RATE_LIMITS) byLimit.get(limit)?.inc(0);
  return {
    registry,
    verifier: {
      verified(result, seconds) {
        byResult.get(result)?.inc();
        duration.observe(seconds);
      },
      warmCache(hit) {
        (hit ? hits : misses).inc();
      },
      bcryptCompared() {
        compares.inc();
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
