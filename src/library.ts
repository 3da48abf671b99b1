import { openVerification } from './app.js';
import { loadVerifierConfigWith } from './config.js';
import type { Verification } from './keys/verifier.js';

export interface KeyVerifierOptions {
  /** The database keygate's server uses; default: DATABASE_URL, else sqlite:./data/keygate.db. */
  databaseUrl?: string;
  /** The prefix of keys; default: KEYGATE_KEY_PREFIX, else mcpkey_live_. */
  keyPrefix?: string;
  /** Warm entries kept; default: KEYGATE_VERIFY_CACHE_SIZE, else 10000. */
  cacheSize?: number;
  /** How often last-use times are written; default: KEYGATE_LAST_USED_FLUSH_MS, else 2000. */
  lastUsedFlushMs?: number;
  /** Told when writing last-use times fails (they are kept and retried). */
  onError?: (error: unknown) => void;
}

export interface KeygateKeyVerifier {
  /** Verifies a presented key: exact on the very next call after a rotate or revoke anywhere. */
  verify(presented: string): Promise<Verification>;
  /** Writes pending last-use times and closes the database. */
  close(): Promise<void>;
}

/**
 * Verifies keygate keys inside another Node process, on the database keygate's server uses,
 * with no HTTP hop: the same verifier, warm cache and last-use recording as the server's.
 */
export async function createKeyVerifier(options: KeyVerifierOptions = {}): Promise<KeygateKeyVerifier> {
  const overrides: Record<string, string> = {};
  if (options.databaseUrl !== undefined) overrides.DATABASE_URL = options.databaseUrl;
  if (options.keyPrefix !== undefined) overrides.KEYGATE_KEY_PREFIX = options.keyPrefix;
  if (options.cacheSize !== undefined) overrides.KEYGATE_VERIFY_CACHE_SIZE = String(options.cacheSize);
  if (options.lastUsedFlushMs !== undefined) overrides.KEYGATE_LAST_USED_FLUSH_MS = String(options.lastUsedFlushMs);
  const parts = await openVerification(loadVerifierConfigWith(overrides), undefined, options.onError);
  return { verify: (presented) => parts.verifier.verify(presented), close: () => parts.close() };
}
