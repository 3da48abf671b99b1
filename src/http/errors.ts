import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BadRequest,
  Conflict,
  Forbidden,
  InvalidInput,
  KeygateError,
  LimitReached,
  NotFound,
  TooManyRequests,
  Unauthenticated,
  Unavailable,
} from '../errors.js';
import { isDatabaseOutage } from '../store/outage.js';
import { ThrottledWarning } from '../throttled-warning.js';
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
  [Conflict, 409],
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
  const status = error instanceof KeygateError ? statusOf(error) : undefined;
  if (status === undefined) return undefined;
  const headers: Record<string, string> = {};
  const challenge = bearerChallenge(error, authorization);
  if (challenge !== undefined) headers['WWW-Authenticate'] = challenge;
  if ((error instanceof TooManyRequests || error instanceof Unavailable) && error.retryAfterSeconds !== undefined) {
    headers['Retry-After'] = String(error.retryAfterSeconds);
  }
  if (error instanceof TooManyRequests && error.limitFields !== undefined) {
    headers['RateLimit-Limit'] = String(error.limitFields.limit);
    headers['RateLimit-Remaining'] = String(error.limitFields.remaining);
    headers['RateLimit-Reset'] = String(error.limitFields.resetSeconds);
  }
  return { status, headers, detail: error.message };
}

/** The status of the nearest class in the error's chain that has one (QueueFull is an Unavailable). */
function statusOf(error: KeygateError): number | undefined {
  for (let type = error.constructor; type !== KeygateError && type !== Function.prototype; type = Object.getPrototypeOf(type)) {
    const status = statusOfDomainError.get(type);
    if (status !== undefined) return status;
  }
  return undefined;
}

const validationContexts: Record<string, string> = { body: 'body', params: 'path', querystring: 'query', headers: 'header' };

/** `redactUrl` takes keys and query strings out of the URL a 404 names. */
export function installErrorHandling(app: FastifyInstance, redactUrl: (url: string) => string): void {
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ detail: `No route for ${request.method} ${redactUrl(request.url)}` });
  });
  // Node hands CONNECT to this event alone and drops the connection when nobody listens. A 4xx,
  // not 501: a client's mistake should not count among the server's failures.
  app.server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    answerOnSocket(socket, 405, 'CONNECT is not supported: keygate is not a proxy', true, { Allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' });
  });
  // An Expect other than 100-continue: Node's own 417 has no body. (The request never reaches a route.)
  app.server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify({ detail: 'Only "Expect: 100-continue" is supported' });
    response.writeHead(417, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
  });

  const cannotAnswer = new ThrottledWarning(app.log, 'keygate cannot answer now');
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof InvalidInput) {
      return replyInvalid(reply, [{ loc: [...inputLocation(request), ...[error.field].flat()], msg: error.message, type: error.type }]);
    }
    if (error.validation && error.validationContext === 'body' && request.body === undefined) {
      return replyInvalid(reply, [{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
    }
    if (error.validation) {
      const context = validationContexts[error.validationContext ?? 'body'] ?? 'body';
      return replyInvalid(reply, translateAjvIssues(error.validation as AjvIssue[], context));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      // Fastify's own detail names the status and nothing a caller could act on.
      return reply.code(415).send({ detail: 'Unsupported media type: keygate reads JSON bodies only; send Content-Type: application/json' });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return replyInvalid(reply, [{ loc: ['body'], msg: 'JSON decode error: the body is not valid JSON', type: 'json_invalid' }]);
    }
    const answer = answerFor(error, request.headers.authorization);
    if (answer !== undefined) {
      // A database outage is logged once when it starts (DatabaseOutages); the rest (identity
      // provider, bcrypt's queue) at most once every few seconds, never once per request.
      if (error instanceof Unavailable && !isDatabaseOutage(error)) cannotAnswer.report(error);
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

// Bytes that never became a request (malformed, too slow, headers too large) reach no route:
// Node reports them as client errors, with the socket and nothing else to answer on.
const clientErrorAnswers = new Map<string, [number, string]>([
  ['ERR_HTTP_REQUEST_TIMEOUT', [408, 'The request took too long to arrive']],
  ['HPE_HEADER_OVERFLOW', [431, 'The request headers are too large']],
]);

/** Fastify's clientErrorHandler: an answer with a JSON `detail` (none on HEAD), then the connection closes. */
export function answerClientError(error: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void {
  // Once an answer has begun on this connection a second one would corrupt it: close, as Node does.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, detail] = clientErrorAnswers.get(error.code ?? '') ?? [400, 'Malformed HTTP request'];
  answerOnSocket(socket, status, detail, requestMethod(error.rawPacket, inFlight) !== 'HEAD');
}

/**
 * The method of the request that failed: its request object's, when it got that far; else the
 * start of the bytes that failed to parse, which hold the request line when the request came in
 * one piece (as the small requests of keygate's clients do).
 */
function requestMethod(rawPacket: unknown, inFlight: ServerResponse | undefined): string | undefined {
  if (inFlight !== undefined) return inFlight.req.method;
  return Buffer.isBuffer(rawPacket) ? /^[A-Z]+(?= )/.exec(rawPacket.toString('latin1', 0, 16))?.[0] : undefined;
}

/** Writes a whole answer straight to the socket and closes it, which frees the descriptor once the bytes are out. */
function answerOnSocket(socket: Duplex, status: number, detail: string, withBody: boolean, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ detail });
  const fields = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...headers };
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
  // end() alone would wait for the client to close its side too, as a slow client never does.
  socket.end(withBody ? head + body : head, () => socket.destroy());
}

/** RFC 6750 section 3: `invalid_token` only when a bearer token was actually presented. */
function bearerChallenge(error: Error, authorization: string | undefined): string | undefined {
  if (error instanceof Unauthenticated) {
    return /^Bearer +\S/i.test(authorization ?? '') ? 'Bearer error="invalid_token"' : 'Bearer';
  }
  // Only a caller that presented a bearer token is told in a bearer challenge.
  if (error instanceof Forbidden && error.missingScope !== undefined && /^Bearer +\S/i.test(authorization ?? '')) {
    return `Bearer error="insufficient_scope", scope="${error.missingScope}"`;
  }
  return undefined;
}

function replyInvalid(reply: FastifyReply, detail: ValidationIssue[]): FastifyReply {
  return reply.code(422).send({ detail });
}

/**
 * Where the domain's InvalidInput fields are: a GET's in its query string; else in the body, at
 * its top or, for the embedded create shape, under `request`.
 */
function inputLocation(request: FastifyRequest): Location {
  if (request.method === 'GET') return ['query'];
  return isEmbeddedCreateBody(request.body) ? ['body', 'request'] : ['body'];
}

function translateAjvIssues(issues: AjvIssue[], context: string): ValidationIssue[] {
  return issues
    // "must match then/else", "must match a schema in anyOf": the branches' own issues say more.
    .filter((issue) => issue.keyword !== 'if' && issue.keyword !== 'anyOf')
    // Of a nullable field's branches ({...} or null), "should be null" says nothing when the
    // value was meant as the other branch, whose issues are there beside it.
    .filter((issue, _, all) => !isNullBranch(issue) || !all.some((other) => other !== issue && other.instancePath.startsWith(issue.instancePath) && !isNullBranch(other)))
    .map((issue) => {
      const loc: Location = [context, ...issue.instancePath.split('/').slice(1).map(decodePointerSegment)];
      const { keyword, params } = issue;
      switch (keyword) {
        case 'required':
          return { loc: [...loc, String(params.missingProperty)], msg: 'Field required', type: 'missing' };
        case 'type':
          // A nullable field's types read "integer,null": the value was neither, say the first.
          return typeIssue(loc, String(params.type).split(',')[0]!);
        case 'pattern':
          return { loc, msg: `String should match pattern '${params.pattern}'`, type: 'string_pattern_mismatch' };
        case 'maxItems':
          return { loc, msg: `List should have at most ${params.limit} items`, type: 'too_long' };
        case 'minimum':
          return { loc, msg: `Input should be greater than or equal to ${params.limit}`, type: 'greater_than_equal' };
        case 'maximum':
          return { loc, msg: `Input should be less than or equal to ${params.limit}`, type: 'less_than_equal' };
        case 'minLength':
          return { loc, msg: `String should have at least ${params.limit} characters`, type: 'string_too_short' };
        case 'maxLength':
          return { loc, msg: `String should have at most ${params.limit} characters`, type: 'string_too_long' };
        case 'enum':
          // Pydantic's wording, which names what is allowed.
          return { loc, msg: `Input should be ${(params.allowedValues as unknown[]).map((value) => `'${String(value)}'`).join(' or ')}`, type: 'enum' };
        default:
          return { loc, msg: issue.message ?? 'Invalid value', type: keyword };
      }
    });
}

function isNullBranch(issue: AjvIssue): boolean {
  return issue.keyword === 'type' && issue.params.type === 'null';
}

function typeIssue(loc: Location, expected: string): ValidationIssue {
  const names: Record<string, [string, string]> = {
    integer: ['a valid integer', 'int_type'],
    string: ['a valid string', 'string_type'],
    object: ['a valid dictionary or object', 'dict_type'],
    array: ['a valid list', 'list_type'],
  };
  const [what, type] = names[expected] ?? [`of type ${expected}`, `${expected}_type`];
  return { loc, msg: `Input should be ${what}`, type };
}

function decodePointerSegment(segment: string): string | number {
  const decoded = segment.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(decoded) ? Number(decoded) : decoded;
}
