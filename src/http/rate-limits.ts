import { once } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestAsyncHookHandler,
  onRequestHookHandler,
} from 'fastify';
import { Redis, type Result } from 'ioredis';
import type { Config } from '../config.js';
import { TooManyRequests } from '../errors.js';
import type { RateLimitName, RateLimitObserver } from '../metrics.js';
import { presentedKey } from './presented-key.js';

// Requests per minute: per user on the four management endpoints; per presented key_id and per
// client address on /verify and /validate (one budget for both routes). Fixed windows of one
// minute, each starting at its counter's first request (as @fastify/rate-limit counts). Counters
// live in this process, or in Redis when REDIS_URL is set, so that every instance shares them.
//
// Answers: 429 `{"detail": "Rate limit exceeded: ..., retry in N seconds"}` with Retry-After,
// raised as TooManyRequests so that the one error handler writes it; and RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (delta seconds): the separate fields of
// draft-ietf-httpapi-ratelimit-headers up to -06, the ones @fastify/rate-limit's
// `enableDraftSpec` sends (-07 on folds them into one structured `RateLimit` field). Where two
// limits apply (per key and per address), a 429 describes the one that refused, or of two that
// did, the one with the longer wait. The management routes send the
// fields on every response, so that a client can pace itself; /verify and /validate only on the
// 429: their caller is a gateway asking about its own client's key, not the one to pace, and
// three more header fields on every answer cost the hot path about a tenth of its throughput.
//
// The hooks run at onRequest (on the management routes after the bearer hook, which names the
// user), so a refused request costs no body parsing. In memory a check is synchronous (no
// promise) and its counting allocates nothing once the counter exists: /verify is the hot path.
//
// Redis away: a check fails at once (no offline queue, short timeouts) and the request goes
// through (fail open); each failed check is counted in keygate_rate_limit_store_errors_total and
// logged at most once per LOG_EVERY_MS. The client keeps reconnecting, and limits apply again as
// soon as Redis answers.
//
// Why not @fastify/rate-limit itself: its hooks mark a request once one of them has run, so a
// second limit on a route (per key AND per address) never runs; its createRateLimit() avoids
// that but costs promises and objects per check on the hot path (about 3x this hook's time),
// its Redis store names such limiters' keys "keygate:rl:undefinedundefined-...", and
// skipOnError swallows the failures that must be counted here. All it would have added beyond
// that is the fixed-window counting below.

const WINDOW_MS = 60_000;
/** Counters one limit keeps in memory; beyond it the oldest windows are dropped (they start over). */
const MEMORY_COUNTERS = 100_000;
const REDIS_NAMESPACE = 'keygate:rl:';
const REDIS_CONNECT_TIMEOUT_MS = 500;
const REDIS_COMMAND_TIMEOUT_MS = 300;
/** The longest start-up waits for Redis before serving anyway (limits fail open until it answers). */
const REDIS_STARTUP_WAIT_MS = 2_000;
const LOG_EVERY_MS = 10_000;
/** Per-key counters of requests without a key's shape go by address (a key_id has no colon). */
const NO_KEY_PREFIX = 'ip:';

/** In memory a callback hook (synchronous, no promise); on Redis an async one. */
export type RateLimitHook = onRequestHookHandler | onRequestAsyncHookHandler;

/** The hooks the routes attach; undefined where every limit of that kind is off (0). */
export interface RateLimitHooks {
  /** For the management routes, after the bearer hook has set request.caller. */
  manage: RateLimitHook | undefined;
  /** For /verify and /validate: per presented key_id and per client address. */
  verify: RateLimitHook | undefined;
}

/** One counter's window: requests counted in it so far, and when it ends (clock() ms). */
export interface Window {
  count: number;
  resetAt: number;
}

interface Limit {
  readonly name: RateLimitName;
  /** Requests allowed per window; never 0 (0 means no Limit at all). */
  readonly max: number;
  /** Whose requests share a counter. */
  readonly keyOf: (request: FastifyRequest) => string;
  /** For the 429 detail, e.g. "at most 120 management requests per minute". */
  readonly description: string;
  /** Whether every counted response carries the RateLimit fields, or only the 429. */
  readonly fieldsOnEveryResponse: boolean;
}

/**
 * The hooks of the limits in config.rateLimits, counting in memory, or in Redis when
 * config.redisUrl is set (the connection closes with `app`). Waits at most
 * REDIS_STARTUP_WAIT_MS for Redis: keygate starts and serves without it.
 */
export async function installRateLimits(
  app: FastifyInstance,
  config: Config,
  observer: RateLimitObserver,
  authenticKeyId: AuthenticKeyId,
): Promise<RateLimitHooks> {
  const { manage, verify } = limitsOf(config, authenticKeyId);
  if (manage.length === 0 && verify.length === 0) return { manage: undefined, verify: undefined };
  const enforce = enforcer(observer);

  if (config.redisUrl === undefined) {
    return { manage: memoryHook(manage, enforce), verify: memoryHook(verify, enforce) };
  }
  const redis = connectRedis(config.redisUrl, app.log);
  app.addHook('onClose', () => closeRedis(redis));
  await waitUntilReady(redis, app.log);
  const storeFailure = new ThrottledWarning(app.log, 'rate-limit store failed: requests go through without limits (fail open)');
  const onStoreError = (error: unknown) => {
    observer.storeFailed();
    storeFailure.report(error);
  };
  return { manage: redisHook(manage, redis, enforce, onStoreError), verify: redisHook(verify, redis, enforce, onStoreError) };
}

/** The key_id of text keygate issued (KeyVerifier.authenticKeyId), undefined for anything else. */
export type AuthenticKeyId = (presented: string) => string | undefined;

function limitsOf(config: Config, authenticKeyId: AuthenticKeyId): { manage: Limit[]; verify: Limit[] } {
  const { managePerUser, verifyPerKey, verifyPerIp } = config.rateLimits;
  const limit = (name: RateLimitName, max: number, what: string, fieldsOnEveryResponse: boolean, keyOf: Limit['keyOf']): Limit[] =>
    max === 0 ? [] : [{ name, max, keyOf, description: `at most ${plural(max, what)} per minute`, fieldsOnEveryResponse }];
  return {
    manage: limit('manage_user', managePerUser, 'management request', true, (request) => request.caller.userId),
    verify: [
      // Only a key keygate issued counts against its key_id: text with a forged or missing tag is
      // no key's traffic, so junk aimed at a known key_id cannot use up that key's budget. It is
      // counted by its address instead, in a budget of its own.
      ...limit('verify_key', verifyPerKey, 'verification', false, (request) => {
        const presented = presentedKey(request.headers);
        const keyId = presented === undefined ? undefined : authenticKeyId(presented);
        return keyId ?? NO_KEY_PREFIX + addressKey(request.ip);
      }),
      ...limit('verify_ip', verifyPerIp, 'verification', false, (request) => addressKey(request.ip)),
    ],
  };
}

type Enforce = (reply: FastifyReply, limit: Limit, key: string, window: Window, now: number) => TooManyRequests | undefined;

/** Sets the RateLimit fields of one counted request (where due); the 429 to answer when it is over the limit. */
function enforcer(observer: RateLimitObserver): Enforce {
  return (reply, limit, key, window, now) => {
    const refused = window.count > limit.max;
    if (!refused && !limit.fieldsOnEveryResponse) return undefined;
    const resetSeconds = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
    reply.header('ratelimit-limit', limit.max);
    reply.header('ratelimit-remaining', window.count >= limit.max ? 0 : limit.max - window.count);
    reply.header('ratelimit-reset', resetSeconds);
    if (!refused) return undefined;
    observer.refused(limit.name);
    const whose =
      limit.name === 'manage_user'
        ? 'per user'
        : limit.name === 'verify_ip' || key.startsWith(NO_KEY_PREFIX)
          ? 'from this address'
          : 'for this key';
    return new TooManyRequests(
      `Rate limit exceeded: ${limit.description} ${whose}, retry in ${plural(resetSeconds, 'second')}`,
      resetSeconds,
    );
  };
}

/** Whether limit `a` binds before `b`: refused before allowed, then the longer wait. */
function binds(a: Limit, aWindow: Window, b: Limit, bWindow: Window): boolean {
  const aExceeded = aWindow.count > a.max;
  const bExceeded = bWindow.count > b.max;
  if (aExceeded !== bExceeded) return aExceeded;
  return aWindow.resetAt >= bWindow.resetAt;
}

/**
 * Whole milliseconds of a monotonic clock: windows do not move with the wall clock, and whole
 * numbers keep `now + WINDOW_MS - now` exactly WINDOW_MS (60, not 61, seconds to reset).
 */
function clock(): number {
  return Math.floor(performance.now());
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// In memory

/**
 * Fixed windows in a Map kept in the order the windows started (a window that starts over moves
 * to the end), so ended ones are always at the front and sweeping costs only what it removes.
 * Holds at most `capacity` counters: beyond it the oldest window is dropped.
 */
export class MemoryCounters {
  private readonly windows = new Map<string, Window>();
  private nextSweepAt = -Infinity;

  constructor(
    private readonly windowMs: number = WINDOW_MS,
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

function memoryHook(limits: Limit[], enforce: Enforce): onRequestHookHandler | undefined {
  const [first, second] = limits;
  if (first === undefined) return undefined;
  const firstCounters = new MemoryCounters();
  if (second === undefined) {
    return function rateLimited(request, reply, done) {
      const now = clock();
      const key = first.keyOf(request);
      done(enforce(reply, first, key, firstCounters.hit(key, now), now));
    };
  }
  const secondCounters = new MemoryCounters();
  return function rateLimited(request, reply, done) {
    const now = clock();
    // Both count, whichever refuses.
    const firstKey = first.keyOf(request);
    const a = firstCounters.hit(firstKey, now);
    const secondKey = second.keyOf(request);
    const b = secondCounters.hit(secondKey, now);
    done(binds(first, a, second, b) ? enforce(reply, first, firstKey, a, now) : enforce(reply, second, secondKey, b, now));
  };
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

function redisHook(
  limits: Limit[],
  redis: Redis,
  enforce: Enforce,
  onStoreError: (error: unknown) => void,
): onRequestAsyncHookHandler | undefined {
  const [first, second] = limits;
  if (first === undefined) return undefined;
  // `keygate:rl:<limit>:<key>`, e.g. keygate:rl:verify_key:3xZ9kQ2mB7aV
  const prefixes = new Map(limits.map((limit) => [limit, `${REDIS_NAMESPACE}${limit.name}:`]));
  const countIn = async (limit: Limit, key: string, now: number): Promise<Window | undefined> => {
    try {
      const [count, ttl] = await redis.keygateRateLimit(prefixes.get(limit) + key, WINDOW_MS);
      return { count, resetAt: now + ttl };
    } catch (error) {
      onStoreError(error);
      return undefined;
    }
  };
  return async function rateLimited(request, reply) {
    const now = clock();
    const firstKey = first.keyOf(request);
    const secondKey = second?.keyOf(request);
    // Both are sent before either is awaited: auto-pipelined, they share one round trip.
    const pendingA = countIn(first, firstKey, now);
    const pendingB = second === undefined || secondKey === undefined ? undefined : countIn(second, secondKey, now);
    const a = await pendingA;
    const b = await pendingB;
    let refusal: TooManyRequests | undefined;
    if (a !== undefined && (b === undefined || second === undefined || binds(first, a, second, b))) {
      refusal = enforce(reply, first, firstKey, a, now);
    } else if (b !== undefined && second !== undefined && secondKey !== undefined) {
      refusal = enforce(reply, second, secondKey, b, now);
    }
    if (refusal !== undefined) throw refusal;
  };
}

function connectRedis(url: string, log: FastifyBaseLogger): Redis {
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
  // The URL is never logged: it may hold a password.
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

/** Waits for Redis so that the first requests are limited too; not past its first failure. */
async function waitUntilReady(redis: Redis, log: FastifyBaseLogger): Promise<void> {
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

async function closeRedis(redis: Redis): Promise<void> {
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

/** Logs a recurring failure once, then at most once per LOG_EVERY_MS, with how many it left out. */
class ThrottledWarning {
  private lastLoggedAt = -Infinity;
  private unlogged = 0;

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly message: string,
  ) {}

  report(error: unknown): void {
    const now = performance.now();
    if (now - this.lastLoggedAt < LOG_EVERY_MS) {
      this.unlogged += 1;
      return;
    }
    // The message only: a Redis error may carry its command, whose arguments name users.
    const reason = error instanceof Error ? error.message : String(error);
    this.log.warn({ reason, alsoFailedSinceLastLog: this.unlogged }, this.message);
    this.lastLoggedAt = now;
    this.unlogged = 0;
  }

  reset(): void {
    this.lastLoggedAt = -Infinity;
    this.unlogged = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Client addresses

/**
 * The counter key of a client address: IPv4 as it is; IPv6 by its /64, since one host usually
 * holds a whole /64 and single addresses would limit no one; IPv4-mapped IPv6 as the IPv4.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  // A dual-stack socket reports every IPv4 client this way: the common case, without parsing.
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  if (!isIPv6(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (any zone index dropped). */
function ipv6Groups(ip: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = (ip.split('%')[0] as string).split('::');
  if (tail === undefined) return parse(head);
  const before = parse(head);
  const after = parse(tail);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}
