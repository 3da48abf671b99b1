import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Account, Accounts } from '../accounts/accounts.js';
import type { ActiveSession, SessionIdentity, StartedSession, WebSessions } from '../auth/web-sessions.js';
import type { SignInSettings } from '../config.js';
import { Forbidden, NotFound, Unauthenticated } from '../errors.js';
import { closedObject } from '../keys/key-settings.js';
import { csrfHeaderOf } from './authenticate.js';
import {
  AUTH_CONFIG_RESPONSE,
  AUTH_TAGS,
  credentialsBody,
  LOCAL_ACCOUNTS_OFF,
  NEW_PASSWORD_RULE,
  SESSION_RESPONSE,
  sessionErrors,
  TOO_MANY_SIGN_INS,
  USERNAME_RULE,
  VALIDATION_ERROR,
} from './auth-schemas.js';
import type { RateLimitHook } from './rate-limits.js';
import { errorAnswer } from './schemas.js';
import { clearSessionCookie, sessionCookieOf, setSessionCookie } from './session-cookie.js';
import { logSignIn, type SignInVia } from './sign-in-log.js';

// The browser's sign-in: what the sign-in page offers (GET /auth/config), a session made with a
// password (POST /auth/session) or by signing up (POST /auth/signup), read (GET) and ended
// (DELETE). The session itself is a cookie (session-cookie.ts); the routes that manage keys take
// it as they take a bearer token (authenticate.ts).

export interface SessionRoutesOptions {
  accounts: Accounts;
  sessions: WebSessions;
  settings: SignInSettings;
  adminScope: string;
  /** Whether OIDC sign-in (GET /auth/oidc/start) is offered. */
  oidc: boolean;
  /** Per account and per client address, on the password sign-ins. */
  rateLimit: RateLimitHook | undefined;
}

interface Credentials {
  username: string;
  password: string;
}

const CREDENTIAL_FIELDS = ['username', 'password'];

/**
 * A sign-in from another site's page (login CSRF: the victim's browser signed in to the
 * attacker's account) carries that site's Origin. Browsers send Origin with every POST made by
 * fetch or a form; a client that sends none (a script, curl) is no browser to protect.
 */
function refuseCrossOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== `${request.protocol}://${request.host}`) {
    throw new Forbidden('A sign-in must come from keygate\'s own page: the Origin header names another site');
  }
}

/** What POST and GET /auth/session answer: who, with which scopes, the CSRF token, until when. */
function sessionAnswer(identity: SessionIdentity, session: Pick<StartedSession, 'csrfToken' | 'expiresAt'>, adminScope: string) {
  return {
    user_id: identity.userId,
    username: identity.username,
    admin: identity.scopes.includes(adminScope),
    scopes: [...identity.scopes],
    csrf_token: session.csrfToken,
    expires_at: session.expiresAt.toISOString(),
  };
}

export function sessionRoutes(options: SessionRoutesOptions) {
  const { accounts, sessions, settings, adminScope } = options;

  /** Starts a session for the account, sets its cookie, and answers what GET /auth/session would. */
  const signedIn = async (request: FastifyRequest, reply: FastifyReply, account: Account, via: SignInVia) => {
    const identity = { userId: account.userId, username: account.username, scopes: accounts.scopesOf(account) };
    const started = await sessions.start(identity);
    if (!(await accounts.isCurrent(account))) {
      await sessions.end(started.cookieValue);
      throw new Unauthenticated('The account was removed or its password changed while signing in: sign in again');
    }
    setSessionCookie(request, reply, started);
    logSignIn(request, via, account.username, 'succeeded');
    return sessionAnswer(identity, started, adminScope);
  };

  const credentialsOf = (request: FastifyRequest): Credentials => {
    if (!settings.localAccounts) throw new NotFound('Local accounts are off: keygate runs in OIDC mode, sign in through the identity provider');
    closedObject(request.body, [], CREDENTIAL_FIELDS);
    refuseCrossOrigin(request);
    return request.body as Credentials;
  };

  return async (app: FastifyInstance): Promise<void> => {
    app.get(
      '/auth/config',
      {
        schema: {
          operationId: 'get_auth_config',
          summary: 'Sign-in Options',
          description: 'What the sign-in page offers: local accounts, sign-up, OpenID Connect. Needs no authentication.',
          tags: AUTH_TAGS,
          response: { 200: AUTH_CONFIG_RESPONSE },
        },
      },
      async () => ({ local_accounts: settings.localAccounts, signup: settings.signup, oidc: options.oidc }),
    );

    app.post<{ Body: Credentials }>(
      '/auth/session',
      {
        preHandler: options.rateLimit,
        schema: {
          operationId: 'start_session',
          summary: 'Sign In',
          description:
            'Signs in with a local account and starts a browser session: the answer sets the HttpOnly, SameSite=Strict ' +
            '`keygate_session` cookie and carries the `csrf_token` that every unsafe request with the cookie must send ' +
            'as X-CSRF-Token. The same 401 for an unknown username and a wrong password.',
          tags: AUTH_TAGS,
          body: credentialsBody('SignInRequest', 'The account\'s password.'),
          response: {
            200: SESSION_RESPONSE,
            401: errorAnswer('Invalid username or password'),
            403: sessionErrors[403],
            404: LOCAL_ACCOUNTS_OFF,
            422: VALIDATION_ERROR,
            429: TOO_MANY_SIGN_INS,
          },
        },
      },
      async (request, reply) => {
        const { username, password } = credentialsOf(request);
        const account = await accounts.signIn(username, password);
        if (account === undefined) {
          logSignIn(request, 'session', username, 'refused');
          throw new Unauthenticated('Invalid username or password');
        }
        return signedIn(request, reply, account, 'session');
      },
    );

    app.post<{ Body: Credentials }>(
      '/auth/signup',
      {
        preHandler: options.rateLimit,
        schema: {
          operationId: 'sign_up',
          summary: 'Sign Up',
          description:
            'Makes a local account (never an admin) and signs it in, as POST /auth/session does; only when the server ' +
            `runs with KEYGATE_SIGNUP=open, else 404. Username: ${USERNAME_RULE} Password: ${NEW_PASSWORD_RULE}`,
          tags: AUTH_TAGS,
          body: credentialsBody('SignUpRequest', NEW_PASSWORD_RULE),
          response: {
            200: SESSION_RESPONSE,
            403: sessionErrors[403],
            404: LOCAL_ACCOUNTS_OFF,
            409: errorAnswer('The username is taken'),
            422: VALIDATION_ERROR,
            429: TOO_MANY_SIGN_INS,
          },
        },
      },
      async (request, reply) => {
        if (!settings.signup) throw new NotFound('Sign-up is not open on this server: ask its operator for an account');
        const { username, password } = credentialsOf(request);
        const account = await accounts.add(username, password, { admin: false });
        return signedIn(request, reply, account, 'signup');
      },
    );

    app.get(
      '/auth/session',
      {
        schema: {
          operationId: 'get_session',
          summary: 'Current Session',
          description: 'The session the cookie belongs to, with its CSRF token; sets no new cookie.',
          tags: AUTH_TAGS,
          response: { 200: SESSION_RESPONSE, 401: sessionErrors[401] },
        },
      },
      async (request, reply) => {
        const { session } = await currentSession(sessions, request);
        reply.header('cache-control', 'no-store');
        return sessionAnswer(session, session, adminScope);
      },
    );

    app.delete(
      '/auth/session',
      {
        schema: {
          operationId: 'end_session',
          summary: 'Sign Out',
          description: 'Ends the session (its row is deleted at once) and clears the cookie. Needs X-CSRF-Token.',
          tags: AUTH_TAGS,
          response: { 204: { description: 'Signed out', type: 'null' }, ...sessionErrors },
        },
      },
      async (request, reply) => {
        const { cookieValue } = await currentSession(sessions, request);
        if (!sessions.csrfTokenMatches(cookieValue, csrfHeaderOf(request))) {
          throw new Forbidden('Signing out needs the X-CSRF-Token header that sign-in answered');
        }
        await sessions.end(cookieValue);
        clearSessionCookie(request, reply);
        return reply.code(204).send();
      },
    );
  };
}

async function currentSession(sessions: WebSessions, request: FastifyRequest): Promise<{ cookieValue: string; session: ActiveSession }> {
  const cookieValue = sessionCookieOf(request);
  if (cookieValue === undefined) throw new Unauthenticated('Not signed in: no session cookie');
  const session = await sessions.find(cookieValue);
  if (session === undefined) throw new Unauthenticated('The session has ended or expired: sign in again');
  return { cookieValue, session };
}
