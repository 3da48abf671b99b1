import type { IncomingHttpHeaders } from 'node:http';
import type { VerifiedKey } from '../keys/verifier.js';
import { authenticateRequest, type VerifiesKeys } from './authenticate-request.js';

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
 * `req.apiKey`: `app.use('/api', keygateExpress(verifier))`.
 */
export function keygateExpress(verifier: VerifiesKeys) {
  return (request: ExpressRequest, response: ExpressResponse, next: Next): void => {
    authenticateRequest(verifier, request.headers).then((outcome) => {
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
