import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { LeakSettings } from '../config.js';
import { NotFound } from '../errors.js';
import type { ApiKeyService } from '../keys/api-key-service.js';
import type { KeyVerifier } from '../keys/verifier.js';
import { LeakResponder } from '../leaks/leak-responder.js';
import { openReporterKeys } from '../leaks/reporter-keys.js';
import { MAX_REPORT_TOKENS, parseLeakReport } from '../leaks/report.js';
import { checkReportSignature, KEY_IDENTIFIER_HEADER, SIGNATURE_HEADER } from '../leaks/signature.js';
import { originOf } from './actor.js';
import type { RateLimitHook } from './rate-limits.js';
import { errorAnswers } from './verify-routes.js';

// POST /api/v1/leaks: GitHub's secret scanning (its partner program) reports keygate keys it
// finds in public places, and each one it proves is revoked (or disabled) before anyone uses it.
// The report is signed over its raw bytes, so this route's context reads the body as bytes,
// untouched by any JSON parser, and checks the signature before reading a field of it.
// Under the verification routes' per-address limit, as self-revoke is.

/** A report lists up to MAX_REPORT_TOKENS tokens with their URLs: far more than the server's 16 KiB. */
const REPORT_BODY_LIMIT_BYTES = 1024 * 1024;

const LEAKS_NOT_CONFIGURED =
  'Leak reports are not accepted here: set KEYGATE_LEAK_KEYS_URL (e.g. https://api.github.com/meta/public_keys/secret_scanning) ' +
  'or KEYGATE_LEAK_KEYS_FILE to the public keys that sign them';

const leakedToken = {
  type: 'object',
  required: ['token', 'type', 'url', 'source'],
  properties: {
    token: { type: 'string', description: 'The text found, as found' },
    type: { type: 'string', description: 'The token type (the pattern that matched), as registered with GitHub' },
    url: { type: 'string', description: 'Where the token was found' },
    source: { type: 'string', description: 'What kind of place that is: content, commit, pull_request, gist, npm, ...' },
  },
} as const;

const tokenVerdict = {
  type: 'object',
  required: ['token_raw', 'token_type', 'label'],
  properties: {
    token_raw: { type: 'string', description: 'The reported token, as reported' },
    token_type: { type: 'string', description: 'Its reported type' },
    label: {
      type: 'string',
      enum: ['true_positive', 'false_positive'],
      description: "true_positive: a keygate key's secret, now revoked (or disabled); false_positive: no live key's",
    },
  },
} as const;

const signatureHeader = (description: string) => ({ type: 'string', description: `Required (without it: 401). ${description}` });

export function leaksRoute(settings: LeakSettings, verifier: Pick<KeyVerifier, 'secretHolder'>, service: ApiKeyService, rateLimit: RateLimitHook | undefined) {
  return async (app: FastifyInstance): Promise<void> => {
    // Read at start for a file: a keygate that cannot read it fails to start (ConfigError).
    const keys = settings.keys && (await openReporterKeys(settings.keys));
    const responder = new LeakResponder(verifier, service, settings.action);

    // This context's JSON is the bytes as they came: anything that parsed and re-serialized
    // them would break the signature.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.post<{ Body: Buffer | undefined }>(
      '/api/v1/leaks',
      {
        onRequest: rateLimit,
        bodyLimit: REPORT_BODY_LIMIT_BYTES,
        config: { documentedBody: { type: 'array', maxItems: MAX_REPORT_TOKENS, items: leakedToken } },
        schema: {
          operationId: 'report_leaked_keys',
          summary: 'Report Leaked Keys',
          description:
            "GitHub secret scanning's partner endpoint: a JSON array of tokens found in public, signed by the reporter " +
            `(ECDSA P-256 with SHA-256 over the raw body: ${SIGNATURE_HEADER}, base64 of the DER signature, by the key ` +
            `${KEY_IDENTIFIER_HEADER} names among those published at KEYGATE_LEAK_KEYS_URL or in KEYGATE_LEAK_KEYS_FILE). ` +
            "Every token that is a keygate key's secret (its current one, or during a grace its previous one; disabled and " +
            'expired keys too) gets its key revoked, or disabled when KEYGATE_LEAK_ACTION=disable, audited as the actor ' +
            `leak_report with the report's url, source and type. At most ${MAX_REPORT_TOKENS} tokens and 1 MiB per report. ` +
            'Answers 404 when neither setting is configured.',
          tags: ['Leaks'],
          headers: {
            type: 'object',
            properties: {
              [KEY_IDENTIFIER_HEADER.toLowerCase()]: signatureHeader('The identifier of the reporter key that signed the body.'),
              [SIGNATURE_HEADER.toLowerCase()]: signatureHeader('Base64 of the DER ECDSA P-256 SHA-256 signature of the raw body.'),
            },
          },
          response: {
            200: { description: 'One verdict per reported token, in the report\'s order', type: 'array', items: tokenVerdict },
            401: { description: 'A signature header is missing, names an unknown key, or does not verify: nothing was revoked', $ref: 'ErrorResponse#' },
            404: { description: 'Leak reports are not configured (KEYGATE_LEAK_KEYS_URL or KEYGATE_LEAK_KEYS_FILE)', $ref: 'ErrorResponse#' },
            422: { description: 'The signed body is no report (not a JSON array, a field missing or not a string, too many tokens): nothing was revoked', $ref: 'HTTPValidationError#' },
            429: errorAnswers[429],
            503: {
              description: "The reporter's public keys cannot be read now, or the database does not answer (with Retry-After)",
              $ref: 'ErrorResponse#',
            },
          },
        },
      },
      async (request) => {
        if (keys === undefined) throw new NotFound(LEAKS_NOT_CONFIGURED);
        // No body at all is the empty one: its signature fails, or it is no JSON array.
        const body = request.body ?? Buffer.alloc(0);
        await checkReportSignature(body, { keyIdentifier: header(request, KEY_IDENTIFIER_HEADER), signature: header(request, SIGNATURE_HEADER) }, keys);
        const report = parseLeakReport(body);
        const labels = await responder.respond(report, originOf(request));
        return report.map((leak, index) => ({ token_raw: leak.token, token_type: leak.type, label: labels[index] }));
      },
    );
  };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}
