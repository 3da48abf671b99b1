import { openVerification } from './app.js';
import { loadVerifierConfig, loadVerifierConfigWith } from './config.js';
import type { HashScheme } from './keys/hashing.js';
import type { KeyRequirements } from './integrations/authenticate-request.js';
import type { Verification } from './keys/verifier.js';

/** Settings that must match keygate's server on the same database; each defaults as the server's does. */
interface KeyVerifierSettings {
  /** The server's KEYGATE_KEY_PREFIX; default mcpkey_live_. */
  keyPrefix?: string;
  /** The server's KEYGATE_TEST_KEY_PREFIX; default mcpkey_test_. */
  testKeyPrefix?: string;
  /** The server's KEYGATE_KEY_HASH (keys hashed the other way are rehashed to it); default bcrypt. */
  keyHash?: HashScheme;
  /** The server's KEYGATE_BCRYPT_COST; default 10. */
  bcryptCost?: number;
  /** The server's KEYGATE_KEY_PEPPER, if it sets one (else the pepper kept in the database is used). */
  keyPepper?: string;
  /** Warm entries kept; default 10000. */
  cacheSize?: number;
  /** How often last-use times and usage counts are written, in ms; default 2000. */
  lastUsedFlushMs?: number;
  /**
   * Told when a background write fails: last-use times and usage counts (kept and retried at the
   * next flush), or moving a key to the configured hash scheme (tried again at its next cold
   * verification); or the change feed's connection (an Error named ChangeFeedError, its message
   * starting "change feed: "; it reconnects by itself, and until then warm entries are not trusted).
   */
  onError?: (error: unknown) => void;
}

/**
 * Either the database, given in code (nothing is read from the environment), or
 * `fromEnvironment: true`: read DATABASE_URL and the KEYGATE_* variables above as keygate's server
 * does, options given here taking precedence.
 */
export type KeyVerifierOptions = KeyVerifierSettings &
  (
    | {
        /** keygate's database: `sqlite:<file>` or `postgres://...`, as the server's DATABASE_URL. */
        databaseUrl: string;
        fromEnvironment?: false;
      }
    | { databaseUrl?: string; fromEnvironment: true }
  );

export interface KeygateKeyVerifier {
  /**
   * Verifies a presented key: exact on the very next call after any change to it anywhere.
   * `requirements.scopes`: scopes the key must all have (else refused as insufficient_scope).
   * A valid key with a quota uses one verification of it (`remaining` says what is left). The
   * server's per-key rate limits are not applied here: they are the server's.
   */
  verify(presented: string, requirements?: KeyRequirements): Promise<Verification>;
  /** Writes pending last-use times and usage counts, and closes the database. */
  close(): Promise<void>;
}

/**
 * Verifies keygate keys inside another Node process, on the database keygate's server uses,
 * with no HTTP hop: the same verifier, warm cache, and last-use and usage recording as the server's.
 *
 * The database must be one keygate's server has already created and migrated, at this
 * version's schema: the library never creates or migrates a database (it may be the host
 * application's), and rejects one that is missing, not keygate's, or migrated by an older or
 * newer keygate, saying which.
 *
 * `createKeyVerifier({ databaseUrl: 'sqlite:./data/keygate.db' })`, or
 * `createKeyVerifier({ fromEnvironment: true })` to be configured like the server.
 */
export async function createKeyVerifier(options: KeyVerifierOptions): Promise<KeygateKeyVerifier> {
  const { fromEnvironment, databaseUrl } = options;
  if (fromEnvironment !== true && typeof databaseUrl !== 'string') {
    throw new TypeError('createKeyVerifier needs databaseUrl (keygate\'s database), or fromEnvironment: true to read DATABASE_URL');
  }
  // Validated as the server validates the variables of the same meaning.
  const settings: Record<string, string | undefined> = {
    DATABASE_URL: databaseUrl,
    KEYGATE_KEY_PREFIX: options.keyPrefix,
    KEYGATE_TEST_KEY_PREFIX: options.testKeyPrefix,
    KEYGATE_KEY_HASH: options.keyHash,
    KEYGATE_BCRYPT_COST: options.bcryptCost?.toString(),
    KEYGATE_KEY_PEPPER: options.keyPepper,
    KEYGATE_VERIFY_CACHE_SIZE: options.cacheSize?.toString(),
    KEYGATE_LAST_USED_FLUSH_MS: options.lastUsedFlushMs?.toString(),
  };
  const given = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
  const config = fromEnvironment === true ? loadVerifierConfigWith(given) : loadVerifierConfig(given);
  const parts = await openVerification(config, { onError: options.onError, migrate: false });
  return {
    verify: (presented, requirements) => parts.verifier.verify(presented, { scopes: requirements?.scopes }),
    close: () => parts.close(),
  };
}
