import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, onRequestHookHandler } from 'fastify';
import type { Config } from '../config.js';
import { TooManyRequests } from '../errors.js';
import { addressKey } from '../limits/address-key.js';
import { byAddress, decide, rateLimit, type Decision, type Limit, type Whose, type Window } from '../limits/policy.js';
import type { RateLimitName, RateLimitObserver } from '../metrics.js';
import { MemoryCounters, RedisStore, type WindowStore } from '../store/rate-limit-stores.js';
import { presentedKey } from './presented-key.js';

// Requests per minute: per user on the four management endpoints; per presented key_id and per
// client address on /verify and /validate (one budget for both routes). The limits and what they
// decide are in limits/policy.ts; counters live in this process, or in Redis when REDIS_URL is
// set, so that every instance shares them (store/rate-limit-stores.ts). This module reads the
// request, counts, and answers.
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
  /** For /verify and /validate: per presented key_id and per client address. */
  verify: RateLimitHook | undefined;
}

/** The key_id of text keygate issued (KeyVerifier.authenticKeyId), undefined for anything else. */
export type AuthenticKeyId = (presented: string) => string | undefined;

/** The counter key of a request under one limit. */
type KeyOf = (request: FastifyRequest) => string;

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
  const { manage, verify } = limitsOf(config, authenticKeyId);
  if (manage.limits.length === 0 && verify.limits.length === 0) return { manage: undefined, verify: undefined };
  const enforce = enforcer(observer);

  if (config.redisUrl === undefined) {
    return { manage: memoryHook(manage, enforce), verify: memoryHook(verify, enforce) };
  }
  const store = new RedisStore(config.redisUrl, app.log, () => observer.storeFailed());
  app.addHook('onClose', () => store.close());
  await store.untilReady();
  return { manage: redisHook(manage, store, enforce), verify: redisHook(verify, store, enforce) };
}

function limitsOf(config: Config, authenticKeyId: AuthenticKeyId): { manage: Limits; verify: Limits } {
  const { managePerUser, verifyPerKey, verifyPerIp } = config.rateLimits;
  const keyOf: Record<Whose, KeyOf> = {
    user: (request) => request.caller.userId,
    // Only a key keygate issued counts against its key_id: text with a forged or missing tag is
    // no key's traffic, so junk aimed at a known key_id cannot use up that key's budget. It is
    // counted by its address instead, in a budget of its own.
    key: (request) => {
      const presented = presentedKey(request.headers);
      const keyId = presented === undefined ? undefined : authenticKeyId(presented);
      return keyId ?? byAddress(addressKey(request.ip));
    },
    address: (request) => addressKey(request.ip),
  };
  const of = (...limits: (Limit<RateLimitName> | undefined)[]): Limits => {
    const on = limits.filter((limit) => limit !== undefined);
    return { limits: on, keyOf: on.map((limit) => keyOf[limit.whose]) };
  };
  const verification = { windowMs: WINDOW_MS, counted: 'verification', fieldsOnEveryResponse: false };
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
      rateLimit({ name: 'verify_key', max: verifyPerKey, whose: 'key', ...verification }),
      rateLimit({ name: 'verify_ip', max: verifyPerIp, whose: 'address', ...verification }),
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
      keys[i] = key;
      windows[i] = counters[i]!.hit(key, now);
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
    const windows = await Promise.all(counters.map((counter, i) => counter.hit(keys[i]!, now)));
    const refusal = enforce(reply, decide(limits, keys, windows, now));
    if (refusal !== undefined) throw refusal;
  };
}
