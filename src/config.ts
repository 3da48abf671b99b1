// The one place that reads the environment. Everything else receives a Config.

import { resolve } from 'node:path';
import { MAX_LEASE_MS } from './keys/change-feed.js';
import type { KeyPrefixes } from './keys/format.js';
import type { HashScheme } from './keys/hashing.js';

export type DatabaseLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string };

export interface OidcConfig {
  issuer: string;
  audience: string;
  /** Explicit JWKS address; when absent it is read from the issuer's discovery document. */
  jwksUrl: string | undefined;
  /** A claim (a dotted path) whose values count as scopes, such as `roles` or `realm_access.roles`. */
  rolesClaim: string | undefined;
  /** The dashboard's sign-in at this provider (KEYGATE_OIDC_CLIENT_ID); undefined: not offered. */
  signIn: OidcSignInConfig | undefined;
}

/** keygate as a relying party of the provider: the authorization code flow of /auth/oidc/start. */
export interface OidcSignInConfig {
  clientId: string;
  /** Undefined: a public client, which PKCE alone protects. */
  clientSecret: string | undefined;
  /** The redirect URI registered at the provider: `<KEYGATE_PUBLIC_URL>/auth/oidc/callback`. */
  redirectUri: string;
}

/** What verifying keys needs: all that the library's createKeyVerifier reads. */
export interface VerifierConfig {
  database: DatabaseLocation;
  /** The prefix of each environment's keys: live (KEYGATE_KEY_PREFIX) and test (KEYGATE_TEST_KEY_PREFIX). */
  keyPrefixes: KeyPrefixes;
  /** How new keys are hashed at rest (keys hashed the other way still verify, and are rehashed). */
  keyHash: HashScheme;
  bcryptCost: number;
  /** The HMAC scheme's pepper; when absent one is generated and kept in the database. */
  keyPepper: string | undefined;
  verifyCacheSize: number;
  /** bcrypt jobs at once; how many more may wait, and how long, before a 503. */
  bcryptConcurrency: number;
  bcryptQueueLength: number;
  bcryptQueueWaitMs: number;
  lastUsedFlushMs: number;
  /**
   * On PostgreSQL, how long an instance's lease lasts (KEYGATE_LEASE_MS): a change waits at most
   * this long for an instance that stopped answering before it answers.
   */
  leaseMs: number;
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
  /** The scope that makes a user token an admin's (KEYGATE_ADMIN_SCOPE). */
  adminScope: string;
  /** How long audit events and usage history are kept, in days; 0 keeps them for ever. */
  auditRetentionDays: number;
  /** Longest lifetime (exp - iat) of a local user token. */
  maxTokenTtlSeconds: number;
  maxKeysPerUser: number;
  defaultExpiresDays: number;
  maxExpiresDays: number;
  /** The longest grace period a rotation may give the old secret, in seconds. */
  maxGraceSeconds: number;
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
    /** Sign-in attempts (password sign-ins and sign-ups) per account, and per client address. */
    signInPerAccount: number;
    signInPerIp: number;
  };
  /** How long clients may take, in milliseconds: slow ones must not hold connections forever. */
  http: HttpTimeouts;
  exchange: {
    ttlSeconds: number;
    issuer: string;
    audience: string;
    /** Ed25519 private JWK; when absent one is generated and kept in the database. */
    privateJwk: string | undefined;
  };
  /** Leak reports (POST /api/v1/leaks): whose signatures they need, and what a reported key gets. */
  leaks: LeakSettings;
  /** Local accounts and browser sessions (/auth/...). */
  signIn: SignInSettings;
}

export interface SignInSettings {
  /** Local accounts sign in with a password; on unless OIDC mode is configured. */
  localAccounts: boolean;
  /** POST /auth/signup makes accounts (KEYGATE_SIGNUP=open); off by default. */
  signup: boolean;
  /** A browser session's absolute lifetime (KEYGATE_SESSION_TTL). */
  sessionTtlSeconds: number;
  /** The lifetime of an access token from /auth/login and /auth/refresh (KEYGATE_LOGIN_TOKEN_TTL). */
  loginTokenTtlSeconds: number;
  /** How long an unused refresh token stays good (KEYGATE_REFRESH_TOKEN_TTL); each use hands out a new one. */
  refreshTokenTtlSeconds: number;
}

/** Where the public keys that sign leak reports are published: GitHub's list at a URL, or a file of the same JSON. */
export type LeakKeysSource = { kind: 'url'; url: string } | { kind: 'file'; path: string };

/** What a leak report does to a key it names: deletes it, or disables it (kept, refused, for its owner to look at). */
export const LEAK_ACTIONS = ['revoke', 'disable'] as const;
export type LeakAction = (typeof LEAK_ACTIONS)[number];

export interface LeakSettings {
  /** KEYGATE_LEAK_KEYS_URL or KEYGATE_LEAK_KEYS_FILE; undefined: leak reports are not accepted (404). */
  keys: LeakKeysSource | undefined;
  /** KEYGATE_LEAK_ACTION. */
  action: LeakAction;
}

export interface HttpTimeouts {
  /** To send a request's headers, counted from its start (on a new connection, from connecting). */
  headersTimeoutMs: number;
  /** To send the whole request, headers and body; not the time keygate takes to answer. */
  requestTimeoutMs: number;
  /** How long a connection may sit idle between requests. */
  keepAliveTimeoutMs: number;
  /** At shutdown, how long requests in flight may still take before their connections are closed. */
  shutdownGraceMs: number;
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
  return {
    database: parseDatabaseUrl(read('DATABASE_URL') ?? 'sqlite:./data/keygate.db'),
    keyPrefixes: readKeyPrefixes(read('KEYGATE_KEY_PREFIX') ?? 'mcpkey_live_', read('KEYGATE_TEST_KEY_PREFIX') ?? 'mcpkey_test_'),
    keyHash: readHashScheme(read('KEYGATE_KEY_HASH')),
    bcryptCost: integer('KEYGATE_BCRYPT_COST', 10, 10, 15),
    keyPepper: readPepper(read('KEYGATE_KEY_PEPPER')),
    verifyCacheSize: integer('KEYGATE_VERIFY_CACHE_SIZE', 10_000, 1, 10_000_000),
    bcryptConcurrency: integer('KEYGATE_BCRYPT_CONCURRENCY', 4, 1, 256),
    bcryptQueueLength: integer('KEYGATE_BCRYPT_QUEUE_LENGTH', 1000, 0, 1_000_000),
    bcryptQueueWaitMs: integer('KEYGATE_BCRYPT_QUEUE_WAIT_MS', 30_000, 1, 600_000),
    lastUsedFlushMs: integer('KEYGATE_LAST_USED_FLUSH_MS', 2000, 10, 3_600_000),
    leaseMs: integer('KEYGATE_LEASE_MS', 3000, 300, MAX_LEASE_MS),
  };
}

function readKeyPrefixes(live: string, test: string): KeyPrefixes {
  // Letters, digits and underscores only: the whole key stays URL- and shell-safe and a
  // double-click selects all of it.
  for (const [name, prefix] of [['KEYGATE_KEY_PREFIX', live], ['KEYGATE_TEST_KEY_PREFIX', test]]) {
    if (!/^[A-Za-z0-9_]{1,100}$/.test(prefix!)) throw new ConfigError(`${name} must be 1-100 letters, digits or underscores`);
  }
  // A text must name one environment: mcpkey_ and mcpkey_test_ would both claim mcpkey_test_... keys.
  if (live.startsWith(test) || test.startsWith(live)) {
    throw new ConfigError(`KEYGATE_KEY_PREFIX ("${live}") and KEYGATE_TEST_KEY_PREFIX ("${test}") must differ, and neither may begin the other`);
  }
  return { live, test };
}

export function loadConfig(env: Env = process.env): Config {
  const { read, integer } = envReader(env);
  const secret = read('KEYGATE_SECRET');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    throw new ConfigError('KEYGATE_SECRET must be at least 32 bytes long');
  }
  const maxExpiresDays = integer('KEYGATE_MAX_EXPIRES_DAYS', 3650, 1, 36500);
  const maxTokenTtlSeconds = integer('KEYGATE_MAX_TOKEN_TTL_SECONDS', 30 * 86_400, 60, 366 * 86_400);
  const oidc = readOidc(read);

  return {
    ...loadVerifierConfig(env),
    host: read('HOST') ?? '127.0.0.1',
    port: integer('PORT', 8080, 0, 65535),
    trustProxy: readTrustProxy(read('KEYGATE_TRUST_PROXY')),
    logLevel: readLogLevel(read('KEYGATE_LOG_LEVEL')),
    secret,
    oidc,
    requiredScope: read('KEYGATE_REQUIRED_SCOPE'),
    adminScope: read('KEYGATE_ADMIN_SCOPE') ?? 'keygate:admin',
    auditRetentionDays: integer('KEYGATE_AUDIT_RETENTION_DAYS', 365, 0, 36_500),
    maxTokenTtlSeconds,
    maxKeysPerUser: integer('KEYGATE_MAX_KEYS_PER_USER', 5, 1, 1000),
    defaultExpiresDays: Math.min(365, maxExpiresDays),
    maxExpiresDays,
    maxGraceSeconds: integer('KEYGATE_MAX_GRACE_SECONDS', 7 * 24 * 3600, 0, 365 * 24 * 3600),
    redisUrl: read('REDIS_URL'),
    rateLimits: {
      managePerUser: integer('KEYGATE_RATE_LIMIT_MANAGE_PER_USER', 120, 0, 10_000_000),
      verifyPerKey: integer('KEYGATE_RATE_LIMIT_VERIFY_PER_KEY', 6_000, 0, 100_000_000),
      verifyPerIp: integer('KEYGATE_RATE_LIMIT_VERIFY_PER_IP', 60_000, 0, 100_000_000),
      signInPerAccount: integer('KEYGATE_RATE_LIMIT_SIGN_IN_PER_ACCOUNT', 10, 0, 1_000_000),
      signInPerIp: integer('KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP', 30, 0, 1_000_000),
    },
    http: readHttpTimeouts(integer),
    exchange: {
      ttlSeconds: integer('KEYGATE_EXCHANGE_TTL', 300, 10, 86_400),
      issuer: read('KEYGATE_EXCHANGE_ISSUER') ?? 'keygate',
      audience: read('KEYGATE_EXCHANGE_AUDIENCE') ?? 'keygate-exchange',
      privateJwk: read('KEYGATE_EXCHANGE_PRIVATE_JWK'),
    },
    leaks: readLeakSettings(read),
    signIn: readSignInSettings(read, integer, { oidc: oidc !== undefined, maxTokenTtlSeconds }),
  };
}

function readSignInSettings(
  read: (name: string) => string | undefined,
  integer: EnvReader['integer'],
  context: { oidc: boolean; maxTokenTtlSeconds: number },
): SignInSettings {
  const signup = read('KEYGATE_SIGNUP') ?? 'off';
  if (signup !== 'open' && signup !== 'off') throw new ConfigError(`KEYGATE_SIGNUP must be open or off, got "${signup}"`);
  // Bounded by the longest lifetime keygate accepts of a local token: a longer one would be refused.
  const { maxTokenTtlSeconds } = context;
  return {
    localAccounts: !context.oidc,
    signup: signup === 'open' && !context.oidc,
    sessionTtlSeconds: integer('KEYGATE_SESSION_TTL', 43_200, 1, 366 * 86_400),
    loginTokenTtlSeconds: integer('KEYGATE_LOGIN_TOKEN_TTL', Math.min(3600, maxTokenTtlSeconds), 60, maxTokenTtlSeconds),
    refreshTokenTtlSeconds: integer('KEYGATE_REFRESH_TOKEN_TTL', 30 * 86_400, 60, 366 * 86_400),
  };
}

function readLeakSettings(read: (name: string) => string | undefined): LeakSettings {
  const url = read('KEYGATE_LEAK_KEYS_URL');
  const file = read('KEYGATE_LEAK_KEYS_FILE');
  if (url !== undefined && file !== undefined) {
    throw new ConfigError('Set KEYGATE_LEAK_KEYS_URL or KEYGATE_LEAK_KEYS_FILE, not both: leak reports are checked against one key list');
  }
  if (url !== undefined && !(URL.canParse(url) && /^https?:$/.test(new URL(url).protocol))) {
    throw new ConfigError(`KEYGATE_LEAK_KEYS_URL must be an http:// or https:// URL, got "${url}"`);
  }
  const action = read('KEYGATE_LEAK_ACTION') ?? 'revoke';
  if (!(LEAK_ACTIONS as readonly string[]).includes(action)) {
    throw new ConfigError(`KEYGATE_LEAK_ACTION must be revoke or disable, got "${action}"`);
  }
  const keys: LeakKeysSource | undefined =
    url !== undefined ? { kind: 'url', url } : file !== undefined ? { kind: 'file', path: resolve(file) } : undefined;
  return { keys, action: action as LeakAction };
}

function readHashScheme(raw: string | undefined): HashScheme {
  if (raw === undefined || raw === 'bcrypt' || raw === 'hmac-sha256') return raw ?? 'bcrypt';
  throw new ConfigError(`KEYGATE_KEY_HASH must be bcrypt or hmac-sha256, got "${raw}"`);
}

/** pino's levels, and `silent` for no logger at all; pino's own refusal of others is a stack trace. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function readLogLevel(raw: string | undefined): string {
  if (raw === undefined) return 'info';
  if (LOG_LEVELS.includes(raw)) return raw;
  throw new ConfigError(`KEYGATE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got "${raw}"`);
}

function readPepper(raw: string | undefined): string | undefined {
  if (raw !== undefined && Buffer.byteLength(raw) < 32) throw new ConfigError('KEYGATE_KEY_PEPPER must be at least 32 bytes long');
  return raw;
}

function readHttpTimeouts(integer: EnvReader['integer']): HttpTimeouts {
  const hour = 3_600_000;
  const timeouts = {
    headersTimeoutMs: integer('KEYGATE_HEADERS_TIMEOUT_MS', 10_000, 100, hour),
    requestTimeoutMs: integer('KEYGATE_REQUEST_TIMEOUT_MS', 30_000, 100, hour),
    keepAliveTimeoutMs: integer('KEYGATE_KEEP_ALIVE_TIMEOUT_MS', 5000, 100, hour),
    shutdownGraceMs: integer('KEYGATE_SHUTDOWN_GRACE_MS', 10_000, 0, hour),
  };
  // The request timeout runs from the same start and includes the headers: a longer headers
  // timeout could never fire (and Node refuses the pair).
  if (timeouts.headersTimeoutMs > timeouts.requestTimeoutMs) {
    throw new ConfigError('KEYGATE_HEADERS_TIMEOUT_MS must not be longer than KEYGATE_REQUEST_TIMEOUT_MS');
  }
  return timeouts;
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
  if (issuer === undefined && audience === undefined && jwksUrl === undefined) {
    if (read('KEYGATE_OIDC_CLIENT_ID') !== undefined) throw new ConfigError('KEYGATE_OIDC_CLIENT_ID needs OIDC mode: set KEYGATE_OIDC_ISSUER and KEYGATE_OIDC_AUDIENCE');
    return undefined;
  }
  if (issuer === undefined || audience === undefined) {
    throw new ConfigError('OIDC mode needs both KEYGATE_OIDC_ISSUER and KEYGATE_OIDC_AUDIENCE');
  }
  for (const [name, url] of [['KEYGATE_OIDC_ISSUER', issuer], ['KEYGATE_OIDC_JWKS_URL', jwksUrl]] as const) {
    if (url !== undefined && !URL.canParse(url)) throw new ConfigError(`${name} is not a URL: "${url}"`);
  }
  return { issuer, audience, jwksUrl, rolesClaim: read('KEYGATE_OIDC_ROLES_CLAIM'), signIn: readOidcSignIn(read) };
}

export const OIDC_CALLBACK_PATH = '/auth/oidc/callback';

function readOidcSignIn(read: (name: string) => string | undefined): OidcSignInConfig | undefined {
  const clientId = read('KEYGATE_OIDC_CLIENT_ID');
  const clientSecret = read('KEYGATE_OIDC_CLIENT_SECRET');
  if (clientId === undefined) {
    if (clientSecret !== undefined) throw new ConfigError('KEYGATE_OIDC_CLIENT_SECRET is set but KEYGATE_OIDC_CLIENT_ID is not');
    return undefined;
  }
  const publicUrl = read('KEYGATE_PUBLIC_URL');
  if (publicUrl === undefined) {
    throw new ConfigError(`KEYGATE_OIDC_CLIENT_ID needs KEYGATE_PUBLIC_URL, how browsers reach keygate: the redirect URI is <KEYGATE_PUBLIC_URL>${OIDC_CALLBACK_PATH}`);
  }
  return { clientId, clientSecret, redirectUri: `${readPublicOrigin(publicUrl)}${OIDC_CALLBACK_PATH}` };
}

/**
 * An origin only: keygate's routes and the paths sign-in returns to are at its root, so a path
 * here would name a callback keygate does not serve.
 */
function readPublicOrigin(raw: string): string {
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (url === undefined || !/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new ConfigError(`KEYGATE_PUBLIC_URL must be an http:// or https:// origin such as https://keygate.example.com, got "${raw}"`);
  }
  return url.origin;
}

/** The verifier's settings from the environment, some of them given in code (the library's options). */
export function loadVerifierConfigWith(overrides: Env): VerifierConfig {
  return loadVerifierConfig({ ...process.env, ...overrides });
}

const SQLITE_FORMS = 'sqlite:./relative/file.db, sqlite:/absolute/file.db or sqlite:///absolute/file.db';
const DATABASE_URL_FORMS = `${SQLITE_FORMS}, or postgres://user:password@host:5432/db`;

/**
 * `sqlite:` then a path, as written: `sqlite:./rel`, `sqlite:rel`, `sqlite:/abs`. An authority
 * part (`//`) may come first, empty as in file:///abs (so three slashes start an absolute path,
 * unlike SQLAlchemy's four) or `.` / `..`, which can only mean a relative path:
 * `sqlite://./data/keygate.db` is ./data/keygate.db, never /data/keygate.db. Any other authority
 * would be a host, which SQLite has none of: refused with the spelling meant.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgres', url };
  if (!url.startsWith('sqlite:')) {
    // No scheme at all: most likely a file path, which needs `sqlite:` in front.
    const hint = url.includes(':') ? '' : ` (for that file: sqlite:${url})`;
    throw new ConfigError(`DATABASE_URL must be ${DATABASE_URL_FORMS}; got "${withoutPassword(url)}"${hint}`);
  }
  const path = sqlitePath(url.slice('sqlite:'.length));
  if (path === '') throw new ConfigError(`DATABASE_URL "${url}" names no file: write ${SQLITE_FORMS}`);
  return { kind: 'sqlite', path };
}

function sqlitePath(rest: string): string {
  if (!rest.startsWith('//')) return rest;
  const afterSlashes = rest.slice(2);
  const host = afterSlashes.split('/', 1)[0]!;
  if (host === '' || host === '.' || host === '..') return afterSlashes;
  throw new ConfigError(
    `DATABASE_URL "sqlite://${afterSlashes}" names a host ("${host}"), which SQLite has none of: ` +
      `write sqlite:${afterSlashes} for a path relative to the working folder, or sqlite:/${afterSlashes} for an absolute one`,
  );
}

/**
 * A database URL fit to print: a password, in the userinfo or as a `password=` parameter,
 * becomes `***`. Also for text that is not a URL at all (a missing scheme, a typo in it).
 */
export function withoutPassword(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length).replace(/^([^:/@]*):.*@/, '$1:***@');
  return `${scheme}${rest}`.replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** The database as a person recognises it: an absolute SQLite file, or the URL without its password. */
export function describeDatabase(location: DatabaseLocation): string {
  return location.kind === 'sqlite' ? `sqlite:${location.path === ':memory:' ? ':memory:' : resolve(location.path)}` : withoutPassword(location.url);
}
