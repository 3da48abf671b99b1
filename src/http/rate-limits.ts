import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, onRequestHookHandler } from 'fastify';
import type { Config } from '../config.js';
import { TooManyRequests } from '../errors.js';
import { addressKey } from '../limits/address-key.js';
import { byAddress, decide, decideOne, rateLimit, type Decision, type Limit, type Whose, type Window } from '../limits/policy.js';
import type { KeyRateLimit } from '../keys/verifier.js';
import type { RateLimitName, RateLimitObserver } from '../metrics.js';
import { MemoryCounters, RedisStore, type WindowStore } from '../store/rate-limit-stores.js';
import { usernameKey } from '../accounts/credentials.js';
import { presentedKey } from './presented-key.js';

// Requests per minute: per user on the four management endpoints; per key and per client address
// on /verify, /validate and forward-auth (one budget for all three); per account and per client
// address on the password sign-ins (/auth/session, /auth/login, /auth/signup), and per client
// address on the OpenID Connect callback (one budget with them). The limits and what they
// decide are in limits/policy.ts; counters live in this process, or in Redis when REDIS_URL is
// set, so that every instance shares them (store/rate-limit-stores.ts). This module reads the
// request, counts, and answers.
//
// The per-key limit counts valid keys only, once the verifier has read the key's own limit
// (`rate_limit`, else KEYGATE_RATE_LIMIT_VERIFY_PER_KEY): it is a stage of verification (see
// KeyRateLimit in keys/verifier.ts), after the scopes and before a quota is used, so a PATCH of
// the limit is in force at the very next verification and a refused one uses no quota. Text that
// is no issued key (a forged tag, a key refused for good) counts per key too, in a budget of its
// client address, here, before any verification work.
//
// Answers: 429 `{"detail": "Rate limit exceeded: ..., retry in N seconds"}` with Retry-After,
// raised as TooManyRequests so that the one error handler writes it; and RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (delta seconds): the separate fields of
// draft-ietf-httpapi-ratelimit-headers up to -06, the ones @fastify/rate-limit's
// `enableDraftSpec` sends (-07 on folds them into one structured `RateLimit` field). Where two
// limits apply (per key and per address), a 429 describes the one that refused, or of two that
// did, the one with the longer wait. The management routes send the
// fields on every response, so that a client can pace itself; the verification routes only on
// the 429: their caller is a gateway asking about its own client's key, not the one to pace, and
// three more header fields on every answer cost the hot path about a tenth of its throughput.
//
// The hooks run at onRequest (on the management routes after the bearer hook, which names the
// user), so a refused request costs no body parsing. In memory a check is synchronous (no
// promise) and its counting allocates nothing once the counter exists: /verify is the hot path.
// On Redis a check that fails lets the request through (fail open: see the store).
//
// Why not @fastify/rate-limit itself: its hooks mark a request once one of them has run, so a
// second limit on a route (per key AND per address) never runs; its createRateLimit() avoids
// that but costs promises and objects per check on the hot path (about 3x this hook's time),
// its Redis store names such limiters' keys "keygate:rl:undefinedundefined-...", and
// skipOnError swallows the failures that must be counted here. All it would have added beyond
// that is the fixed-window counting in the stores.

const WINDOW_MS = 60_000;

/** In memory a callback hook (synchronous, no promise); on Redis an async one. */
export type RateLimitHook = onRequestHookHandler | onRequestAsyncHookHandler;

/** The hooks the routes attach; undefined where every limit of that kind is off (0). */
export interface RateLimitHooks {
  /** For the management routes, after the bearer hook has set request.caller. */
  manage: RateLimitHook | undefined;
  /** For the verification routes: per client address, and per address for text that is no key. */
  verify: RateLimitHook | undefined;
  /** For the verifier, on the verification routes: per valid key. */
  perKey: KeyRateLimit | undefined;
  /**
   * For the password sign-ins (and sign-ups), per account and per client address, and for the
   * OpenID Connect callback, per address: a preHandler, since the account is named in the body,
   * which the route's schema has checked by then.
   */
  signIn: RateLimitHook | undefined;
}

/** The key_id of text keygate issued (KeyVerifier.authenticKeyId), undefined for anything else. */
export type AuthenticKeyId = (presented: string) => string | undefined;

/** The counter key of a request under one limit; undefined where that limit does not count it. */
type KeyOf = (request: FastifyRequest) => string | undefined;

/** The limits of one set of routes, each with how it reads its counter key off a request. */
interface Limits {
  readonly limits: readonly Limit<RateLimitName>[];
  readonly keyOf: readonly KeyOf[];
}

/**
 * The hooks of the limits in config.rateLimits, counting in memory, or in Redis when
 * config.redisUrl is set (the connection closes with `app`). Waits a moment at most for Redis:
 * keygate starts and serves without it.
 */
export async function installRateLimits(
  app: FastifyInstance,
  config: Config,
  observer: RateLimitObserver,
  authenticKeyId: AuthenticKeyId,
): Promise<RateLimitHooks> {
  const { manage, verify, signIn } = limitsOf(config, authenticKeyId);
  const { verifyPerKey } = config.rateLimits;
  // A key's own rate_limit applies even where the server's default is off.
  const enforce = enforcer(observer);

  if (config.redisUrl === undefined) {
    return {
      manage: memoryHook(manage, enforce),
      verify: memoryHook(verify, enforce),
      perKey: keyRateLimit(verifyPerKey, new MemoryCounters(WINDOW_MS), observer),
      signIn: memoryHook(signIn, enforce),
    };
  }
  const store = new RedisStore(config.redisUrl, app.log, () => observer.storeFailed());
  app.addHook('onClose', () => store.close());
  await store.untilReady();
  return {
    manage: redisHook(manage, store, enforce),
    verify: redisHook(verify, store, enforce),
    perKey: keyRateLimit(verifyPerKey, store.counters('verify_key', WINDOW_MS), observer),
    signIn: redisHook(signIn, store, enforce),
  };
}

const VERIFICATION = { windowMs: WINDOW_MS, counted: 'verification', fieldsOnEveryResponse: false } as const;

/**
 * The per-key limit, as the verifier applies it to a valid key: its own max, else `defaultMax`
 * (0: none). Limits are made once per max; keys with a limit of their own have few distinct ones.
 */
function keyRateLimit(defaultMax: number, counters: WindowStore, observer: RateLimitObserver): KeyRateLimit {
  const judge = (limit: Limit<RateLimitName>, keyId: string, window: Window | undefined, now: number): TooManyRequests | undefined => {
    const decision = decideOne(limit, keyId, window, now);
    if (decision.allowed) return undefined;
    observer.refused(limit.name);
    return new TooManyRequests(decision.detail, decision.retryAfterSeconds, decision.fields);
  };
  const limits = new Map<number, Limit<RateLimitName>>();
  const limitOf = (max: number): Limit<RateLimitName> => {
    let limit = limits.get(max);
    if (limit === undefined) {
      if (limits.size >= 1000) limits.clear();
      limit = rateLimit({ name: 'verify_key', max, whose: 'key', ...VERIFICATION })!;
      limits.set(max, limit);
    }
    return limit;
  };
  return (keyId, keyMax) => {
    const max = keyMax ?? defaultMax;
    if (max === 0) return undefined;
    const limit = limitOf(max);
    const now = clock();
    const window = counters.hit(keyId, now);
    // In memory the window is at hand: judged at once, with no closure made.
    return window instanceof Promise ? window.then((counted) => judge(limit, keyId, counted, now)) : judge(limit, keyId, window, now);
  };
}

function limitsOf(config: Config, authenticKeyId: AuthenticKeyId): { manage: Limits; verify: Limits; signIn: Limits } {
  const { managePerUser, verifyPerKey, verifyPerIp, signInPerAccount, signInPerIp } = config.rateLimits;
  const keyOf: Record<Whose, KeyOf> = {
    user: (request) => request.caller.userId,
    // Only a key keygate issued counts against its key_id, and the verifier counts it (see
    // above): text with a forged or missing tag is no key's traffic, so junk aimed at a known
    // key_id cannot use up that key's budget. It is counted by its address instead, in a budget
    // of its own.
    key: (request) => {
      const presented = presentedKey(request.headers);
      const keyId = presented === undefined ? undefined : authenticKeyId(presented);
      return keyId === undefined ? byAddress(addressKey(request.ip)) : undefined;
    },
    address: (request) => addressKey(request.ip),
    // Every attempt counts, right or wrong: counting only failures would tell an attacker which
    // guess was right by the limit it did not use up. Case-insensitively, as usernames compare.
    // An OpenID Connect callback names no account: it counts against its address alone.
    account: (request) => {
      const username = (request.body as { username?: unknown } | undefined)?.username;
      return typeof username === 'string' ? usernameKey(username) : undefined;
    },
  };
  const SIGN_IN = { windowMs: WINDOW_MS, counted: 'sign-in attempt', fieldsOnEveryResponse: false } as const;
  const of = (...limits: (Limit<RateLimitName> | undefined)[]): Limits => {
    const on = limits.filter((limit) => limit !== undefined);
    return { limits: on, keyOf: on.map((limit) => keyOf[limit.whose]) };
  };
  return {
    manage: of(
      rateLimit({
        name: 'manage_user',
        max: managePerUser,
        windowMs: WINDOW_MS,
        whose: 'user',
        counted: 'management request',
        fieldsOnEveryResponse: true,
      }),
    ),
    verify: of(
      rateLimit({ name: 'verify_key', max: verifyPerKey, whose: 'key', ...VERIFICATION }),
      rateLimit({ name: 'verify_ip', max: verifyPerIp, whose: 'address', ...VERIFICATION }),
    ),
    signIn: of(
      rateLimit({ name: 'sign_in_account', max: signInPerAccount, whose: 'account', ...SIGN_IN }),
      rateLimit({ name: 'sign_in_ip', max: signInPerIp, whose: 'address', ...SIGN_IN }),
    ),
  };
}

type Enforce = (reply: FastifyReply, decision: Decision<RateLimitName>) => TooManyRequests | undefined;

/** Sets the RateLimit fields a decision has (where due); the 429 to answer when it refused. */
function enforcer(observer: RateLimitObserver): Enforce {
  return (reply, decision) => {
    const { fields } = decision;
    if (fields === undefined) return undefined;
    reply.header('ratelimit-limit', fields.limit);
    reply.header('ratelimit-remaining', fields.remaining);
    reply.header('ratelimit-reset', fields.resetSeconds);
    if (decision.allowed) return undefined;
    observer.refused(decision.limit.name);
    return new TooManyRequests(decision.detail, decision.retryAfterSeconds);
  };
}

/**
 * Whole milliseconds of a monotonic clock: windows do not move with the wall clock, and whole
 * numbers keep `now + WINDOW_MS - now` exactly WINDOW_MS (60, not 61, seconds to reset).
 */
function clock(): number {
  return Math.floor(performance.now());
}

function memoryHook({ limits, keyOf }: Limits, enforce: Enforce): onRequestHookHandler | undefined {
  if (limits.length === 0) return undefined;
  const counters = limits.map((limit) => new MemoryCounters(limit.windowMs));
  // Reused by every request, so that a check allocates nothing: the hook runs start to finish in
  // one tick, so no two requests ever hold them at once.
  const keys = limits.map(() => '');
  const windows = limits.map((): Window | undefined => undefined);
  return function rateLimited(request, reply, done) {
    const now = clock();
    // Every limit counts, whichever refuses.
    for (let i = 0; i < limits.length; i++) {
      const key = keyOf[i]!(request);
      keys[i] = key ?? '';
      windows[i] = key === undefined ? undefined : counters[i]!.hit(key, now);
    }
    done(enforce(reply, decide(limits, keys, windows, now)));
  };
}

function redisHook({ limits, keyOf }: Limits, store: RedisStore, enforce: Enforce): onRequestAsyncHookHandler | undefined {
  if (limits.length === 0) return undefined;
  const counters: WindowStore[] = limits.map((limit) => store.counters(limit.name, limit.windowMs));
  return async function rateLimited(request, reply) {
    const now = clock();
    const keys = keyOf.map((of) => of(request));
    // All are sent before any is awaited: auto-pipelined, they share one round trip.
    const windows = await Promise.all(counters.map((counter, i) => (keys[i] === undefined ? undefined : counter.hit(keys[i]!, now))));
    const refusal = enforce(reply, decide(limits, keys.map((key) => key ?? ''), windows, now));
    if (refusal !== undefined) throw refusal;
  };
}
