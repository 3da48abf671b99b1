import { Conflict, InvalidInput, LimitReached, NotFound } from '../errors.js';
import { applyMergePatch, isJsonObject } from '../merge-patch.js';
import type { ApiKeyMetadata, ApiKeyRepository, SettingsChange } from '../store/api-keys-repository.js';
import { ENVIRONMENTS, type Environment, type KeyFormat } from './format.js';
import type { KeyHasher } from './hashing.js';
import type { KeyChanges } from './key-changes.js';
import { environmentOfRow, graceRunning, quotaColumns, quotaOfRow, settingsColumns, settingsOfRow } from './key-record.js';
import {
  checkQuotaPatch,
  closedObject,
  SETTINGS_FIELDS,
  DEFAULT_SETTINGS,
  readSettings,
  settingsDocument,
  validInteger,
  type KeySettings,
  type QuotaSettings,
} from './key-settings.js';
import { dueRefill, periodStart, quotaAsOf } from './quota.js';
import { hasControlCharacters, isWellFormedUnicode } from '../text.js';

export interface KeyRules {
  maxKeysPerUser: number;
  defaultExpiresDays: number;
  maxExpiresDays: number;
  /** The longest grace period a rotation may give the old secret. */
  maxGraceSeconds: number;
}

/** The fields a PATCH may change; anything else is refused, not ignored. */
const PATCHABLE = ['name', 'expires_at', ...SETTINGS_FIELDS];

export const NAME_MAX_LENGTH = 100;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface ApiKeyView {
  keyId: string;
  name: string;
  created: string;
  expiresAt: string;
  lastUsed: string | null;
}

export interface IssuedKey extends ApiKeyView {
  /** The key itself: handed out once, never stored. */
  apiKey: string;
}

/** One key in full, as GET and PATCH answer: never a secret or a hash. */
export interface KeyDetails extends ApiKeyView {
  userId: string;
  environment: Environment;
  /** With the quota's remaining as of now (a refill that is due counts as done). */
  settings: KeySettings;
  /** When a quota with refill refills next; null without one. */
  nextRefillAt: string | null;
  /** During a grace rotation, when the previous secret stops working; else null. */
  previousKeyExpiresAt: string | null;
}

export interface CreateKeyInput {
  name: unknown;
  expiresDays?: unknown;
  environment?: unknown;
  /** The request's optional settings fields (scopes, metadata, status, rate_limit, quota), as sent. */
  settings?: Record<string, unknown>;
}

/** Every rule about a user's API keys, whoever calls: HTTP, the CLI or the library. */
export class ApiKeyService {
  constructor(
    private readonly repository: ApiKeyRepository,
    /** Every change this service makes to a key goes through it. */
    private readonly changes: KeyChanges,
    private readonly format: KeyFormat,
    private readonly hasher: KeyHasher,
    private readonly rules: KeyRules,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(userId: string, input: CreateKeyInput): Promise<IssuedKey> {
    const name = this.validName(input.name);
    const expiresDays = this.validExpiresDays(input.expiresDays ?? this.rules.defaultExpiresDays);
    const environment = validEnvironment(input.environment ?? 'live');
    const settings = readSettings(input.settings ?? {}, DEFAULT_SETTINGS);
    // Refused before any hashing when the limit is plainly reached; the insert below counts again,
    // atomically, for creates that race.
    if ((await this.repository.countByUser(userId)) >= this.rules.maxKeysPerUser) throw this.limitReached();
    const keyId = this.format.newKeyId();
    const apiKey = this.format.issue(keyId, environment);
    // Hash before the transaction: bcrypt takes tens of milliseconds and must not hold the lock.
    const keyHash = await this.hasher.hash(apiKey);
    const created = this.now();
    const row = {
      key_id: keyId,
      user_id: userId,
      name,
      key_hash: keyHash,
      created_at: created.toISOString(),
      expires_at: new Date(created.getTime() + expiresDays * DAY_MS).toISOString(),
      last_used_at: null,
      environment,
      ...settingsColumns(settings),
      ...quotaColumns(settings.quota, this.quotaPeriod(settings.quota, created)),
      previous_key_hash: null,
      previous_key_expires_at: null,
      version: 1,
    };
    const inserted = await this.changes.apply('created', (writes) => writes.insertWithinLimit(row, this.rules.maxKeysPerUser));
    if (!inserted) throw this.limitReached();
    return { ...toView(row), apiKey };
  }

  async list(userId: string): Promise<ApiKeyView[]> {
    return (await this.repository.listByUser(userId)).map(toView);
  }

  /** One of the user's keys in full; 404 for a key that is unknown or someone else's, alike. */
  async get(userId: string, keyId: string): Promise<KeyDetails> {
    return this.detailsOf(await this.owned(userId, keyId));
  }

  /**
   * Changes the key as a JSON merge patch (RFC 7396) of its document (name, expires_at, scopes,
   * metadata, status, rate_limit, quota) says: members set replace, null removes (back to the
   * default), objects merge. The whole result is checked by the rules create applies, so a
   * patch cannot make a key that create would refuse. Only the columns that change are written,
   * and only if nobody changed the key since it was read (409 otherwise): a quota's count, which
   * verifications move meanwhile, is written only when the patch sets it.
   */
  async update(userId: string, keyId: string, patch: unknown): Promise<KeyDetails> {
    if (!isJsonObject(patch)) throw new InvalidInput([], 'The body must be a JSON object: a JSON merge patch of the key', 'dict_type');
    closedObject(patch, [], PATCHABLE);
    checkQuotaPatch(patch.quota);
    const row = await this.owned(userId, keyId);
    const current = this.detailsOf(row);
    const document = { name: current.name, expires_at: current.expiresAt, ...settingsDocument(current.settings) };
    const merged = applyMergePatch(document, patch) as Record<string, unknown>;
    const now = this.now();
    const settings = readSettings(merged, DEFAULT_SETTINGS);
    const change: SettingsChange = {
      name: this.validName(merged.name),
      expires_at: 'expires_at' in patch ? this.validExpiresAt(merged.expires_at, now) : row.expires_at,
      ...settingsColumns(settings),
    };
    const quota = 'quota' in patch ? this.quotaChange(row, settings.quota, patch.quota, now) : { count: {}, settings: {} };
    // The count is written when the patch sets it, even to what the row read: verifications
    // move it without a new version, so "unchanged" here may be stale by now.
    const changed: SettingsChange = { ...differing(row, { ...change, ...quota.settings }), ...quota.count };
    if (Object.keys(changed).length === 0) return current;
    const updated = await this.changes.apply('updated', (writes) => writes.updateSettings(userId, keyId, row.version, changed));
    if (updated === undefined) {
      throw new Conflict('The key was changed, rotated or revoked concurrently: this change did not take effect. Read the key and retry.');
    }
    return this.detailsOf(updated);
  }

  /**
   * A new secret under the same key_id; everything else about the key is kept. Without a grace
   * the old secret dies at once; with `graceSeconds` it keeps working that long beside the new
   * one (a previous grace ends at once: only one old secret ever works). The key is looked up
   * before any hashing, and replaced only if no other rotation replaced it meanwhile: of two
   * concurrent rotations one wins and the other is told (409), so no caller holds a key that is
   * dead on arrival.
   */
  async rotate(userId: string, keyId: string, options: { graceSeconds?: unknown } = {}): Promise<IssuedKey> {
    // Absent is no grace; null is no integer (the documented schema says integer).
    const graceSeconds = this.validGraceSeconds(options.graceSeconds === undefined ? 0 : options.graceSeconds);
    const row = this.format.isKeyId(keyId) ? await this.repository.findForRotation(userId, keyId) : undefined;
    if (row === undefined) throw new NotFound('API key not found');
    const apiKey = this.format.issue(keyId, environmentOfRow(row));
    const keyHash = await this.hasher.hash(apiKey);
    const previousExpiresAt = graceSeconds === 0 ? null : new Date(this.now().getTime() + graceSeconds * 1000).toISOString();
    const updated = await this.changes.apply('rotated', (writes) => writes.rotate(userId, keyId, row.version, row.key_hash, keyHash, previousExpiresAt));
    if (!updated) {
      throw new Conflict('The key was rotated or revoked concurrently: this rotation did not take effect. List your keys and retry.');
    }
    return { ...toView(updated), apiKey };
  }

  /** Deletes the key. A key that is unknown or someone else's is left alone, and nothing says which. */
  async revoke(userId: string, keyId: string): Promise<void> {
    if (this.format.isKeyId(keyId)) await this.changes.apply('revoked', (writes) => writes.delete(userId, keyId));
  }

  private async owned(userId: string, keyId: string): Promise<ApiKeyMetadata> {
    const row = this.format.isKeyId(keyId) ? await this.repository.findOwned(userId, keyId) : undefined;
    if (row === undefined) throw new NotFound('API key not found');
    return row;
  }

  private detailsOf(row: ApiKeyMetadata): KeyDetails {
    const now = this.now();
    const settings = settingsOfRow(row);
    const quota = quotaOfRow(row);
    const asOfNow = quota && quotaAsOf(quota, now);

    return {
      ...toView(row),
      userId: row.user_id,
      environment: environmentOfRow(row),
      settings: { ...settings, quota: settings.quota && { ...settings.quota, remaining: asOfNow!.remaining } },
      nextRefillAt: asOfNow?.nextRefillAt ?? null,
      previousKeyExpiresAt: graceRunning(row, now.getTime()) ? row.previous_key_expires_at : null,
    };
  }

  /** The refill period a quota set now counts down: the current one, or none without refill. */
  private quotaPeriod(quota: QuotaSettings | null, now: Date): string | null {
    return quota?.refill ? periodStart(quota.refill.interval, now) : null;
  }

  /**
   * The quota columns a patch of `quota` writes: `settings`, written where they differ from the
   * row; `count` (remaining and its period), always. A count the patch does not set is left to
   * the verifications that move it, unless the quota is new or removed, or a refill is due (then
   * the refilled count, which the patch was checked against, is written): the refill settings
   * alone change. A count it sets starts counting in the current period, as does a kept count
   * under a refill added or moved to another interval.
   */
  private quotaChange(row: ApiKeyMetadata, quota: QuotaSettings | null, patched: unknown, now: Date): QuotaColumnsChange {
    const before = quotaOfRow(row);
    const setsCount = quota === null || before === null || (isJsonObject(patched) && 'remaining' in patched) || dueRefill(before, now) !== undefined;
    const { quota_remaining, quota_period, ...settings } = quotaColumns(quota, this.quotaPeriod(quota, now));
    if (setsCount) return { count: { quota_remaining, quota_period }, settings };
    const newCalendar = row.quota_refill_interval !== settings.quota_refill_interval;
    return { count: newCalendar ? { quota_period } : {}, settings };
  }

  private limitReached(): LimitReached {
    return new LimitReached(
      `Maximum of ${this.rules.maxKeysPerUser} API keys allowed per user. Revoke an existing key before creating more.`,
    );
  }

  private validName(raw: unknown): string {
    if (typeof raw !== 'string') throw new InvalidInput('name', 'Input should be a valid string', 'string_type');
    // Lone surrogates have no UTF-8 form: PostgreSQL would store U+FFFD, SQLite other bytes,
    // so the stored name would differ from the one acknowledged.
    if (!isWellFormedUnicode(raw)) {
      throw new InvalidInput('name', 'Name must be well-formed Unicode (it has a lone surrogate)', 'string_unicode');
    }
    const name = raw.trim();
    const length = [...name].length;
    if (length === 0) throw new InvalidInput('name', 'Name must not be empty or blank', 'string_too_short');
    if (length > NAME_MAX_LENGTH) {
      throw new InvalidInput('name', `Name should have at most ${NAME_MAX_LENGTH} characters`, 'string_too_long');
    }
    if (hasControlCharacters(name)) {
      throw new InvalidInput('name', 'Name must not contain control characters', 'string_pattern_mismatch');
    }
    return name;
  }

  private validExpiresAt(raw: unknown, now: Date): string {
    const at = typeof raw === 'string' && ISO_TIMESTAMP.test(raw) ? Date.parse(raw) : NaN;
    if (Number.isNaN(at)) {
      throw new InvalidInput('expires_at', 'Input should be a valid datetime, e.g. 2027-01-31T00:00:00Z', 'datetime_type');
    }
    const latest = now.getTime() + this.rules.maxExpiresDays * DAY_MS;
    if (at <= now.getTime() || at > latest) {
      throw new InvalidInput(
        'expires_at',
        `Input should be in the future and at most ${this.rules.maxExpiresDays} days from now (${new Date(latest).toISOString()})`,
        at <= now.getTime() ? 'greater_than' : 'less_than_equal',
      );
    }
    return new Date(at).toISOString();
  }

  private validGraceSeconds(raw: unknown): number {
    return validInteger(raw, 'grace_seconds', 0, this.rules.maxGraceSeconds, 'Input', ' seconds');
  }

  private validExpiresDays(raw: unknown): number {
    return validInteger(raw, 'expires_days', 1, this.rules.maxExpiresDays, 'Input', ' days');
  }

}

interface QuotaColumnsChange {
  count: Pick<SettingsChange, 'quota_remaining' | 'quota_period'>;
  settings: Pick<SettingsChange, 'quota_refill_amount' | 'quota_refill_interval'>;
}

/** The columns of `change` whose value differs from the row's. */
function differing(row: ApiKeyMetadata, change: SettingsChange): SettingsChange {
  return Object.fromEntries(Object.entries(change).filter(([column, value]) => value !== row[column as keyof ApiKeyMetadata]));
}

/** RFC 3339 date-time, with a zone: what the OpenAPI document's format promises. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function validEnvironment(raw: unknown): Environment {
  if (typeof raw !== 'string' || !(ENVIRONMENTS as readonly string[]).includes(raw)) {
    throw new InvalidInput('environment', `Input should be ${ENVIRONMENTS.map((name) => `'${name}'`).join(' or ')}`, 'enum');
  }
  return raw as Environment;
}

function toView(row: ApiKeyMetadata): ApiKeyView {
  return {
    keyId: row.key_id,
    name: row.name,
    created: row.created_at,
    expiresAt: row.expires_at,
    lastUsed: row.last_used_at,
  };
}
