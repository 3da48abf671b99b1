import { randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
} from 'jose';
import { ConfigError } from '../config.js';
import type { VerifiedKey } from '../keys/verifier.js';
import type { MaybePromise } from '../maybe-promise.js';
import type { KeygateDb } from '../store/database.js';
import { getOrCreateSetting } from '../store/settings.js';

// The API-key -> JWT exchange: keygate signs short-lived EdDSA tokens for backends that accept
// only JWTs, and publishes the public key (with its kid) at /.well-known/jwks.json.

export interface ExchangeSettings {
  ttlSeconds: number;
  issuer: string;
  audience: string;
  /** An Ed25519 private JWK (JSON); when absent one is generated and kept in the database. */
  privateJwk: string | undefined;
}

export interface ExchangeToken {
  accessToken: string;
  expiresIn: number;
}

interface CachedToken {
  accessToken: string;
  expiresAtMs: number;
}

type PublishedKey = JWK & { kid: string; alg: 'EdDSA'; use: 'sig' };

export class ExchangeTokens {
  /**
   * Signing costs far more than verifying a warm key, so a token is handed out again while more
   * than half of its lifetime is left: to the same verified key object, which the verifier keeps
   * only as long as that very text (secret included) is valid and its row unchanged. So a rotated
   * key's new text gets a token of its own, a revoked or rotated-away text gets none (it is
   * verified before every exchange), and tokens leave with their warm entries.
   */
  private readonly recent = new WeakMap<VerifiedKey, CachedToken>();

  private constructor(
    private readonly settings: ExchangeSettings,
    private readonly privateKey: CryptoKey | Uint8Array,
    private readonly publicKey: CryptoKey | Uint8Array,
    private readonly published: PublishedKey,
  ) {}

  static async open(db: KeygateDb, settings: ExchangeSettings): Promise<ExchangeTokens> {
    const privateJwk = parsePrivateJwk(
      settings.privateJwk ?? (await getOrCreateSetting(db, 'exchange_signing_key', generatePrivateJwk)),
    );
    const { d: _private, ...publicJwk } = privateJwk;
    const kid = privateJwk.kid ?? (await calculateJwkThumbprint(publicJwk));
    const published: PublishedKey = { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x, kid, alg: 'EdDSA', use: 'sig' };
    return new ExchangeTokens(settings, await importJWK(privateJwk, 'EdDSA'), await importJWK(published, 'EdDSA'), published);
  }

  /** A token for `key`: the one handed out recently, at once (no promise), or a newly signed one. */
  issue(key: VerifiedKey): MaybePromise<ExchangeToken> {
    const now = Date.now();
    const ttlMs = this.settings.ttlSeconds * 1000;
    const cached = this.recent.get(key);
    if (cached && cached.expiresAtMs - now > ttlMs / 2) {
      return { accessToken: cached.accessToken, expiresIn: Math.floor((cached.expiresAtMs - now) / 1000) };
    }
    return this.sign(key, now);
  }

  private async sign(key: VerifiedKey, now: number): Promise<ExchangeToken> {
    const issuedAt = Math.floor(now / 1000);
    // scope as RFC 8693 and RFC 9068 carry it: space-separated, absent for a key with none.
    const claims = { key_id: key.keyId, environment: key.environment, ...(key.scopes.length > 0 && { scope: key.scopes.join(' ') }) };
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: this.published.kid })
      // Each token its own: a backend can deny-list one, and no two are alike even when the
      // same claims are signed in the same second (Ed25519 signatures are deterministic).
      .setJti(randomUUID())
      .setSubject(key.userId)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.settings.ttlSeconds)
      .sign(this.privateKey);
    this.recent.set(key, { accessToken, expiresAtMs: (issuedAt + this.settings.ttlSeconds) * 1000 });
    return { accessToken, expiresIn: this.settings.ttlSeconds };
  }

  /** The JWKS document: every key that may have signed a token still in use. */
  jwks(): { keys: PublishedKey[] } {
    return { keys: [this.published] };
  }

  /** Whether `token` is a valid token of this exchange (such tokens may not manage keys). */
  async isExchangeToken(token: string): Promise<boolean> {
    try {
      if (decodeProtectedHeader(token).kid !== this.published.kid) return false;
      await jwtVerify(token, this.publicKey, {
        algorithms: ['EdDSA'],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
      });
      return true;
    } catch {
      return false;
    }
  }
}

async function generatePrivateJwk(): Promise<string> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const { d: _private, ...publicJwk } = jwk;
  return JSON.stringify({ ...jwk, kid: await calculateJwkThumbprint(publicJwk) });
}

function parsePrivateJwk(text: string): JWK & { x: string; d: string } {
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new ConfigError('KEYGATE_EXCHANGE_PRIVATE_JWK is not JSON');
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string') {
    throw new ConfigError('KEYGATE_EXCHANGE_PRIVATE_JWK must be an Ed25519 private JWK: {"kty":"OKP","crv":"Ed25519","x":...,"d":...}');
  }
  return jwk as JWK & { x: string; d: string };
}
