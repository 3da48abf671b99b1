import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import type { Account, Accounts } from '../accounts/accounts.js';
import type { RefreshTokens } from '../auth/refresh-tokens.js';
import type { SignInSettings } from '../config.js';
import { InvalidInput, NotFound, Unauthenticated } from '../errors.js';
import { closedObject } from '../keys/key-settings.js';
import { mintLocalUserToken, type UserTokenVerifier } from '../tokens/user-tokens.js';
import { AUTH_TAGS, credentialsBody, LOCAL_ACCOUNTS_OFF, TOO_MANY_SIGN_INS, VALIDATION_ERROR } from './auth-schemas.js';
import type { RateLimitHook } from './rate-limits.js';
import { errorAnswer } from './schemas.js';
import { logSignIn } from './sign-in-log.js';

// Sign-in for scripts and the seed's generated clients (their AuthApi): POST /auth/login trades
// a username and password for a local access token (a bearer token every key endpoint takes,
// with the admin scope for an admin), and POST /auth/refresh trades a refresh token, or a
// still-valid access token, for a fresh one. The shapes are the seed's, field for field.
//
// Refresh: `refresh_token` is spent and the answer carries the next one (refresh-tokens.ts:
// single use, rotation, reuse revokes the family); `current_token`, a local access token of an
// account that still exists and whose password has not changed since the token was issued,
// yields a fresh access token and a first refresh token. /auth/login itself hands out no
// refresh token: its answer keeps the seed's fields, so a script asks /auth/refresh with its
// current_token once to start rotating. The new access token carries the account's scopes as
// they are now (an admin demoted is no admin at the next refresh), never the old token's.

export interface TokenRoutesOptions {
  accounts: Accounts;
  refreshTokens: RefreshTokens;
  users: UserTokenVerifier;
  settings: SignInSettings;
  userTokenSecret: string;
  /** Per account and per client address, on /auth/login. */
  rateLimit: RateLimitHook | undefined;
}

interface RefreshBody {
  refresh_token?: string;
  current_token?: string;
}

const BEARER_TYPE = 'bearer';
const ADMIN_ROLE = 'admin';

const LOGIN_RESPONSE = {
  type: 'object',
  title: 'LoginResponse',
  required: ['access_token', 'token_type', 'expires_in', 'user_id', 'username', 'roles'],
  properties: {
    access_token: { type: 'string', description: 'A bearer token for every key endpoint (Authorization: Bearer ...).' },
    token_type: { type: 'string', enum: [BEARER_TYPE] },
    expires_in: { type: 'integer', description: 'Seconds until the access token expires (KEYGATE_LOGIN_TOKEN_TTL).' },
    user_id: { type: 'string' },
    username: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' }, description: '["admin"] for an admin, else [].' },
  },
} as const;

const REFRESH_BODY = {
  type: 'object',
  title: 'RefreshRequest',
  description: 'Exactly one of refresh_token and current_token.',
  properties: {
    refresh_token: { type: 'string', minLength: 1, maxLength: 512, description: 'The refresh token the last refresh answered; good once.' },
    current_token: { type: 'string', minLength: 1, maxLength: 8192, description: 'A still-valid access token of this server (from /auth/login).' },
  },
} as const;

const REFRESH_RESPONSE = {
  type: 'object',
  title: 'RefreshResponse',
  required: ['access_token', 'token_type', 'expires_in'],
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string', enum: [BEARER_TYPE] },
    expires_in: { type: 'integer' },
    refresh_token: { type: 'string', description: 'The next refresh token: the one sent is spent. Keep it securely.' },
  },
} as const;

export function tokenRoutes(options: TokenRoutesOptions) {
  const { accounts, refreshTokens, users, settings } = options;
  const ttl = settings.loginTokenTtlSeconds;

  const localAccountsOn = (): void => {
    if (!settings.localAccounts) throw new NotFound('Local accounts are off: keygate runs in OIDC mode, get tokens from the identity provider');
  };
  const accessToken = (account: Account) =>
    mintLocalUserToken(options.userTokenSecret, { userId: account.userId, ttl: `${ttl}s`, scopes: accounts.scopesOf(account) });

  /** The account a verified access token speaks for, if it still may be refreshed. */
  const accountOfAccessToken = async (token: string): Promise<Account> => {
    const caller = await users.verify(token);
    const account = await accounts.find(caller.userId);
    const issuedAtMs = (decodeJwt(token).iat ?? 0) * 1000;
    // iat has whole seconds: a token of the very second the password changed counts as after it.
    if (account === undefined || account.userId !== caller.userId || issuedAtMs < Math.floor(account.credentialsChangedAtMs / 1000) * 1000) {
      throw new Unauthenticated('current_token cannot be refreshed: its account is gone or its password has changed since; sign in again');
    }
    return account;
  };

  const refreshed = async (body: RefreshBody): Promise<{ account: Account; refreshToken: string }> => {
    if (body.refresh_token !== undefined) {
      const { userId, next } = await refreshTokens.exchange(body.refresh_token);
      const account = await accounts.find(userId);
      if (account === undefined) throw new Unauthenticated('Refresh token is not known (revoked, or never issued)');
      return { account, refreshToken: next };
    }
    const account = await accountOfAccessToken(body.current_token!);
    return { account, refreshToken: await refreshTokens.issue(account.userId) };
  };

  /** refreshed(), unless the account was removed or its password changed while it ran. */
  const refreshedCurrent = async (body: RefreshBody): Promise<{ account: Account; refreshToken: string }> => {
    const result = await refreshed(body);
    if (!(await accounts.isCurrent(result.account))) {
      await refreshTokens.revoke(result.refreshToken);
      throw new Unauthenticated('The account was removed or its password changed: sign in again');
    }
    return result;
  };

  return async (app: FastifyInstance): Promise<void> => {
    app.post<{ Body: { username: string; password: string } }>(
      '/auth/login',
      {
        preHandler: options.rateLimit,
        schema: {
          operationId: 'login_auth_login_post',
          summary: 'Login',
          description:
            'Trades a local account\'s username and password for a bearer access token (with the admin scope for an ' +
            'admin), good for `expires_in` seconds. The same 401 for an unknown username and a wrong password. For a ' +
            'refresh token, call POST /auth/refresh with this token as `current_token`.',
          tags: AUTH_TAGS,
          body: credentialsBody('LoginRequest', 'The account\'s password.'),
          response: {
            200: LOGIN_RESPONSE,
            401: errorAnswer('Invalid username or password'),
            404: LOCAL_ACCOUNTS_OFF,
            422: VALIDATION_ERROR,
            429: TOO_MANY_SIGN_INS,
          },
        },
      },
      async (request, reply) => {
        localAccountsOn();
        const { username, password } = closedObject(request.body, [], ['username', 'password']) as typeof request.body;
        const account = await accounts.signIn(username, password);
        if (account === undefined) {
          logSignIn(request, 'login', username, 'refused');
          throw new Unauthenticated('Invalid username or password');
        }
        logSignIn(request, 'login', account.username, 'succeeded');
        reply.header('cache-control', 'no-store');
        return {
          access_token: await accessToken(account),
          token_type: BEARER_TYPE,
          expires_in: ttl,
          user_id: account.userId,
          username: account.username,
          roles: account.admin ? [ADMIN_ROLE] : [],
        };
      },
    );

    app.post<{ Body: RefreshBody }>(
      '/auth/refresh',
      {
        schema: {
          operationId: 'refresh_token_auth_refresh_post',
          summary: 'Refresh Token',
          description:
            'A fresh access token, for a refresh token (spent by this call: the answer carries the next one; a spent ' +
            'one sent again revokes every token of its sign-in) or for a still-valid access token (`current_token`, ' +
            'which also starts a refresh token). Exactly one of the two.',
          tags: AUTH_TAGS,
          body: REFRESH_BODY,
          response: {
            200: REFRESH_RESPONSE,
            401: errorAnswer('The refresh token is unknown, expired or spent; or current_token is invalid, or its account is gone'),
            404: LOCAL_ACCOUNTS_OFF,
            422: VALIDATION_ERROR,
          },
        },
      },
      async (request: FastifyRequest<{ Body: RefreshBody }>, reply) => {
        localAccountsOn();
        const body = closedObject(request.body, [], ['refresh_token', 'current_token']) as RefreshBody;
        if ((body.refresh_token === undefined) === (body.current_token === undefined)) {
          const field = body.refresh_token === undefined ? 'refresh_token' : 'current_token';
          throw new InvalidInput(field, 'Give exactly one of refresh_token and current_token', 'missing');
        }
        const { account, refreshToken } = await refreshedCurrent(body);
        logSignIn(request, 'refresh', account.username, 'succeeded');
        reply.header('cache-control', 'no-store');
        return { access_token: await accessToken(account), token_type: BEARER_TYPE, expires_in: ttl, refresh_token: refreshToken };
      },
    );
  };
}
