import { oversees, reaches, type Actor } from '../audit/actor.js';
import { fieldChanges, type AuditAction, type AuditDraft, type FieldChanges } from '../audit/audit-event.js';
import { Conflict, Forbidden, InvalidInput, LimitReached, NotFound } from '../errors.js';
import { decodeCursor, pageOf, validLimit } from '../list-query.js';
import { validChoice, validTimestamp, validUserId } from '../valid-input.js';
import { applyMergePatch, isJsonObject } from '../merge-patch.js';
import type { ApiKeyMetadata, ApiKeyRepository, KeyFilter, SettingsChange } from '../store/api-keys-repository.js';
import { ENVIRONMENTS, type Environment, type KeyFormat } from './format.js';
import type { KeyHasher } from './hashing.js';
import type { KeyChanges } from './key-changes.js';
import { environmentOfRow, graceRunning, quotaColumns, quotaOfRow, settingsColumns, settingsOfRow } from './key-record.js';
import {
  checkQuotaPatch,
  closedObject,
  KEY_STATUSES,
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
  /** The owner. */
  userId: string;
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
  environment: Environment;
  /** With the quota's remaining as of now (a refill that is due counts as done). */
  settings: KeySettings;
  /** When a quota with refill refills next; null without one. */
  nextRefillAt: string | null;
  /** During a grace rotation, when the previous secret stops working; else null. */
  previousKeyExpiresAt: string | null;
}

export interface CreateKeyInput {
  /** The owner, for an actor who acts for anyone (an admin, the CLI); a user's keys are their own. */
  userId?: unknown;
  name: unknown;
  expiresDays?: unknown;
  environment?: unknown;
  /** The request's optional settings fields (scopes, metadata, status, rate_limit, quota), as sent. */
  settings?: Record<string, unknown>;
}

/** What an operator's listing of every user's keys asks, as a query string gives it. */
export interface KeyListQuery {
  userId?: unknown;
  status?: unknown;
  environment?: unknown;
  limit?: unknown;
  cursor?: unknown;
}

/** A page of every user's keys, and where the next one starts (null: this was the last). */
export interface KeyPage {
  keys: KeyDetails[];
  nextCursor: string | null;
}

/**
 * Every rule about API keys, whoever calls: HTTP, the CLI or the library. Each method takes the
 * actor: a user reaches their own keys only (anyone else's reads as absent, and the attempt is
 * audited); an admin, the CLI, a leak report or a key's holder reach any key.
 */
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

  private readonly byId = (keyId: string) => this.repository.findById(keyId);

  async create(actor: Actor, input: CreateKeyInput): Promise<IssuedKey> {
    if (actor.type !== 'user' && !oversees(actor)) throw new Forbidden('Only a user, an admin or the CLI creates keys');
    // A user's keys are their own; only whoever oversees (an admin, the CLI) names the owner.
    const userId = oversees(actor) ? validUserId(input.userId) : actor.id;
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
    const inserted = await this.changes.apply(
      'created',
      actor,
      (writes) => writes.insertWithinLimit(row, this.rules.maxKeysPerUser),
      (done) => (done ? { action: 'key.created', keyId, ownerId: userId, changes: fieldChanges(null, this.documentOf(row)) } : undefined),
    );
    if (!inserted) throw this.limitReached();
    return { ...toView(row), apiKey };
  }

  /** The user's own keys, newest first. */
  async list(userId: string): Promise<ApiKeyView[]> {
    return (await this.repository.listByUser(userId)).map(toView);
  }

  /**
   * Every user's keys that pass the query's filters (user_id, status, environment), newest first,
   * a page of `limit` after `cursor` (a previous page's nextCursor): for an actor who acts for
   * anyone; a user is refused.
   */
  async listAll(actor: Actor, query: KeyListQuery): Promise<KeyPage> {
    if (!oversees(actor)) throw new Forbidden("Only an admin may list other users' keys");
    const filter: KeyFilter = {};
    if (query.userId !== undefined) filter.userId = validUserId(query.userId);
    if (query.status !== undefined) filter.status = validChoice(query.status, 'status', KEY_STATUSES);
    if (query.environment !== undefined) filter.environment = validEnvironment(query.environment);
    const limit = validLimit(query.limit);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, (id) => this.format.isKeyId(id));
    const rows = await this.repository.listAll(filter, limit + 1, after && { createdAt: after[0], keyId: after[1] });
    const page = pageOf(rows, limit, (row) => [row.created_at, row.key_id]);
    return { keys: page.rows.map((row) => this.detailsOf(row)), nextCursor: page.nextCursor };
  }

  /** One key in full; 404 for a key that is unknown or out of the actor's reach, alike. */
  async get(actor: Actor, keyId: string): Promise<KeyDetails> {
    return this.detailsOf(await this.reach(actor, keyId, 'key.read', this.byId));
  }

  /**
   * Resolves when `actor` may read the key, as get() decides; else NotFound, the attempt audited.
   * For what is read about a key elsewhere (its usage history), under the same rule.
   */
  async checkReadable(actor: Actor, keyId: string): Promise<void> {
    await this.reach(actor, keyId, 'key.read', this.byId);
  }

  /**
   * Changes the key as a JSON merge patch (RFC 7396) of its document (name, expires_at, scopes,
   * metadata, status, rate_limit, quota) says: members set replace, null removes (back to the
   * default), objects merge. The whole result is checked by the rules create applies, so a
   * patch cannot make a key that create would refuse. Only the columns that change are written,
   * and only if nobody changed the key since it was read (409 otherwise): a quota's count, which
   * verifications move meanwhile, is written only when the patch sets it.
   */
  async update(actor: Actor, keyId: string, patch: unknown): Promise<KeyDetails> {
    if (!isJsonObject(patch)) throw new InvalidInput([], 'The body must be a JSON object: a JSON merge patch of the key', 'dict_type');
    closedObject(patch, [], PATCHABLE);
    checkQuotaPatch(patch.quota);
    const row = await this.reach(actor, keyId, 'key.updated', this.byId);
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
    const before = this.documentOf(row);
    const updated = await this.changes.apply(
      'updated',
      actor,
      (writes) => writes.updateSettings(row.user_id, keyId, row.version, changed),
      (after) => after && updateEvent(row, fieldChanges(before, this.documentOf(after), 'quota_remaining' in changed)),
    );
    if (updated === undefined) {
      throw new Conflict('The key was changed, rotated or revoked concurrently: this change did not take effect. Read the key and retry.');
    }
    return this.detailsOf(updated);
  }

  /**
   * Disables or enables the key: a PATCH of its status alone, retried when a concurrent change
   * won (the status it sets does not depend on what that change did).
   */
  async setStatus(actor: Actor, keyId: string, status: 'active' | 'disabled'): Promise<KeyDetails> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.update(actor, keyId, { status });
      } catch (error) {
        if (!(error instanceof Conflict) || attempt === STATUS_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * A new secret under the same key_id; everything else about the key is kept. Without a grace
   * the old secret dies at once; with `graceSeconds` it keeps working that long beside the new
   * one (a previous grace ends at once: only one old secret ever works). The key is looked up
   * before any hashing, and replaced only if no other rotation replaced it meanwhile: of two
   * concurrent rotations one wins and the other is told (409), so no caller holds a key that is
   * dead on arrival.
   */
  async rotate(actor: Actor, keyId: string, options: { graceSeconds?: unknown } = {}): Promise<IssuedKey> {
    // Absent is no grace; null is no integer (the documented schema says integer).
    const graceSeconds = this.validGraceSeconds(options.graceSeconds === undefined ? 0 : options.graceSeconds);
    const row = await this.reach(actor, keyId, 'key.rotated', (id) => this.repository.findForRotation(id));
    const apiKey = this.format.issue(keyId, environmentOfRow(row));
    const keyHash = await this.hasher.hash(apiKey);
    const previousExpiresAt = graceSeconds === 0 ? null : new Date(this.now().getTime() + graceSeconds * 1000).toISOString();
    const updated = await this.changes.apply(
      'rotated',
      actor,
      (writes) => writes.rotate(row.user_id, keyId, row.version, row.key_hash, keyHash, previousExpiresAt),
      (done) =>
        done && {
          action: 'key.rotated',
          keyId,
          ownerId: row.user_id,
          detail: { grace_seconds: graceSeconds, previous_key_expires_at: previousExpiresAt },
        },
    );
    if (!updated) {
      throw new Conflict('The key was rotated or revoked concurrently: this rotation did not take effect. List your keys and retry.');
    }
    return { ...toView(updated), apiKey };
  }

  /**
   * Deletes the key; whether there was one to delete. A key that is unknown or out of the actor's
   * reach is left alone (the attempt is audited); HTTP answers both alike, so nothing tells a
   * caller which. The event keeps what the key was, all but its secret.
   */
  async revoke(actor: Actor, keyId: string): Promise<boolean> {
    const row = await this.reach(actor, keyId, 'key.revoked', this.byId).catch((error: unknown) => {
      if (error instanceof NotFound) return undefined;
      throw error;
    });
    if (row === undefined) return false;
    const deleted = await this.changes.apply(
      'revoked',
      actor,
      (writes) => writes.delete(row.user_id, keyId),
      // What the key was when it went, not when it was read: a change may have come in between.
      (deleted) => deleted && { action: 'key.revoked', keyId, ownerId: deleted.user_id, changes: fieldChanges(this.documentOf(deleted), null) },
    );
    return deleted !== undefined;
  }

  /**
   * The key as `find` reads it (by default without its hashes), if `actor` may reach it: their
   * own, or anyone's for an actor who acts for anyone. Otherwise the attempt (`action`, refused)
   * is audited, with the owner when the key exists (so that they see it), and NotFound thrown,
   * the same for a key that does not exist: nobody learns whether another's key_id is real.
   */
  private async reach<Row extends { user_id: string }>(
    actor: Actor,
    keyId: string,
    action: AuditAction,
    find: (keyId: string) => Promise<Row | undefined>,
  ): Promise<Row> {
    const wellFormed = this.format.isKeyId(keyId);
    const row = wellFormed ? await find(keyId) : undefined;
    if (row !== undefined && reaches(actor, { keyId, ownerId: row.user_id })) return row;
    await this.changes.refused(actor, {
      action,
      // Only a key_id of keygate's shape is recorded: a path can carry any text, even a key.
      keyId: wellFormed ? keyId : null,
      ownerId: row?.user_id ?? null,
      detail: { reason: row === undefined ? 'not_found' : 'not_owner' },
    });
    throw new NotFound('API key not found');
  }

  /** A key's non-secret fields, as GET shows them and the audit trail compares them. */
  private documentOf(row: ApiKeyMetadata): Record<string, unknown> {
    const { name, expiresAt, environment, settings } = this.detailsOf(row);
    return { name, expires_at: expiresAt, environment, ...settingsDocument(settings) };
  }

  private detailsOf(row: ApiKeyMetadata): KeyDetails {
    const now = this.now();
    const settings = settingsOfRow(row);
    const quota = quotaOfRow(row);
    const asOfNow = quota && quotaAsOf(quota, now);

    return {
      ...toView(row),
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
    const at = Date.parse(validTimestamp(raw, 'expires_at'));
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

/** How often setStatus tries before it gives up on a key that keeps changing under it. */
const STATUS_ATTEMPTS = 3;

/** An update's event: disabled or enabled when the status moved, else updated. */
function updateEvent(row: ApiKeyMetadata, changes: FieldChanges): AuditDraft {
  const status = changes.status?.new;
  const action = status === 'disabled' ? 'key.disabled' : status === 'active' ? 'key.enabled' : 'key.updated';
  return { action, keyId: row.key_id, ownerId: row.user_id, changes };
}

interface QuotaColumnsChange {
  count: Pick<SettingsChange, 'quota_remaining' | 'quota_period'>;
  settings: Pick<SettingsChange, 'quota_refill_amount' | 'quota_refill_interval'>;
}

/** The columns of `change` whose value differs from the row's. */
function differing(row: ApiKeyMetadata, change: SettingsChange): SettingsChange {
  return Object.fromEntries(Object.entries(change).filter(([column, value]) => value !== row[column as keyof ApiKeyMetadata]));
}

function validEnvironment(raw: unknown): Environment {
  return validChoice(raw, 'environment', ENVIRONMENTS);
}

function toView(row: ApiKeyMetadata): ApiKeyView {
  return {
    keyId: row.key_id,
    userId: row.user_id,
    name: row.name,
    created: row.created_at,
    expiresAt: row.expires_at,
    lastUsed: row.last_used_at,
  };
}
