import type { IncomingHttpHeaders } from 'node:http';
import type { VerifiedKey } from '../keys/verifier.js';
import { authenticateRequest, type KeyRequirements, type VerifiesKeys } from './authenticate-request.js';

// Express's Request extends the global Express.Request (@types/express-serve-static-core), so
// this types `req.apiKey` in every Express handler. A global namespace rather than a module
// augmentation of 'express-serve-static-core': it compiles whether or not the user has
// Express's types installed.
declare global {
  namespace Express {
    interface Request {
      /** The verified API key, set by keygateExpress() on the routes it protects. */
      apiKey?: VerifiedKey;
    }
  }
}

// Typed by shape, so that keygate needs no Express at run time or in its types.
interface ExpressRequest {
  headers: IncomingHttpHeaders;
  apiKey?: VerifiedKey;
}
interface ExpressResponse {
  status(code: number): this;
  set(headers: Record<string, string>): this;
  json(body: unknown): unknown;
}
type Next = (error?: unknown) => void;

/**
 * Express middleware that admits only requests with a valid keygate key and puts it on
 * `req.apiKey`: `app.use('/api', keygateExpress(verifier))`; with `{ scopes: ['tools:call'] }`, only
 * keys that have all of them (others get 403 insufficient_scope).
 */
export function keygateExpress(verifier: VerifiesKeys, requirements: KeyRequirements = {}) {
  return (request: ExpressRequest, response: ExpressResponse, next: Next): void => {
    authenticateRequest(verifier, request.headers, requirements).then((outcome) => {
      if ('key' in outcome) {
        request.apiKey = outcome.key;
        next();
        return;
      }
      const { status, headers, detail } = outcome.refusal;
      response.status(status).set(headers).json({ detail });
    }, next);
  };
}
