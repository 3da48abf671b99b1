import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BadRequest,
  Forbidden,
  InvalidInput,
  KeygateError,
  LimitReached,
  NotFound,
  TooManyRequests,
  Unauthenticated,
  Unavailable,
} from '../errors.js';
import { isEmbeddedCreateBody } from './schemas.js';

// The one place that turns failures into HTTP answers: `{"detail": "..."}` for every error,
// and FastAPI's HTTPValidationError shape for 422, which the generated clients decode.

type Location = (string | number)[];

interface ValidationIssue {
  loc: Location;
  msg: string;
  type: string;
}

interface AjvIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

const statusOfDomainError = new Map<Function, number>([
  [BadRequest, 400],
  [LimitReached, 400],
  [Unauthenticated, 401],
  [Forbidden, 403],
  [NotFound, 404],
  [TooManyRequests, 429],
  [Unavailable, 503],
]);

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  detail: string;
}

/**
 * The HTTP answer to a domain error (undefined for any other error). Shared by the server's
 * error handler and the Express glue, so both answer alike.
 */
export function answerFor(error: Error, authorization: string | undefined): ErrorAnswer | undefined {
  const status = error instanceof KeygateError ? statusOfDomainError.get(error.constructor) : undefined;
  if (status === undefined) return undefined;
  const headers: Record<string, string> = {};
  const challenge = bearerChallenge(error, authorization);
  if (challenge !== undefined) headers['WWW-Authenticate'] = challenge;
  if (error instanceof TooManyRequests || error instanceof Unavailable) {
    headers['Retry-After'] = String(error.retryAfterSeconds);
  }
  return { status, headers, detail: error.message };
}

const validationContexts: Record<string, string> = { body: 'body', params: 'path', querystring: 'query', headers: 'header' };

export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ detail: `No route for ${request.method} ${request.url.split('?')[0]}` });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof InvalidInput) {
      return replyInvalid(reply, [{ loc: [...bodyLocation(request), error.field], msg: error.message, type: error.type }]);
    }
    if (error.validation && error.validationContext === 'body' && request.body === undefined) {
      return replyInvalid(reply, [{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
    }
    if (error.validation) {
      const context = validationContexts[error.validationContext ?? 'body'] ?? 'body';
      return replyInvalid(reply, translateAjvIssues(error.validation as AjvIssue[], context));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return replyInvalid(reply, [{ loc: ['body'], msg: 'JSON decode error: the body is not valid JSON', type: 'json_invalid' }]);
    }
    const answer = answerFor(error, request.headers.authorization);
    if (answer !== undefined) {
      if (error instanceof Unavailable) request.log.warn({ err: error }, 'keygate cannot answer now');
      return reply.code(answer.status).headers(answer.headers).send({ detail: answer.detail });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      // The cause goes to the log (which redacts credentials); the caller learns nothing of it.
      request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({ detail: 'Internal server error' });
    }
    return reply.code(status).send({ detail: error.message });
  });
}

/** RFC 6750 section 3: `invalid_token` only when a bearer token was actually presented. */
function bearerChallenge(error: Error, authorization: string | undefined): string | undefined {
  if (error instanceof Unauthenticated) {
    return /^Bearer +\S/i.test(authorization ?? '') ? 'Bearer error="invalid_token"' : 'Bearer';
  }
  if (error instanceof Forbidden && error.missingScope !== undefined) {
    return `Bearer error="insufficient_scope", scope="${error.missingScope}"`;
  }
  return undefined;
}

function replyInvalid(reply: FastifyReply, detail: ValidationIssue[]): FastifyReply {
  return reply.code(422).send({ detail });
}

/** Where the create fields sit: at the top of the body, or under `request` in the embedded shape. */
function bodyLocation(request: FastifyRequest): Location {
  return isEmbeddedCreateBody(request.body) ? ['body', 'request'] : ['body'];
}

function translateAjvIssues(issues: AjvIssue[], context: string): ValidationIssue[] {
  return issues
    .filter((issue) => issue.keyword !== 'if') // "must match then/else": the branch's own issues say more
    .map((issue) => {
      const loc: Location = [context, ...issue.instancePath.split('/').slice(1).map(decodePointerSegment)];
      const { keyword, params } = issue;
      switch (keyword) {
        case 'required':
          return { loc: [...loc, String(params.missingProperty)], msg: 'Field required', type: 'missing' };
        case 'type':
          return typeIssue(loc, String(params.type));
        case 'minimum':
          return { loc, msg: `Input should be greater than or equal to ${params.limit}`, type: 'greater_than_equal' };
        case 'maximum':
          return { loc, msg: `Input should be less than or equal to ${params.limit}`, type: 'less_than_equal' };
        case 'minLength':
          return { loc, msg: `String should have at least ${params.limit} characters`, type: 'string_too_short' };
        case 'maxLength':
          return { loc, msg: `String should have at most ${params.limit} characters`, type: 'string_too_long' };
        default:
          return { loc, msg: issue.message ?? 'Invalid value', type: keyword };
      }
    });
}

function typeIssue(loc: Location, expected: string): ValidationIssue {
  const names: Record<string, [string, string]> = {
    integer: ['a valid integer', 'int_type'],
    string: ['a valid string', 'string_type'],
    object: ['a valid dictionary or object', 'dict_type'],
  };
  const [what, type] = names[expected] ?? [`of type ${expected}`, `${expected}_type`];
  return { loc, msg: `Input should be ${what}`, type };
}

function decodePointerSegment(segment: string): string | number {
  const decoded = segment.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(decoded) ? Number(decoded) : decoded;
}
