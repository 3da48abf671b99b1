import { randomBytes } from 'node:crypto';
import type { Config, VerifierConfig } from './config.js';
import { ApiKeyService } from './keys/api-key-service.js';
import { KeyFormat } from './keys/format.js';
import { KeyHasher } from './keys/hashing.js';
import { LastUseRecorder } from './keys/last-use.js';
import { KeyVerifier, type VerifierObserver } from './keys/verifier.js';
import { createMetrics, type Metrics } from './metrics.js';
import { ApiKeyRepository, KeyChangeStamp } from './store/api-keys-repository.js';
import { openDatabase, type KeygateDb } from './store/database.js';
import { getOrCreateSetting } from './store/settings.js';
import { ExchangeTokens } from './tokens/exchange-tokens.js';
import { createUserTokenVerifier, type UserTokenVerifier } from './tokens/user-tokens.js';

// At most this many distinct secrets are bcrypt-compared for one key_id at once: someone who
// knows a key_id cannot take the whole thread pool with wrong secrets for it.
const MAX_PENDING_COMPARES_PER_KEY = 2;

/** Everything a running keygate holds, built from the config; the server and the CLI share it. */
export interface Keygate {
  config: Config;
  db: KeygateDb;
  apiKeys: ApiKeyService;
  users: UserTokenVerifier;
  /** The HS256 secret of local user tokens. */
  userTokenSecret: string;
  verifier: KeyVerifier;
  exchange: ExchangeTokens;
  metrics: Metrics;
  /** Writes pending last-use times, then closes the database. */
  close(): Promise<void>;
}

/** The verification side alone: what the library's createKeyVerifier needs too. */
export interface VerificationParts {
  db: KeygateDb;
  repository: ApiKeyRepository;
  format: KeyFormat;
  hasher: KeyHasher;
  verifier: KeyVerifier;
  close(): Promise<void>;
}

export async function openVerification(
  config: VerifierConfig,
  observer?: VerifierObserver,
  onError: (error: unknown) => void = () => {},
): Promise<VerificationParts> {
  const store = await openDatabase(config.database);
  const repository = new ApiKeyRepository(store.db, new KeyChangeStamp(store.externalChanges));
  const format = new KeyFormat(config.keyPrefix);
  const hasher = new KeyHasher(config.bcryptCost);
  const lastUse = new LastUseRecorder(repository, config.lastUsedFlushMs, onError);
  const verifier = new KeyVerifier(
    repository,
    format,
    hasher,
    lastUse,
    {
      cacheSize: config.verifyCacheSize,
      maxPendingCompares: config.maxPendingCompares,
      maxPendingComparesPerKey: MAX_PENDING_COMPARES_PER_KEY,
    },
    observer,
  );
  return {
    db: store.db,
    repository,
    format,
    hasher,
    verifier,
    async close() {
      await lastUse.close();
      await store.db.destroy();
    },
  };
}

export async function openKeygate(config: Config, onError?: (error: unknown) => void): Promise<Keygate> {
  const metrics = createMetrics();
  const parts = await openVerification(config, metrics.verifier, onError);
  const { db } = parts;
  // Generated once and kept in the database, so that every process on it (the server, the
  // CLI minting tokens, other instances) signs and checks with the same secret.
  const userTokenSecret =
    config.secret ?? (await getOrCreateSetting(db, 'user_token_secret', () => randomBytes(32).toString('base64url')));
  const apiKeys = new ApiKeyService(parts.repository, parts.format, parts.hasher, config);
  const users = createUserTokenVerifier({ secret: userTokenSecret, oidc: config.oidc, requiredScope: config.requiredScope });
  const exchange = await ExchangeTokens.open(db, { ...config.exchange, cacheSize: config.verifyCacheSize });
  return { config, db, apiKeys, users, userTokenSecret, verifier: parts.verifier, exchange, metrics, close: parts.close };
}
