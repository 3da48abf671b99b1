import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { OidcConfig } from '../config.js';
import { Forbidden, KeygateError, Unauthenticated, Unavailable } from '../errors.js';
import { USER_ID_MAX_LENGTH, userIdProblem } from '../text.js';

// Who is calling the management endpoints: the `sub` of a JWT, either signed by keygate's
// own secret (local mode, HS256) or by an OpenID Connect provider (asymmetric keys only).

export interface Caller {
  userId: string;
  /** The token's scopes, and in OIDC mode the values of the configured roles claim. */
  scopes: ReadonlySet<string>;
  /** Whether the scopes hold the admin scope: the admin routes are open to this caller. */
  admin: boolean;
}

export interface UserTokenVerifier {
  /** The caller a bearer token names; throws Unauthenticated or Forbidden. */
  verify(token: string): Promise<Caller>;
  /**
   * The caller `userId` with these scopes is, judged as a token carrying them would be (the
   * required scope, the admin scope): how a browser session's caller is made.
   */
  callerOf(userId: string, scopes: Iterable<string>): Caller;
}

/** Local tokens name keygate as both issuer and audience. */
export const LOCAL_TOKEN_ISSUER = 'keygate';
export const LOCAL_TOKEN_AUDIENCE = 'keygate';
/** How far a token's exp, nbf and iat may be off keygate's clock. */
const CLOCK_TOLERANCE_SECONDS = 5;
/**
 * After a failed fetch at the provider, and between two refetches for an unknown kid: as long as
 * the Retry-After keygate answers its 503 with, so that a client retrying then finds a new try.
 */
export const PROVIDER_COOLDOWN_MS = 30_000;
/** How old the provider's keys may grow before they are read again (in the background). */
export const KEY_SET_MAX_AGE_MS = 10 * 60_000;
// Never HS*: in OIDC mode a token signed with a shared secret is refused outright, so a
// public key can never be used as an HMAC secret (algorithm confusion).
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function localSecretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function mintLocalUserToken(
  secret: string,
  claims: { userId: string; ttl: string; scopes?: readonly string[] },
): Promise<string> {
  const payload: JWTPayload = claims.scopes?.length ? { scope: claims.scopes.join(' ') } : {};
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(LOCAL_TOKEN_ISSUER)
    .setAudience(LOCAL_TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(claims.ttl)
    .sign(localSecretKey(secret));
}

export function createUserTokenVerifier(options: {
  secret: string;
  oidc: OidcConfig | undefined;
  requiredScope: string | undefined;
  /** The scope (or, in OIDC mode, role) that makes a caller an admin. */
  adminScope: string;
  /** Longest lifetime (exp - iat) of a local token. */
  maxTokenTtlSeconds: number;
}): UserTokenVerifier {
  const { oidc, requiredScope, adminScope } = options;
  const verifyToken = oidc ? oidcTokenVerifier(oidc) : localTokenVerifier(options.secret, options.maxTokenTtlSeconds);

  const callerOf = (userId: string, given: Iterable<string>): Caller => {
    const scopes = new Set(given);
    if (requiredScope !== undefined && !scopes.has(requiredScope)) {
      throw new Forbidden(`Token lacks the required scope "${requiredScope}"`, { missingScope: requiredScope });
    }
    return { userId, scopes, admin: scopes.has(adminScope) };
  };
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        payload = await verifyToken(token);
      } catch (error) {
        throw translateJoseError(error);
      }
      return callerOf(userIdOf(payload), scopesOf(payload, oidc?.rolesClaim));
    },
    callerOf,
  };
}

/** What both modes ask of every token; a token without exp would be good forever. */
const COMMON_CHECKS: JWTVerifyOptions = { requiredClaims: ['exp'], clockTolerance: CLOCK_TOLERANCE_SECONDS };

const epochSeconds = (): number => Math.floor(Date.now() / 1000);

function localTokenVerifier(secret: string, maxTtlSeconds: number): (token: string) => Promise<JWTPayload> {
  const key = localSecretKey(secret);
  return async (token) => {
    const { payload } = await jwtVerify(token, key, {
      ...COMMON_CHECKS,
      issuer: LOCAL_TOKEN_ISSUER,
      audience: LOCAL_TOKEN_AUDIENCE,
      algorithms: ['HS256'],
    }).catch(inLocalTerms);
    const now = epochSeconds();
    checkIssuedAt(payload, now);
    // Whoever holds the secret could mint a token for years; keygate's own are bounded. jose
    // has checked that exp is there (were it not, Infinity would refuse the token all the same).
    const { exp = Infinity, iat = now } = payload;
    if (exp - iat > maxTtlSeconds) {
      throw new Unauthenticated(`Token lifetime (exp - iat) is longer than the ${maxTtlSeconds} s keygate accepts`);
    }
    return payload;
  };
}

function oidcTokenVerifier(oidc: OidcConfig): (token: string) => Promise<JWTPayload> {
  const keys = oidcKeys(oidc);
  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      ...COMMON_CHECKS,
      issuer: oidc.issuer,
      audience: oidc.audience,
      algorithms: ASYMMETRIC_ALGORITHMS,
    });
    checkIssuedAt(payload, epochSeconds());
    return payload;
  };
}

/**
 * A local token of the right shape whose signature fails was, most often, minted for another
 * server: by `keygate token` on another database (each generates its own secret), or with
 * another KEYGATE_SECRET. Saying so spares a hunt for what is wrong with the token itself.
 */
function inLocalTerms(error: unknown): never {
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    throw new Unauthenticated(
      "Token signature is invalid: it was not signed with this server's secret " +
        '(minted by `keygate token` against another database, or with another KEYGATE_SECRET?)',
    );
  }
  throw error;
}

/** jose checks iat only against a maximum age, which keygate does not set: a future iat passes it. */
function checkIssuedAt(payload: JWTPayload, now: number): void {
  if (payload.iat !== undefined && payload.iat > now + CLOCK_TOLERANCE_SECONDS) {
    throw new Unauthenticated(`Token "iat" is in the future (more than ${CLOCK_TOLERANCE_SECONDS} s ahead of keygate's clock)`);
  }
}

function userIdOf(payload: JWTPayload): string {
  const userId = payload.sub;
  switch (userIdProblem(userId)) {
    case 'printable':
      throw new Unauthenticated(`Token must carry a "sub" claim of 1 to ${USER_ID_MAX_LENGTH} printable characters`);
    case 'unicode':
      // PostgreSQL would store a lone surrogate as U+FFFD: "lone\ud800" and "lone\udbff" would be one user.
      throw new Unauthenticated('Token "sub" claim is not well-formed Unicode (a lone surrogate)');
  }
  return userId as string;
}

/**
 * `scope` (space-separated, RFC 8693) or `scp` (a list or a string, as Entra ID and Okta send it),
 * and the roles claim when one is configured: a dotted path such as `roles` (Entra ID) or
 * `realm_access.roles` (Keycloak), whose values count as scopes.
 */
function scopesOf(payload: JWTPayload, rolesClaim: string | undefined): Set<string> {
  const scopes = new Set<string>();
  const roles = rolesClaim?.split('.').reduce<unknown>((claim, name) => (isRecord(claim) ? claim[name] : undefined), payload);
  for (const claim of [payload.scope, payload.scp, roles]) {
    const values = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
    for (const value of values) if (typeof value === 'string' && value !== '') scopes.add(value);
  }
  return scopes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The provider's key set, found through its discovery document unless configured outright, both
 * read once for the life of the verifier. Any failure to obtain keys is the provider's
 * (Unavailable), never the caller's; only "no key with this kid" is held against the token.
 */
function oidcKeys(oidc: OidcConfig): JWTVerifyGetKey {
  const keySet = keptOnceLoaded(async () => providerKeySet(new URL(oidc.jwksUrl ?? (await discoverJwksUrl(oidc.issuer)))));
  return async (header, token) => (await keySet())(header, token);
}

/**
 * `load`'s result, kept once it succeeds. A failure is answered again for PROVIDER_COOLDOWN_MS
 * without trying: neither forgotten at once (every request would fetch) nor kept for ever.
 * Concurrent callers share one attempt.
 */
function keptOnceLoaded<T>(load: () => Promise<T>): () => Promise<T> {
  let attempt: Promise<T> | undefined;
  let retryAt = Infinity;
  return () => {
    if (attempt === undefined || Date.now() >= retryAt) {
      retryAt = Infinity;
      attempt = load();
      attempt.catch(() => {
        retryAt = Date.now() + PROVIDER_COOLDOWN_MS;
      });
    }
    return attempt;
  };
}

/**
 * jose's remote key set, told when to fetch. Left to itself it fetches too often when the
 * provider is down (node_modules/jose/dist/webapi/jwks/remote.js): its cooldown for unknown kids
 * counts from the last *successful* fetch, so during an outage every unknown kid fetches again;
 * and once its keys are older than cacheMaxAge it awaits a refetch before every verification and
 * fails it when the refetch fails, so tokens of keys it holds fail too. With an infinite maximum
 * age and cooldown jose fetches only on reload(), and this decides when:
 * - the first time keys are needed; after a failure, not again within the cooldown;
 * - for an unknown kid, when nothing was fetched within the cooldown (failed or not);
 * - keys older than KEY_SET_MAX_AGE_MS are read again in the background, the kept ones answering
 *   meanwhile, and for as long as the provider is down.
 * jose still shares one fetch among concurrent reloads, times it out and validates the set.
 */
function providerKeySet(url: URL): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { cacheMaxAge: Infinity, cooldownDuration: Infinity });
  let loadedAt: number | undefined;
  let failedAt = -Infinity;
  const lastFetchAt = () => Math.max(loadedAt ?? -Infinity, failedAt);
  const fetchedRecently = () => Date.now() - lastFetchAt() < PROVIDER_COOLDOWN_MS;
  const unavailable = (cause?: unknown) => new Unavailable("The identity provider's signing keys could not be read", { cause });
  const reload = async (): Promise<void> => {
    try {
      await remote.reload();
      loadedAt = Date.now();
    } catch (error) {
      failedAt = Date.now();
      throw unavailable(error);
    }
  };

  /** The key among those held; a key the provider publishes but that cannot be used is its fault. */
  const heldKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw unavailable(error);
    }
  };

  return async (header, token) => {
    if (loadedAt === undefined) {
      if (fetchedRecently()) throw unavailable();
      await reload();
    } else if (Date.now() - loadedAt >= KEY_SET_MAX_AGE_MS && !fetchedRecently()) {
      // Its outcome is seen in loadedAt and failedAt; this token is judged by the held keys.
      reload().catch(() => {});
    }
    try {
      return await heldKey(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      if (!fetchedRecently()) {
        await reload();
        return heldKey(header, token);
      }
      // While the provider is down, a kid it may have just published cannot be judged.
      throw failedAt > (loadedAt ?? -Infinity) ? unavailable() : error;
    }
  };
}

async function discoverJwksUrl(issuer: string): Promise<string> {
  const discoveryUrl = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let document: { issuer?: unknown; jwks_uri?: unknown } | null;
  try {
    const response = await fetch(discoveryUrl, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`${discoveryUrl} answered HTTP ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (error) {
    throw new Unavailable("The identity provider's discovery document could not be read", { cause: error });
  }
  // OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it was asked for.
  const sameIssuer = (value: unknown) => typeof value === 'string' && value.replace(/\/$/, '') === issuer.replace(/\/$/, '');
  if (!sameIssuer(document?.issuer)) {
    throw new Unavailable("The identity provider's discovery document names another issuer");
  }
  const jwksUri = document?.jwks_uri;
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) {
    throw new Unavailable("The identity provider's discovery document has no jwks_uri");
  }
  return jwksUri;
}

/** jose's verdict in the caller's terms; anything that is not about the token passes through. */
function translateJoseError(error: unknown): Error {
  if (error instanceof KeygateError) return error;
  if (error instanceof errors.JWTExpired) return new Unauthenticated('Token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      iss: 'Token issuer is not accepted',
      aud: 'Token audience is not accepted',
      nbf: 'Token is not yet valid',
      exp: 'Token must carry a numeric "exp" claim: a token that never expires is refused',
      iat: 'Token "iat" claim must be a number',
    };
    return new Unauthenticated(reasons[error.claim] ?? `Token claim "${error.claim}" is invalid`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new Unauthenticated('Token signing algorithm is not accepted');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new Unauthenticated('Token signature is invalid');
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new Unauthenticated('Token signing key is not known');
  }
  if (error instanceof errors.JOSEError) return new Unauthenticated('Token is malformed');
  return error instanceof Error ? error : new Error(String(error));
}
