import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { NotFound, TooManyRequests } from '../errors.js';
import { FLOW_COOKIE, FLOW_TTL_SECONDS, FlowCookies, type SignInFlow } from '../oidc/flow-cookie.js';
import { DEFAULT_RETURN_TO, sameOriginPath } from '../oidc/return-to.js';
import { OidcSignIn, type SignedInIdentity } from '../oidc/sign-in.js';
import { SIGN_IN_FAILURES, SignInFailure } from '../oidc/sign-in-failure.js';
import { sendSignInFailure } from './sign-in-failure-page.js';
import type { RateLimitHook } from './rate-limits.js';
import { logSignIn } from './sign-in-log.js';
import { cookieOf, setCookie } from './session-cookie.js';

// The dashboard's "Sign in with ..." link: GET /auth/oidc/start sends the browser to the
// provider, which sends it back to GET /auth/oidc/callback; that one starts a web session and
// sends the browser on to where it started. Both are browser navigations, not API calls: they
// answer redirects, or a small HTML page when the sign-in fails, and are left out of the OpenAPI
// document (the generated clients have no use for them).

export interface OidcSignInParts {
  signIn: OidcSignIn;
  flows: FlowCookies;
  /** Starts a web session for `identity` and sets its cookie on `reply` (the accounts part's WebSessions). */
  startSession(request: FastifyRequest, reply: FastifyReply, identity: SignedInIdentity): Promise<void>;
}

/** The flow cookie goes only to the two sign-in routes; both are under this path. */
const FLOW_COOKIE_PATH = '/auth/oidc';

const NOT_CONFIGURED = 'OpenID Connect sign-in is not configured: set KEYGATE_OIDC_CLIENT_ID and KEYGATE_PUBLIC_URL (in OIDC mode)';

/**
 * `parts` undefined: sign-in is not configured, and both routes answer 404. `rateLimit`: the
 * sign-in limit, on the callback: each callback with a flow cookie costs a call to the
 * provider's token endpoint, and a flow cookie can be replayed with any code.
 */
export function oidcRoutes(parts: OidcSignInParts | undefined, rateLimit: RateLimitHook | undefined) {
  return async (app: FastifyInstance): Promise<void> => {
    // A browser navigation refused by the limit gets the failure page, not a JSON answer. This
    // handler is this plugin's alone; anything else goes on to the server's.
    app.setErrorHandler((error, request, reply) => {
      if (!(error instanceof TooManyRequests)) throw error;
      request.log.warn({ signIn: { via: 'oidc', outcome: 'refused', code: 'rate_limited' } }, 'sign-in refused');
      return sendSignInFailure(reply, new SignInFailure('rate_limited'), error.retryAfterSeconds);
    });

    // What the dashboard's sign-in page says for `#/signin?error=<code>`: the failure page's own
    // sentence, from the one table (sign-in-failure.ts), so the page never keeps a copy. Only a
    // known code answers: the address is anyone's to craft, so no text of it is ever echoed. On
    // every server, configured or not: the messages are fixed, and the page asks whatever it is.
    app.get<{ Params: { code: string } }>('/auth/oidc/failures/:code', { schema: { hide: true } }, async (request, reply) => {
      const { code } = request.params;
      if (!Object.hasOwn(SIGN_IN_FAILURES, code)) throw new NotFound('No such sign-in failure code');
      const [status, message] = SIGN_IN_FAILURES[code as keyof typeof SIGN_IN_FAILURES];
      return reply.header('Cache-Control', 'no-cache').send({ code, status, message });
    });

    app.get('/auth/oidc/start', { schema: { hide: true } }, async (request, reply) => {
      if (parts === undefined) throw new NotFound(NOT_CONFIGURED);
      try {
        const returnTo = returnToOf(request.query);
        const { authorizationUrl, flow } = await parts.signIn.begin(returnTo);
        setFlowCookie(request, reply, await parts.flows.seal(flow), FLOW_TTL_SECONDS);
        return reply.header('Cache-Control', 'no-store').redirect(authorizationUrl.href);
      } catch (error) {
        return answerFailure(request, reply, error);
      }
    });

    app.get('/auth/oidc/callback', { schema: { hide: true }, preHandler: rateLimit }, async (request, reply) => {
      if (parts === undefined) throw new NotFound(NOT_CONFIGURED);
      // One try per flow, whatever its outcome: the state and the verifier are not reused.
      setFlowCookie(request, reply, '', 0);
      try {
        const flow = await flowOf(request, parts.flows);
        const identity = await parts.signIn.finish(queryOf(request.url), flow);
        await parts.startSession(request, reply, identity);
        logSignIn(request, 'oidc', identity.username, 'succeeded');
        return reply.header('Cache-Control', 'no-store').redirect(flow.returnTo);
      } catch (error) {
        return answerFailure(request, reply, error);
      }
    });
  };
}

function returnToOf(query: unknown): string {
  const raw = (query as Record<string, unknown>).return_to;
  if (raw === undefined || raw === '') return DEFAULT_RETURN_TO;
  const returnTo = typeof raw === 'string' ? sameOriginPath(raw) : undefined;
  if (returnTo === undefined) throw new SignInFailure('invalid_return_to');
  return returnTo;
}

async function flowOf(request: FastifyRequest, flows: FlowCookies): Promise<SignInFlow> {
  const sealed = cookieOf(request, FLOW_COOKIE);
  if (sealed === undefined) throw new SignInFailure('no_flow');
  const opened = await flows.open(sealed);
  if ('problem' in opened) throw new SignInFailure(opened.problem === 'expired' ? 'flow_expired' : 'invalid_state', 'the flow cookie did not open');
  return opened.flow;
}

/** The query string as the provider sent it: openid-client reads the parameters from it itself. */
function queryOf(url: string): string {
  const start = url.indexOf('?');
  return start === -1 ? '' : url.slice(start);
}

/**
 * SameSite=Lax, not Strict: the provider's redirect back is a top-level GET from another site,
 * on which a Strict cookie would not be sent. Lax still keeps it off other sites' subrequests
 * and POSTs.
 */
function setFlowCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  setCookie(request, reply, { name: FLOW_COOKIE, value, maxAgeSeconds, sameSite: 'lax', path: FLOW_COOKIE_PATH });
}

function answerFailure(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof SignInFailure)) throw error;
  // As a refused password sign-in is (sign-in-log.ts), with why: the reason is for the operator
  // and holds no code, token or cookie value (see sign-in.ts).
  request.log.warn({ signIn: { via: 'oidc', outcome: 'refused', code: error.code, reason: error.reason } }, 'sign-in refused');
  return sendSignInFailure(reply, error);
}

/** What the routes need, from the settings and the server's secret; undefined when sign-in is not configured. */
export function oidcSignInParts(
  config: Pick<Config, 'oidc' | 'requiredScope'>,
  secret: string,
  startSession: OidcSignInParts['startSession'],
): OidcSignInParts | undefined {
  const signIn = config.oidc?.signIn;
  if (config.oidc === undefined || signIn === undefined) return undefined;
  return { signIn: new OidcSignIn(config.oidc, signIn, config.requiredScope), flows: new FlowCookies(secret), startSession };
}
