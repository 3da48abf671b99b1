import { randomBytes } from 'node:crypto';
import type { Config, VerifierConfig } from './config.js';
import { Accounts } from './accounts/accounts.js';
import { RefreshTokens } from './auth/refresh-tokens.js';
import { WebSessions } from './auth/web-sessions.js';
import { ApiKeyService } from './keys/api-key-service.js';
import { FastHmac } from './keys/fast-hmac.js';
import { KeyFormat } from './keys/format.js';
import { KeyChanges } from './keys/key-changes.js';
import { KeyHasher } from './keys/hashing.js';
import { UseRecorder } from './keys/use-recorder.js';
import { UsageHistory } from './keys/usage-history.js';
import { KeyVerifier, type VerifierObserver } from './keys/verifier.js';
import { createMetrics, type Metrics } from './metrics.js';
import { ApiKeyRepository } from './store/api-keys-repository.js';
import { ChangeFeedError, LocalFeed, type ChangeFeed } from './keys/change-feed.js';
import { PostgresChangeFeed, type FeedSettings } from './store/postgres-change-feed.js';
import { SqliteChangeFeed } from './store/sqlite-change-feed.js';
import { AuditRepository } from './store/audit-repository.js';
import { UsageRepository } from './store/usage-repository.js';
import { RefreshTokensRepository } from './store/refresh-tokens-repository.js';
import { UsersRepository } from './store/users-repository.js';
import { WebSessionsRepository } from './store/web-sessions-repository.js';
import { AuditTrail } from './audit/audit-trail.js';
import { openDatabase, type KeygateDb, type Store } from './store/database.js';
import type { DatabaseOutages } from './store/outage.js';
import { getOrCreateSetting } from './store/settings.js';
import { ExchangeTokens } from './tokens/exchange-tokens.js';
import { createUserTokenVerifier, type UserTokenVerifier } from './tokens/user-tokens.js';

/** Everything a running keygate holds, built from the config; the server and the CLI share it. */
export interface Keygate {
  config: Config;
  db: KeygateDb;
  apiKeys: ApiKeyService;
  /** The one path of every change to a key: tells its listeners of each audit event. */
  changes: KeyChanges;
  audit: AuditTrail;
  /** Each key's verifications per hour, and their retention. */
  usage: UsageHistory;
  users: UserTokenVerifier;
  /** The HS256 secret of local user tokens. */
  userTokenSecret: string;
  /**
   * Whether this very start generated (and stored) that secret, which the start-up banner
   * says. False when another process starting at the same time stored its own first.
   */
  userTokenSecretGenerated: boolean;
  verifier: KeyVerifier;
  exchange: ExchangeTokens;
  /** Local accounts (users table). */
  accounts: Accounts;
  /** Browser sessions, whichever way they signed in (a password, OIDC). */
  sessions: WebSessions;
  /** The refresh tokens of POST /auth/refresh. */
  refreshTokens: RefreshTokens;
  metrics: Metrics;
  /** Tells its watchers when the database stops answering and when it answers again. */
  databaseOutages: DatabaseOutages;
  /** Writes pending last-use times and usage counts, then closes the database. */
  close(): Promise<void>;
}

/** The verification side alone: what the library's createKeyVerifier needs too. */
export interface VerificationParts {
  db: KeygateDb;
  repository: ApiKeyRepository;
  /** The one path of every change to a key, shared by the verifier and the key service. */
  changes: KeyChanges;
  format: KeyFormat;
  hasher: KeyHasher;
  verifier: KeyVerifier;
  databaseOutages: DatabaseOutages;
  close(): Promise<void>;
}

export interface VerificationOptions {
  observer?: VerifierObserver;
  /** Told when writing last-use times and usage counts, or rehashing a key, fails. */
  onError?: (error: unknown) => void;
  /** false: the database must already be keygate's, at this keygate's schema (see openDatabase). */
  migrate: boolean;
  /**
   * Whether this process verifies keys from warm entries, so that changes elsewhere must reach it
   * before they are acknowledged (default true; the CLI only writes).
   */
  holdsWarmEntries?: boolean;
}

export async function openVerification(config: VerifierConfig, options: VerificationOptions): Promise<VerificationParts> {
  const { observer, onError = () => {} } = options;
  const store = await openDatabase(config.database, { migrate: options.migrate });
  const repository = new ApiKeyRepository(store.db);
  // Generated once and kept in the database, like the other server secrets: every process on
  // it must compute the same tags and peppered hashes.
  const tagKey = await getOrCreateSetting(store.db, 'key_tag_key', () => FastHmac.newKey().toString('base64'));
  const pepper =
    config.keyPepper ?? (await getOrCreateSetting(store.db, 'key_hash_pepper', () => randomBytes(32).toString('base64url')));
  const format = new KeyFormat(config.keyPrefixes, Buffer.from(tagKey, 'base64'));
  const hasher = new KeyHasher({
    scheme: config.keyHash,
    bcryptCost: config.bcryptCost,
    pepper: Buffer.from(pepper),
    concurrency: config.bcryptConcurrency,
    maxWaiting: config.bcryptQueueLength,
    maxWaitMs: config.bcryptQueueWaitMs,
  });
  // Last of what can fail, so that nothing it holds (a connection, a lease) is left behind.
  // Its errors say that they are the feed's (not a background write's), wherever onError logs them.
  const feedSettings = {
    leaseMs: config.leaseMs,
    listens: options.holdsWarmEntries ?? true,
    onError: (error: unknown) => onError(new ChangeFeedError(error)),
  };
  const feed = await openChangeFeed(config, store, feedSettings).catch(async (error: unknown) => {
    await store.db.destroy();
    throw error;
  });
  const uses = new UseRecorder(repository, config.lastUsedFlushMs, onError);
  const changes = new KeyChanges(repository, new AuditRepository(store.db), feed);
  const verifier = new KeyVerifier(repository, changes, feed, format, hasher, uses, config.verifyCacheSize, observer, onError);
  return {
    db: store.db,
    repository,
    changes,
    format,
    hasher,
    verifier,
    databaseOutages: store.outages,
    async close() {
      await uses.close();
      await feed.close();
      await store.db.destroy();
    },
  };
}

/** The lease protocol over PostgreSQL's NOTIFY or SQLite's change log (see src/keys/change-feed.ts). */
function openChangeFeed(config: VerifierConfig, store: Store, settings: FeedSettings): Promise<ChangeFeed> {
  const { database } = config;
  if (database.kind === 'postgres') return PostgresChangeFeed.open(store.db, { url: database.url, ...settings });
  // No other process can open this one: its own changes, forgotten on commit, are all there are.
  if (database.path === ':memory:') return Promise.resolve(new LocalFeed());
  return SqliteChangeFeed.open({ path: database.path, ...settings });
}

export async function openKeygate(
  config: Config,
  onError?: (error: unknown) => void,
  options: Pick<VerificationOptions, 'holdsWarmEntries'> = {},
): Promise<Keygate> {
  const metrics = createMetrics();
  const parts = await openVerification(config, { observer: metrics.verifier, onError, migrate: true, ...options });
  const { db } = parts;
  // Generated once and kept in the database, so that every process on it (the server, the
  // CLI minting tokens, other instances) signs and checks with the same secret.
  let generatedSecret: string | undefined;
  const userTokenSecret =
    config.secret ?? (await getOrCreateSetting(db, 'user_token_secret', () => (generatedSecret = randomBytes(32).toString('base64url'))));
  const apiKeys = new ApiKeyService(parts.repository, parts.changes, parts.format, parts.hasher, config);
  const users = createUserTokenVerifier({
    secret: userTokenSecret,
    oidc: config.oidc,
    requiredScope: config.requiredScope,
    adminScope: config.adminScope,
    maxTokenTtlSeconds: config.maxTokenTtlSeconds,
  });
  const exchange = await ExchangeTokens.open(db, config.exchange);
  const userTokenSecretGenerated = generatedSecret !== undefined && generatedSecret === userTokenSecret;
  const audit = new AuditTrail(new AuditRepository(db), parts.format, config.auditRetentionDays);
  const usage = new UsageHistory(apiKeys, new UsageRepository(db), config.auditRetentionDays);
  const csrfKey = await getOrCreateSetting(db, 'session_csrf_key', () => randomBytes(32).toString('base64url'));
  const sessions = new WebSessions(new WebSessionsRepository(db), Buffer.from(csrfKey, 'base64url'), config.signIn.sessionTtlSeconds);
  const refreshTokens = new RefreshTokens(new RefreshTokensRepository(db), config.signIn.refreshTokenTtlSeconds);
  const accounts = new Accounts(new UsersRepository(db), { adminScope: config.adminScope, requiredScope: config.requiredScope });
  return {
    config,
    db,
    apiKeys,
    changes: parts.changes,
    audit,
    usage,
    users,
    userTokenSecret,
    userTokenSecretGenerated,
    verifier: parts.verifier,
    exchange,
    accounts,
    sessions,
    refreshTokens,
    metrics,
    databaseOutages: parts.databaseOutages,
    close: parts.close,
  };
}
