import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { OidcConfig } from '../config.js';
import { Forbidden, Unauthenticated, Unavailable } from '../errors.js';
import { hasControlCharacters } from '../text.js';

// Who is calling the management endpoints: the `sub` of a JWT, either signed by keygate's
// own secret (local mode, HS256) or by an OpenID Connect provider (asymmetric keys only).

export interface Caller {
  userId: string;
  scopes: ReadonlySet<string>;
}

export interface UserTokenVerifier {
  /** The caller a bearer token names; throws Unauthenticated or Forbidden. */
  verify(token: string): Promise<Caller>;
}

/** Local tokens name keygate as both issuer and audience. */
export const LOCAL_TOKEN_ISSUER = 'keygate';
export const LOCAL_TOKEN_AUDIENCE = 'keygate';
const MAX_USER_ID_LENGTH = 255;
const CLOCK_TOLERANCE_SECONDS = 5;
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
}): UserTokenVerifier {
  const { oidc, requiredScope } = options;
  const verifyToken = oidc
    ? (token: string) =>
        jwtVerify(token, oidcKeys(oidc), {
          issuer: oidc.issuer,
          audience: oidc.audience,
          algorithms: ASYMMETRIC_ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        })
    : (token: string) =>
        jwtVerify(token, localSecretKey(options.secret), {
          issuer: LOCAL_TOKEN_ISSUER,
          audience: LOCAL_TOKEN_AUDIENCE,
          algorithms: ['HS256'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        });

  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await verifyToken(token));
      } catch (error) {
        throw translateJoseError(error);
      }
      const userId = payload.sub;
      if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || hasControlCharacters(userId)) {
        throw new Unauthenticated(`Token must carry a "sub" claim of 1 to ${MAX_USER_ID_LENGTH} printable characters`);
      }
      const scopes = scopesOf(payload);
      if (requiredScope !== undefined && !scopes.has(requiredScope)) {
        throw new Forbidden(`Token lacks the required scope "${requiredScope}"`, { missingScope: requiredScope });
      }
      return { userId, scopes };
    },
  };
}

/** `scope` (space-separated, RFC 8693) or `scp` (a list or a string, as Entra ID and Okta send it). */
function scopesOf(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  for (const claim of [payload.scope, payload.scp]) {
    const values = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
    for (const value of values) if (typeof value === 'string' && value !== '') scopes.add(value);
  }
  return scopes;
}

/**
 * The provider's key set, found through its discovery document unless configured outright.
 * Any failure to obtain keys is the provider's (Unavailable), never the caller's; only "no key
 * with this kid" is held against the token.
 */
function oidcKeys(oidc: OidcConfig): JWTVerifyGetKey {
  let keySet: Promise<JWTVerifyGetKey> | undefined;
  const load = async (): Promise<JWTVerifyGetKey> => {
    const jwksUrl = oidc.jwksUrl ?? (await discoverJwksUrl(oidc.issuer));
    return createRemoteJWKSet(new URL(jwksUrl));
  };
  return async (header, token) => {
    // A failed discovery is forgotten, so the next request tries again.
    keySet ??= load().catch((error: unknown) => {
      keySet = undefined;
      throw error;
    });
    const getKey = await keySet;
    try {
      return await getKey(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new Unavailable("The identity provider's signing keys could not be read", { cause: error });
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
  if (error instanceof Unavailable) return error;
  if (error instanceof errors.JWTExpired) return new Unauthenticated('Token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reasons: Record<string, string> = {
      iss: 'Token issuer is not accepted',
      aud: 'Token audience is not accepted',
      nbf: 'Token is not yet valid',
      iat: 'Token is not yet valid',
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
