import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import { ApiKeyService } from './keys/api-key-service.js';
import { KeyFormat } from './keys/format.js';
import { KeyHasher } from './keys/hashing.js';
import { ApiKeyRepository } from './store/api-keys-repository.js';
import { openDatabase, type KeygateDb } from './store/database.js';
import { getOrCreateSetting } from './store/settings.js';
import { createUserTokenVerifier, type UserTokenVerifier } from './tokens/user-tokens.js';

/** Everything a running keygate holds, built from the config; the server and the CLI share it. */
export interface Keygate {
  config: Config;
  db: KeygateDb;
  apiKeys: ApiKeyService;
  users: UserTokenVerifier;
  /** The HS256 secret of local user tokens. */
  userTokenSecret: string;
  close(): Promise<void>;
}

export async function openKeygate(config: Config): Promise<Keygate> {
  const db = await openDatabase(config.database);
  // Generated once and kept in the database, so that every process on it (the server, the
  // CLI minting tokens, other instances) signs and checks with the same secret.
  const userTokenSecret =
    config.secret ?? (await getOrCreateSetting(db, 'user_token_secret', () => randomBytes(32).toString('base64url')));
  const apiKeys = new ApiKeyService(
    new ApiKeyRepository(db),
    new KeyFormat(config.keyPrefix),
    new KeyHasher(config.bcryptCost),
    config,
  );
  const users = createUserTokenVerifier({ secret: userTokenSecret, oidc: config.oidc, requiredScope: config.requiredScope });
  return { config, db, apiKeys, users, userTokenSecret, close: () => db.destroy() };
}
