import { once } from 'node:events';
import { Redis, type Result } from 'ioredis';
import type { Window } from '../limits/policy.js';
import type { MaybePromise } from '../maybe-promise.js';
import { ThrottledWarning } from '../throttled-warning.js';

// Where rate limits count: in this process (MemoryCounters), or in Redis (RedisStore) so that
// every instance shares the counters. Both count fixed windows that start at a counter's first
// request, and take the caller's `now` (whole ms of a monotonic clock) rather than keep a clock.
//
// Redis away: a check fails at once (no offline queue, short timeouts) and the request goes
// through (fail open); each failed check is reported to the caller (keygate counts it in
// keygate_rate_limit_store_errors_total) and logged at most once every 10 s (ThrottledWarning). The client
// keeps reconnecting, and limits apply again as soon as Redis answers.

/** The counters of one limit, one per key. */
export interface WindowStore {
  /**
   * Counts one request of `key` at `now`; the window it fell in, or undefined where the store
   * could not answer (the request then goes through: fail open).
   */
  hit(key: string, now: number): MaybePromise<Window | undefined>;
}

/** Counters one limit keeps in memory; beyond it the oldest windows are dropped (they start over). */
const MEMORY_COUNTERS = 100_000;
const REDIS_NAMESPACE = 'keygate:rl:';
const REDIS_CONNECT_TIMEOUT_MS = 500;
const REDIS_COMMAND_TIMEOUT_MS = 300;
/** The longest start-up waits for Redis before serving anyway (limits fail open until it answers). */
const REDIS_STARTUP_WAIT_MS = 2_000;
/** pino's signature, as Fastify's logger has it. */
interface Logger {
  warn(fields: object, message: string): void;
  warn(message: string): void;
  info(message: string): void;
}

// ---------------------------------------------------------------------------------------------
// In memory

/**
 * Fixed windows in a Map kept in the order the windows started (a window that starts over moves
 * to the end), so ended ones are always at the front and sweeping costs only what it removes.
 * Holds at most `capacity` counters: beyond it the oldest window is dropped. Synchronous, and a
 * hit on a counter that exists allocates nothing: /verify counts here on every request.
 */
export class MemoryCounters implements WindowStore {
  private readonly windows = new Map<string, Window>();
  private nextSweepAt = -Infinity;

  constructor(
    private readonly windowMs: number,
    private readonly capacity: number = MEMORY_COUNTERS,
  ) {}

  get size(): number {
    return this.windows.size;
  }

  /** Counts one request of `key` at `now` (a monotonic clock in ms); the window it fell in. */
  hit(key: string, now: number): Window {
    let window = this.windows.get(key);
    if (window === undefined) {
      if (now >= this.nextSweepAt || this.windows.size >= this.capacity) this.sweep(now);
      window = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, window);
    } else if (window.resetAt <= now) {
      window.count = 0;
      window.resetAt = now + this.windowMs;
      this.windows.delete(key);
      this.windows.set(key, window);
    }
    window.count += 1;
    return window;
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) {
      if (window.resetAt > now && this.windows.size < this.capacity) break;
      this.windows.delete(key);
    }
    this.nextSweepAt = now + this.windowMs;
  }
}

// ---------------------------------------------------------------------------------------------
// In Redis

// One call per check, atomic: count, start the window at the first request, report what is left
// of it. A counter without an expiry (which this script never leaves behind) would refuse
// forever, so one found without is given one rather than trusted.
const FIXED_WINDOW_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    keygateRateLimit(key: string, windowMs: number): Result<[number, number], Context>;
  }
}

/**
 * One connection to Redis for every limit's counters. Connects at once and keeps reconnecting;
 * `failed` hears of every check Redis could not answer (the URL is never logged: it may hold a
 * password).
 */
export class RedisStore {
  private readonly redis: Redis;
  private readonly checkFailed: (error: unknown) => void;

  constructor(
    url: string,
    private readonly log: Logger,
    failed: () => void,
  ) {
    this.redis = connectRedis(url, log);
    const storeFailure = new ThrottledWarning(log, 'rate-limit store failed: requests go through without limits (fail open)');
    this.checkFailed = (error) => {
      failed();
      storeFailure.report(error);
    };
  }

  /** The counters of limit `name`, as `keygate:rl:<name>:<key>`, e.g. keygate:rl:verify_key:3xZ9kQ2mB7aV. */
  counters(name: string, windowMs: number): WindowStore {
    const { redis, checkFailed } = this;
    const prefix = `${REDIS_NAMESPACE}${name}:`;
    return {
      // Auto-pipelined: the checks of one request, sent before either is awaited, share one round trip.
      async hit(key, now) {
        try {
          const [count, ttl] = await redis.keygateRateLimit(prefix + key, windowMs);
          return { count, resetAt: now + ttl };
        } catch (error) {
          checkFailed(error);
          return undefined;
        }
      },
    };
  }

  /** Waits for Redis so that the first requests are limited too; not past its first failure. */
  async untilReady(): Promise<void> {
    const { redis, log } = this;
    if (redis.status === 'ready') return;
    const done = new AbortController();
    const timer = setTimeout(() => done.abort(), REDIS_STARTUP_WAIT_MS);
    try {
      const ready = await Promise.race([
        once(redis, 'ready', { signal: done.signal }).then(() => true),
        once(redis, 'error', { signal: done.signal }).then(() => false),
      ]);
      if (!ready) log.warn('Redis does not answer at start: serving without rate limits until it does');
    } catch {
      log.warn(`Redis did not answer within ${REDIS_STARTUP_WAIT_MS} ms of start: serving without rate limits until it does`);
    } finally {
      clearTimeout(timer);
      done.abort();
    }
  }

  async close(): Promise<void> {
    const { redis } = this;
    if (redis.status === 'ready') {
      try {
        await redis.quit();
        return;
      } catch {
        // dropped below
      }
    }
    redis.disconnect();
  }
}

function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    // While Redis is away a check must fail at once rather than wait for it: no offline queue,
    // no retry of a command, short timeouts. The connection itself is retried for ever.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    // The two checks of one /verify, and those of concurrent requests, go out in one write.
    enableAutoPipelining: true,
  });
  redis.defineCommand('keygateRateLimit', { numberOfKeys: 1, lua: FIXED_WINDOW_SCRIPT });
  const connectionFailing = new ThrottledWarning(log, 'Redis connection failing: rate limits are not enforced until it answers');
  let failing = false;
  redis.on('error', (error) => {
    failing = true;
    connectionFailing.report(error);
  });
  redis.on('ready', () => {
    if (failing) log.info('Redis answers again: rate limits are enforced again');
    failing = false;
    connectionFailing.reset();
  });
  return redis;
}

