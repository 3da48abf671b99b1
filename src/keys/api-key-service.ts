import { Conflict, InvalidInput, LimitReached, NotFound } from '../errors.js';
import type { ApiKeyMetadata, ApiKeyRepository } from '../store/api-keys-repository.js';
import type { KeyFormat } from './format.js';
import type { KeyHasher } from './hashing.js';
import type { KeyChanges } from './key-changes.js';
import { hasControlCharacters, isWellFormedUnicode } from '../text.js';

export interface KeyRules {
  maxKeysPerUser: number;
  defaultExpiresDays: number;
  maxExpiresDays: number;
}

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

export interface CreateKeyInput {
  name: unknown;
  expiresDays?: unknown;
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
    // Refused before any hashing when the limit is plainly reached; the insert below counts again,
    // atomically, for creates that race.
    if ((await this.repository.countByUser(userId)) >= this.rules.maxKeysPerUser) throw this.limitReached();
    const keyId = this.format.newKeyId();
    const apiKey = this.format.issue(keyId);
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
    };
    const inserted = await this.changes.apply('created', (writes) => writes.insertWithinLimit(row, this.rules.maxKeysPerUser));
    if (!inserted) throw this.limitReached();
    return { ...toView(row), apiKey };
  }

  async list(userId: string): Promise<ApiKeyView[]> {
    return (await this.repository.listByUser(userId)).map(toView);
  }

  /**
   * A new secret under the same key_id; name, created and expires_at are kept, the old key dies.
   * The key is looked up before any hashing, and replaced only if no other rotation replaced it
   * meanwhile: of two concurrent rotations one wins and the other is told (409), so no caller
   * holds a key that is dead on arrival.
   */
  async rotate(userId: string, keyId: string): Promise<IssuedKey> {
    const current = this.format.isKeyId(keyId) ? await this.repository.findHash(userId, keyId) : undefined;
    if (current === undefined) throw new NotFound('API key not found');
    const apiKey = this.format.issue(keyId);
    const keyHash = await this.hasher.hash(apiKey);
    const updated = await this.changes.apply('rotated', (writes) => writes.replaceHash(keyId, current, keyHash, userId));
    if (!updated) {
      throw new Conflict('The key was rotated or revoked concurrently: this rotation did not take effect. List your keys and retry.');
    }
    return { ...toView(updated), apiKey };
  }

  /** Deletes the key. A key that is unknown or someone else's is left alone, and nothing says which. */
  async revoke(userId: string, keyId: string): Promise<void> {
    if (this.format.isKeyId(keyId)) await this.changes.apply('revoked', (writes) => writes.delete(userId, keyId));
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

  private validExpiresDays(raw: unknown): number {
    if (typeof raw !== 'number' || !Number.isInteger(raw)) {
      throw new InvalidInput('expires_days', 'Input should be a valid integer', 'int_type');
    }
    if (raw < 1 || raw > this.rules.maxExpiresDays) {
      throw new InvalidInput(
        'expires_days',
        `Input should be from 1 to ${this.rules.maxExpiresDays} days`,
        raw < 1 ? 'greater_than_equal' : 'less_than_equal',
      );
    }
    return raw;
  }
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
