import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { VerificationResult, VerifierObserver } from './keys/verifier.js';

// What GET /metrics shows, in Prometheus text. Counts and timings only: no key, no user.

export interface Metrics {
  registry: Registry;
  verifier: VerifierObserver;
}

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
    help: 'Warm-cache lookups by outcome: a hit needs neither a database read nor bcrypt',
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
  const hits = cache.labels('hit');
  const misses = cache.labels('miss');
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
  };
}
