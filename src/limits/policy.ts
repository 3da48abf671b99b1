// Rate limits as data, and what they decide about one request: pure functions of the windows a
// store counted for it, with no Fastify, no Redis and no clock of their own (`now` comes with the
// windows, on the clock the store counted by). Decide here, apply atomically in the store: each
// limit's counter is counted by one store call, and this decides from what the calls returned,
// as better-auth's api-key plugin keeps its evaluateRateLimit apart from the update applying it.
//
// Fixed windows, each starting at its counter's first request (as @fastify/rate-limit counts):
// a request is refused once its window holds more than `max` requests, itself included. Any
// number of limits may apply to one request; every one of them counts it, and the one that
// binds first decides and describes the answer: a refusing limit before an allowing one, then of
// two alike the one whose window ends later (the longer wait), then the one listed first.

/** Whose requests share a counter: the caller's user, the presented key, the client address, the account signed in to. */
export type Whose = 'user' | 'key' | 'address' | 'account';

export interface Limit<Name extends string = string> {
  /** As metrics label it, e.g. verify_key. */
  readonly name: Name;
  /** Requests allowed per window; never 0 (0 means no Limit at all). */
  readonly max: number;
  /** How long a window lasts, in ms. */
  readonly windowMs: number;
  readonly whose: Whose;
  /** For the 429 detail, e.g. "at most 120 management requests per minute". */
  readonly description: string;
  /** Whether every counted response carries the RateLimit fields, or only the 429. */
  readonly fieldsOnEveryResponse: boolean;
}

/** One counter's window: requests counted in it so far, and when it ends (ms, on the store's clock). */
export interface Window {
  count: number;
  resetAt: number;
}

/** The RateLimit fields of one limit's window: its max, what is left of it, seconds until it ends. */
export interface RateLimitFields {
  readonly limit: number;
  readonly remaining: number;
  /** Delta seconds, at least 1. */
  readonly resetSeconds: number;
}

export interface Allowed {
  readonly allowed: true;
  /** The binding limit's fields, where that limit sends them on every response. */
  readonly fields: RateLimitFields | undefined;
}

export interface Refused<Name extends string = string> {
  readonly allowed: false;
  /** The limit that refused (of two that did, the one with the longer wait). */
  readonly limit: Limit<Name>;
  readonly fields: RateLimitFields;
  readonly retryAfterSeconds: number;
  /** e.g. "Rate limit exceeded: at most 3 verifications per minute for this key, retry in 42 seconds". */
  readonly detail: string;
}

export type Decision<Name extends string = string> = Allowed | Refused<Name>;

/** Allowed with nothing to tell: shared, so that the common answer allocates nothing. */
const ALLOWED: Allowed = { allowed: true, fields: undefined };

/**
 * The counter key of a per-key limit for text that is no key: its client address, apart from
 * every key_id (a key_id has no colon).
 */
export function byAddress(address: string): string {
  return ADDRESS_KEY_PREFIX + address;
}

const ADDRESS_KEY_PREFIX = 'ip:';

const WINDOW_NAMES = new Map([
  [1_000, 'second'],
  [60_000, 'minute'],
  [3_600_000, 'hour'],
  [86_400_000, 'day'],
]);

/**
 * The limit of `max` requests (`counted` names one, e.g. "verification") per window of
 * `windowMs`; undefined where `max` is 0: that limit is off.
 */
export function rateLimit<Name extends string>(spec: {
  name: Name;
  max: number;
  windowMs: number;
  whose: Whose;
  counted: string;
  fieldsOnEveryResponse: boolean;
}): Limit<Name> | undefined {
  const { name, max, windowMs, whose, counted, fieldsOnEveryResponse } = spec;
  if (max === 0) return undefined;
  const window = WINDOW_NAMES.get(windowMs) ?? plural(Math.round(windowMs / 1000), 'second');
  return { name, max, windowMs, whose, description: `at most ${plural(max, counted)} per ${window}`, fieldsOnEveryResponse };
}

/**
 * The decision about one request, from the windows its limits counted: `windows[i]` is the one
 * `limits[i]` counted under `keys[i]`, or undefined where the store could not answer (that limit
 * then lets the request through: fail open). `now` is on the windows' clock.
 */
export function decide<Name extends string>(
  limits: readonly Limit<Name>[],
  keys: readonly string[],
  windows: readonly (Window | undefined)[],
  now: number,
): Decision<Name> {
  const binding = bindingLimit(limits, windows);
  return binding < 0 ? ALLOWED : decideOne(limits[binding]!, keys[binding]!, windows[binding], now);
}

/** decide() for one limit: what the verifier's per-key stage asks on every verification, with no arrays to make. */
export function decideOne<Name extends string>(limit: Limit<Name>, key: string, window: Window | undefined, now: number): Decision<Name> {
  if (window === undefined) return ALLOWED;
  const refused = window.count > limit.max;
  if (!refused && !limit.fieldsOnEveryResponse) return ALLOWED;
  const resetSeconds = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
  const fields = { limit: limit.max, remaining: window.count >= limit.max ? 0 : limit.max - window.count, resetSeconds };
  if (!refused) return { allowed: true, fields };
  const detail = `Rate limit exceeded: ${limit.description} ${whoseWords(limit, key)}, retry in ${plural(resetSeconds, 'second')}`;
  return { allowed: false, limit, fields, retryAfterSeconds: resetSeconds, detail };
}

/** The index of the limit that binds first, of those with a window; -1 where none has one. */
export function bindingLimit(limits: readonly Limit[], windows: readonly (Window | undefined)[]): number {
  let binding = -1;
  for (let i = 0; i < limits.length; i++) {
    const window = windows[i];
    if (window === undefined) continue;
    if (binding < 0 || !binds(limits[binding]!, windows[binding]!, limits[i]!, window)) binding = i;
  }
  return binding;
}

/** Whether limit `a` binds before `b`: refused before allowed, then the longer wait. */
function binds(a: Limit, aWindow: Window, b: Limit, bWindow: Window): boolean {
  const aExceeded = aWindow.count > a.max;
  const bExceeded = bWindow.count > b.max;
  if (aExceeded !== bExceeded) return aExceeded;
  return aWindow.resetAt >= bWindow.resetAt;
}

function whoseWords(limit: Limit, key: string): string {
  if (limit.whose === 'user') return 'per user';
  if (limit.whose === 'account') return 'for this account';
  return limit.whose === 'address' || key.startsWith(ADDRESS_KEY_PREFIX) ? 'from this address' : 'for this key';
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
