import type { FastifyInstance } from 'fastify';
import { NAME_MAX_LENGTH, type KeyRules } from '../keys/api-key-service.js';

// The contract's models, named as the seed's OpenAPI document names them, so that clients
// generated from either document get the same types. Response schemas also decide what is
// serialized: a field not listed here can never reach a response.

export const CREATED_MESSAGE = 'API key created successfully. Save it securely - it will not be shown again.';
export const ROTATED_MESSAGE = 'API key rotated successfully. Update your client configuration.';
export const BEARER_SCHEME = 'HTTPBearer';

const timestamp = { type: 'string', format: 'date-time' } as const;

export function registerContractSchemas(app: FastifyInstance, rules: KeyRules): void {
  const schemas = [
    {
      $id: 'CreateAPIKeyRequest',
      title: 'CreateAPIKeyRequest',
      description: 'Request to create a new API key.',
      type: 'object',
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          title: 'Name',
          description: `Human-readable name for the key: 1 to ${NAME_MAX_LENGTH} characters after trimming.`,
        },
        expires_days: {
          type: 'integer',
          title: 'Expires Days',
          description: 'Days until the key expires.',
          minimum: 1,
          maximum: rules.maxExpiresDays,
          default: rules.defaultExpiresDays,
        },
      },
    },
    {
      $id: 'HTTPAuthorizationCredentials',
      title: 'HTTPAuthorizationCredentials',
      description: 'Accepted for compatibility and ignored: the Authorization header authenticates.',
      type: 'object',
      required: ['scheme', 'credentials'],
      properties: { scheme: { type: 'string', title: 'Scheme' }, credentials: { type: 'string', title: 'Credentials' } },
    },
    {
      $id: 'BodyCreateApiKeyApiV1ApiKeysPost',
      title: 'Body_create_api_key_api_v1_api_keys_post',
      description: 'The create request as generated clients send it.',
      type: 'object',
      required: ['request'],
      properties: {
        request: { $ref: 'CreateAPIKeyRequest#' },
        // Nullable, as the seed declares it: its generated Python client always sends `"credentials": null`.
        credentials: { anyOf: [{ $ref: 'HTTPAuthorizationCredentials#' }, { type: 'null' }] },
      },
    },
    {
      $id: 'APIKeyResponse',
      title: 'APIKeyResponse',
      description: 'An API key without its secret.',
      type: 'object',
      required: ['key_id', 'name', 'created', 'expires_at'],
      properties: {
        key_id: { type: 'string', title: 'Key Id' },
        name: { type: 'string', title: 'Name' },
        created: { ...timestamp, title: 'Created' },
        expires_at: { ...timestamp, title: 'Expires At' },
        last_used: { type: ['string', 'null'], format: 'date-time', title: 'Last Used' },
      },
    },
    {
      $id: 'CreateAPIKeyResponse',
      title: 'CreateAPIKeyResponse',
      description: 'A new API key: `api_key` is shown this once and never again.',
      type: 'object',
      required: ['key_id', 'name', 'created', 'expires_at', 'api_key'],
      properties: {
        key_id: { type: 'string', title: 'Key Id' },
        name: { type: 'string', title: 'Name' },
        created: { ...timestamp, title: 'Created' },
        expires_at: { ...timestamp, title: 'Expires At' },
        last_used: { type: ['string', 'null'], format: 'date-time', title: 'Last Used' },
        api_key: { type: 'string', title: 'Api Key' },
        message: { type: 'string', title: 'Message', default: CREATED_MESSAGE },
      },
    },
    {
      $id: 'RotateAPIKeyResponse',
      title: 'RotateAPIKeyResponse',
      description: 'The new key under the same key_id: `new_api_key` is shown this once.',
      type: 'object',
      required: ['key_id', 'new_api_key'],
      properties: {
        key_id: { type: 'string', title: 'Key Id' },
        new_api_key: { type: 'string', title: 'New Api Key' },
        message: { type: 'string', title: 'Message', default: ROTATED_MESSAGE },
      },
    },
    {
      $id: 'ErrorResponse',
      title: 'ErrorResponse',
      type: 'object',
      required: ['detail'],
      properties: { detail: { type: 'string', title: 'Detail' } },
    },
    {
      $id: 'ValidationError',
      title: 'ValidationError',
      type: 'object',
      required: ['loc', 'msg', 'type'],
      properties: {
        loc: { type: 'array', title: 'Location', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } },
        msg: { type: 'string', title: 'Message' },
        type: { type: 'string', title: 'Error Type' },
      },
    },
    {
      $id: 'HTTPValidationError',
      title: 'HTTPValidationError',
      type: 'object',
      properties: { detail: { type: 'array', title: 'Detail', items: { $ref: 'ValidationError#' } } },
    },
  ];
  for (const schema of schemas) app.addSchema(schema);
}

/**
 * The create body is validated in whichever shape it arrives: embedded under `request` (as the
 * generated clients send it) or flat (as the seed's example shows). if/then/else rather than
 * anyOf, so that a bad body is reported against the shape it was meant to have.
 */
export const createBodyValidation = {
  if: { type: 'object', required: ['request'] },
  then: { $ref: 'BodyCreateApiKeyApiV1ApiKeysPost#' },
  else: { $ref: 'CreateAPIKeyRequest#' },
};

/**
 * What the OpenAPI document shows for the same body: the embedded shape alone, as the seed's
 * document does, so a client generated from keygate's document has the same create method as
 * the clients generated from the seed. The flat shape is accepted all the same.
 */
export const createBodyDocumentation = { $ref: 'BodyCreateApiKeyApiV1ApiKeysPost#' };

export function isEmbeddedCreateBody(body: unknown): body is { request: unknown } {
  return typeof body === 'object' && body !== null && 'request' in body;
}

const error = (description: string) => ({ description, $ref: 'ErrorResponse#' });

/** The error answers every contract endpoint documents, beside its own success answer. */
export function contractResponses(success: Record<number, unknown>): Record<number, unknown> {
  return {
    ...success,
    401: error('Unauthorized - Invalid or missing authentication token'),
    403: error('Forbidden - Insufficient permissions'),
    422: { description: 'Validation Error', $ref: 'HTTPValidationError#' },
    429: error('Too Many Requests - Rate limit exceeded'),
    500: error('Internal Server Error'),
  };
}
