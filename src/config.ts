// The one place that reads the environment. Everything else receives a Config.

export type DatabaseLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string };

export interface OidcConfig {
  issuer: string;
  audience: string;
  /** Explicit JWKS address; when absent it is read from the issuer's discovery document. */
  jwksUrl: string | undefined;
}

/** What verifying keys needs: all that the library's createKeyVerifier reads. */
export interface VerifierConfig {
  database: DatabaseLocation;
  keyPrefix: string;
  bcryptCost: number;
  verifyCacheSize: number;
  /** bcrypt compares pending at once before verification refuses with 503. */
  maxPendingCompares: number;
  lastUsedFlushMs: number;
}

export interface Config extends VerifierConfig {
  host: string;
  port: number;
  /** Fastify's trustProxy: whom to believe about the client address in X-Forwarded-For. */
  trustProxy: boolean | string;
  logLevel: string;
  /** HS256 secret for local user tokens; when absent one is generated and kept in the database. */
  secret: string | undefined;
  /** When set, user tokens come from this OpenID Connect provider instead of the local secret. */
  oidc: OidcConfig | undefined;
  requiredScope: string | undefined;
  maxKeysPerUser: number;
  defaultExpiresDays: number;
  maxExpiresDays: number;
  /** Redis for state shared by instances (rate-limit counters); in memory when absent. */
  redisUrl: string | undefined;
  /** Requests per minute; 0 turns a limit off. */
  rateLimits: {
    /** Per user, on the four management endpoints. */
    managePerUser: number;
    /** Per presented key_id, on /verify and /validate. */
    verifyPerKey: number;
    /** Per client IP, on /verify and /validate. */
    verifyPerIp: number;
  };
  exchange: {
    ttlSeconds: number;
    issuer: string;
    audience: string;
    /** Ed25519 private JWK; when absent one is generated and kept in the database. */
    privateJwk: string | undefined;
  };
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

interface EnvReader {
  read(name: string): string | undefined;
  integer(name: string, fallback: number, min: number, max: number): number;
}

function envReader(env: Env): EnvReader {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  return { read, integer };
}

/** Only the verifier's settings, so that a process embedding it is not held to the server's. */
export function loadVerifierConfig(env: Env = process.env): VerifierConfig {
  const { read, integer } = envReader(env);
  const keyPrefix = read('KEYGATE_KEY_PREFIX') ?? 'mcpkey_live_';
  // Letters, digits and underscores only: the whole key stays URL- and shell-safe and a
  // double-click selects all of it.
  if (!/^[A-Za-z0-9_]{1,100}$/.test(keyPrefix)) {
    throw new ConfigError('KEYGATE_KEY_PREFIX must be 1-100 letters, digits or underscores');
  }
  return {
    database: parseDatabaseUrl(read('DATABASE_URL') ?? 'sqlite:./data/keygate.db'),
    keyPrefix,
    bcryptCost: integer('KEYGATE_BCRYPT_COST', 10, 10, 15),
    verifyCacheSize: integer('KEYGATE_VERIFY_CACHE_SIZE', 10_000, 1, 10_000_000),
    maxPendingCompares: integer('KEYGATE_BCRYPT_MAX_PENDING', 32, 1, 10_000),
    lastUsedFlushMs: integer('KEYGATE_LAST_USED_FLUSH_MS', 2000, 10, 3_600_000),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const { read, integer } = envReader(env);
  const secret = read('KEYGATE_SECRET');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    throw new ConfigError('KEYGATE_SECRET must be at least 32 bytes long');
  }
  const maxExpiresDays = integer('KEYGATE_MAX_EXPIRES_DAYS', 3650, 1, 36500);

  return {
    ...loadVerifierConfig(env),
    host: read('HOST') ?? '127.0.0.1',
    port: integer('PORT', 8080, 0, 65535),
    trustProxy: readTrustProxy(read('KEYGATE_TRUST_PROXY')),
    logLevel: read('KEYGATE_LOG_LEVEL') ?? 'info',
    secret,
    oidc: readOidc(read),
    requiredScope: read('KEYGATE_REQUIRED_SCOPE'),
    maxKeysPerUser: integer('KEYGATE_MAX_KEYS_PER_USER', 5, 1, 1000),
    defaultExpiresDays: Math.min(365, maxExpiresDays),
    maxExpiresDays,
    redisUrl: read('REDIS_URL'),
    rateLimits: {
      managePerUser: integer('KEYGATE_RATE_LIMIT_MANAGE_PER_USER', 120, 0, 10_000_000),
      verifyPerKey: integer('KEYGATE_RATE_LIMIT_VERIFY_PER_KEY', 6_000, 0, 100_000_000),
      verifyPerIp: integer('KEYGATE_RATE_LIMIT_VERIFY_PER_IP', 60_000, 0, 100_000_000),
    },
    exchange: {
      ttlSeconds: integer('KEYGATE_EXCHANGE_TTL', 300, 10, 86_400),
      issuer: read('KEYGATE_EXCHANGE_ISSUER') ?? 'keygate',
      audience: read('KEYGATE_EXCHANGE_AUDIENCE') ?? 'keygate-exchange',
      privateJwk: read('KEYGATE_EXCHANGE_PRIVATE_JWK'),
    },
  };
}

/** unset or false: the socket's address; true: any proxy; else proxy addresses or CIDRs, comma-separated. */
function readTrustProxy(raw: string | undefined): boolean | string {
  if (raw === undefined || raw === 'false') return false;
  return raw === 'true' ? true : raw;
}

function readOidc(read: (name: string) => string | undefined): OidcConfig | undefined {
  const issuer = read('KEYGATE_OIDC_ISSUER');
  const audience = read('KEYGATE_OIDC_AUDIENCE');
  const jwksUrl = read('KEYGATE_OIDC_JWKS_URL');
  if (issuer === undefined && audience === undefined && jwksUrl === undefined) return undefined;
  if (issuer === undefined || audience === undefined) {
    throw new ConfigError('OIDC mode needs both KEYGATE_OIDC_ISSUER and KEYGATE_OIDC_AUDIENCE');
  }
  for (const [name, url] of [['KEYGATE_OIDC_ISSUER', issuer], ['KEYGATE_OIDC_JWKS_URL', jwksUrl]] as const) {
    if (url !== undefined && !URL.canParse(url)) throw new ConfigError(`${name} is not a URL: "${url}"`);
  }
  return { issuer, audience, jwksUrl };
}

/** The verifier's settings from the environment, some of them given in code (the library's options). */
export function loadVerifierConfigWith(overrides: Env): VerifierConfig {
  return loadVerifierConfig({ ...process.env, ...overrides });
}

export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new ConfigError('DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/keygate.db');
    return { kind: 'sqlite', path };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgres', url };
  throw new ConfigError(`DATABASE_URL must start with sqlite: or postgres://, got "${url.split(':')[0]}:..."`);
}
