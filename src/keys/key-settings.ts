// The authority a key carries (scopes, status, a rate limit, a quota) and the metadata its owner
// attaches, with the rules that create and PATCH both apply.
//
// The bounds are those of what every verification carries: verifiers hold each key's settings
// in memory and hand its scopes and metadata back with each answer, and one row stores them all.
// 50 scopes of at most 100 characters and 4 KiB of metadata keep a key under 10 KB however it is
// filled. 16 levels of nesting keep whatever walks the metadata later (JSON.stringify, a driver,
// a client's parser) far from its stack limit. The quota's bound fits a 32-bit integer column.

import { InvalidInput } from '../errors.js';
import { isJsonObject } from '../merge-patch.js';
import { isWellFormedUnicode } from '../text.js';

export const KEY_STATUSES = ['active', 'disabled'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export const REFILL_INTERVALS = ['hour', 'day', 'month'] as const;
export type RefillInterval = (typeof REFILL_INTERVALS)[number];

/** ASCII only, so that a scope is the same text in every store, header and log line. */
export const SCOPE_PATTERN = /^[A-Za-z0-9:._-]{1,100}$/;
export const MAX_SCOPES = 50;
/** The size of the metadata as JSON, in UTF-8 bytes. */
export const METADATA_MAX_BYTES = 4096;
/** The metadata object is level 1, an object or array in it level 2, and so on. */
export const METADATA_MAX_DEPTH = 16;
/** Verifications per minute. */
export const RATE_LIMIT_MAX = 1_000_000;
export const QUOTA_MAX = 1_000_000_000;

export interface QuotaSettings {
  /** Verifications left. */
  remaining: number;
  /** How many verifications `remaining` is set back to at the start of each interval; null: never. */
  refill: { amount: number; interval: RefillInterval } | null;
}

export interface KeySettings {
  scopes: string[];
  metadata: Record<string, unknown>;
  status: KeyStatus;
  /** Verifications per minute; null: the server's limit per key. */
  rateLimit: number | null;
  /** null: no quota. */
  quota: QuotaSettings | null;
}

/** What a key carries unless told otherwise: no scopes, no metadata, active, no limits of its own. */
export const DEFAULT_SETTINGS: KeySettings = { scopes: [], metadata: {}, status: 'active', rateLimit: null, quota: null };
// Shared by every key given no settings: frozen, so that no caller can change another's.
Object.freeze(DEFAULT_SETTINGS.scopes);
Object.freeze(DEFAULT_SETTINGS.metadata);
Object.freeze(DEFAULT_SETTINGS);

/** The wire (snake_case JSON) form of settings: what create accepts, PATCH patches, GET shows. */
export interface KeySettingsDocument {
  scopes: string[];
  metadata: Record<string, unknown>;
  status: KeyStatus;
  rate_limit: number | null;
  quota: { remaining: number; refill: { amount: number; interval: RefillInterval } | null } | null;
}

export function settingsDocument(settings: KeySettings): KeySettingsDocument {
  return {
    scopes: settings.scopes,
    metadata: settings.metadata,
    status: settings.status,
    rate_limit: settings.rateLimit,
    // The quota has the same shape in both forms.
    quota: settings.quota,
  };
}

/**
 * Reads the optional settings fields of `body` (a JSON object from the request: fields absent
 * take `base`'s values), validating each; throws InvalidInput naming the first bad field. The
 * other fields of `body` are the caller's to check.
 */
/** The fields of a request that carry settings, as create and PATCH name them. */
export const SETTINGS_FIELDS = ['scopes', 'metadata', 'status', 'rate_limit', 'quota'] as const;

export function readSettings(body: Record<string, unknown>, base: KeySettings): KeySettings {
  const given = (field: string) => Object.hasOwn(body, field);
  return {
    scopes: given('scopes') ? validScopes(body.scopes) : base.scopes,
    metadata: given('metadata') ? validMetadata(body.metadata) : base.metadata,
    status: given('status') ? validStatus(body.status) : base.status,
    rateLimit: given('rate_limit') ? validRateLimit(body.rate_limit) : base.rateLimit,
    quota: given('quota') ? validQuota(body.quota) : base.quota,
  };
}

/** The scopes without duplicates, first occurrence first. */
export function validScopes(raw: unknown): string[] {
  if (!Array.isArray(raw)) throw new InvalidInput('scopes', 'Input should be a valid list', 'list_type');
  // Counted as sent, before any element is looked at.
  if (raw.length > MAX_SCOPES) {
    throw new InvalidInput('scopes', `A key can have at most ${MAX_SCOPES} scopes; this list has ${raw.length}`, 'too_long');
  }
  const scopes: string[] = [];
  for (const [index, scope] of (raw as unknown[]).entries()) {
    if (typeof scope !== 'string') throw new InvalidInput(['scopes', index], 'Input should be a valid string', 'string_type');
    if (!SCOPE_PATTERN.test(scope)) {
      throw new InvalidInput(
        ['scopes', index],
        'A scope should be 1 to 100 characters, each a letter, a digit or one of : . _ -',
        'string_pattern_mismatch',
      );
    }
    scopes.push(scope);
  }
  return [...new Set(scopes)];
}

/** The metadata as given, once it is known to be small, shallow and well-formed Unicode. */
export function validMetadata(raw: unknown): Record<string, unknown> {
  if (!isJsonObject(raw)) throw new InvalidInput('metadata', 'Input should be a valid dictionary', 'dict_type');
  checkDepthAndText(raw);
  // Only now, with the depth bounded, can JSON.stringify not overflow the stack.
  const bytes = Buffer.byteLength(JSON.stringify(raw), 'utf8');
  if (bytes > METADATA_MAX_BYTES) {
    throw new InvalidInput(
      'metadata',
      `Metadata should be at most ${METADATA_MAX_BYTES} bytes as JSON (UTF-8); this is ${bytes} bytes`,
      'too_long',
    );
  }
  return raw;
}

interface Container {
  value: Record<string, unknown> | unknown[];
  /** Where it is inside the metadata. */
  path: (string | number)[];
}

/**
 * Refuses metadata nested deeper than METADATA_MAX_DEPTH, or with a lone surrogate in a key or a
 * string (text that has no UTF-8 form: a store would keep other characters than those sent).
 * A loop, not a recursion, that stops at the first level too deep: a hostile document nests a
 * hundred thousand levels, and must get a 422 rather than a stack overflow.
 */
function checkDepthAndText(metadata: Record<string, unknown>): void {
  const pending: Container[] = [{ value: metadata, path: [] }];
  for (let container = pending.pop(); container !== undefined; container = pending.pop()) {
    const { value, path } = container;
    const entries: Iterable<[string | number, unknown]> = Array.isArray(value) ? value.entries() : Object.entries(value);
    for (const [key, member] of entries) {
      if (typeof key === 'string' && !isWellFormedUnicode(key)) throw notUnicode([...path, key], 'keys');
      if (typeof member === 'string' && !isWellFormedUnicode(member)) throw notUnicode([...path, key], 'strings');
      if (typeof member === 'object' && member !== null) {
        // The container is at level path.length + 1, its member one below.
        if (path.length + 2 > METADATA_MAX_DEPTH) {
          throw new InvalidInput(
            'metadata',
            `Metadata should nest at most ${METADATA_MAX_DEPTH} levels deep, counting the metadata object itself`,
            'too_deep',
          );
        }
        pending.push({ value: member as Container['value'], path: [...path, key] });
      }
    }
  }
}

function notUnicode(path: (string | number)[], what: 'keys' | 'strings'): InvalidInput {
  const message = `Metadata ${what} must be well-formed Unicode (this one has a lone surrogate)`;
  return new InvalidInput(['metadata', ...path], message, 'string_unicode');
}

export function validStatus(raw: unknown): KeyStatus {
  if (!isOneOf(KEY_STATUSES, raw)) throw new InvalidInput('status', `Input should be ${choices(KEY_STATUSES)}`, 'enum');
  return raw;
}

/** null (the server's limit per key applies), or verifications per minute. */
export function validRateLimit(raw: unknown): number | null {
  if (raw === null) return null;
  return validInteger(raw, 'rate_limit', 1, RATE_LIMIT_MAX, 'The rate limit', ' verifications per minute (or null for the server default)');
}

const QUOTA_FIELDS = ['remaining', 'refill'];
const REFILL_FIELDS = ['amount', 'interval'];

export function validQuota(raw: unknown): QuotaSettings | null {
  if (raw === null) return null;
  const quota = closedObject(raw, ['quota'], QUOTA_FIELDS);
  if (!Object.hasOwn(quota, 'remaining')) throw missing(['quota', 'remaining']);
  return {
    remaining: validInteger(quota.remaining, ['quota', 'remaining'], 0, QUOTA_MAX, 'The remaining quota', ' verifications'),
    refill: Object.hasOwn(quota, 'refill') ? validRefill(quota.refill) : null,
  };
}

function validRefill(raw: unknown): QuotaSettings['refill'] {
  if (raw === null) return null;
  const refill = closedObject(raw, ['quota', 'refill'], REFILL_FIELDS);
  if (!Object.hasOwn(refill, 'amount')) throw missing(['quota', 'refill', 'amount']);
  const amount = validInteger(refill.amount, ['quota', 'refill', 'amount'], 1, QUOTA_MAX, 'The refill amount', ' verifications');
  if (!Object.hasOwn(refill, 'interval')) throw missing(['quota', 'refill', 'interval']);
  const { interval } = refill;
  if (!isOneOf(REFILL_INTERVALS, interval)) {
    throw new InvalidInput(['quota', 'refill', 'interval'], `Input should be ${choices(REFILL_INTERVALS)}`, 'enum');
  }
  return { amount, interval };
}

/**
 * The members of a merge patch's quota, checked before the merge: its null deletes a member,
 * so `{"quota": {"refil": null}}` would merge into a valid quota with its typo gone.
 */
export function checkQuotaPatch(patch: unknown): void {
  if (!isJsonObject(patch)) return;
  closedObject(patch, ['quota'], QUOTA_FIELDS);
  if (isJsonObject(patch.refill)) closedObject(patch.refill, ['quota', 'refill'], REFILL_FIELDS);
}

const NONE_MISSING: string[] = [];

/**
 * Whether a key with these settings grants every one of `required`: the ones it lacks, in the
 * order asked. Exact string match (no wildcards).
 */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  // A scan rather than a Set (at most 50 granted), and an array only for a refusal: a granted
  // requirement allocates nothing on the verification path.
  for (const scope of required) {
    if (!granted.includes(scope)) return required.filter((asked) => !granted.includes(asked));
  }
  return NONE_MISSING;
}

type Field = InvalidInput['field'];

/**
 * An object with no members but `allowed`: a misspelt member is refused, not ignored. `field`
 * is where it stands in the body ([] for the body itself).
 */
export function closedObject(raw: unknown, field: readonly string[], allowed: readonly string[], whole = 'the body'): Record<string, unknown> {
  if (!isJsonObject(raw)) throw new InvalidInput(field, 'Input should be a valid dictionary', 'dict_type');
  const extra = Object.keys(raw).find((key) => !allowed.includes(key));
  if (extra !== undefined) {
    const message = `Extra inputs are not permitted: ${field.length === 0 ? whole : field.join('.')} has only ${[allowed.slice(0, -1).join(', '), allowed.at(-1)].filter(Boolean).join(' and ')}`;
    throw new InvalidInput([...field, extra], message, 'extra_forbidden');
  }
  return raw;
}

/**
 * An integer from `min` to `max`, else InvalidInput at `field` ("<subject> should be from <min>
 * to <max><unit>"). A boolean or a numeric string is no integer, however it reads.
 */
export function validInteger(raw: unknown, field: Field, min: number, max: number, subject: string, unit: string): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw)) {
    throw new InvalidInput(field, 'Input should be a valid integer', 'int_type');
  }
  if (raw < min || raw > max) {
    throw new InvalidInput(field, `${subject} should be from ${min} to ${max}${unit}`, raw < min ? 'greater_than_equal' : 'less_than_equal');
  }
  return raw;
}

function missing(field: Field): InvalidInput {
  return new InvalidInput(field, 'Field required', 'missing');
}

function isOneOf<T extends string>(values: readonly T[], raw: unknown): raw is T {
  return (values as readonly unknown[]).includes(raw);
}

/** 'a', 'b' or 'c', as pydantic words it. */
function choices(values: readonly string[]): string {
  const quoted = values.map((value) => `'${value}'`);
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}
