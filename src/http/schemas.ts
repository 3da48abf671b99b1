import type { FastifyInstance } from 'fastify';
import { NAME_MAX_LENGTH, type KeyRules } from '../keys/api-key-service.js';
import { ACTOR_TYPES } from '../audit/actor.js';
import { AUDIT_ACTIONS } from '../audit/audit-event.js';
import { ENVIRONMENTS } from '../keys/format.js';
import { GRANULARITIES } from '../keys/usage-history.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../list-query.js';
import { USER_ID_MAX_LENGTH } from '../text.js';
import {
  KEY_STATUSES,
  MAX_SCOPES,
  METADATA_MAX_BYTES,
  METADATA_MAX_DEPTH,
  QUOTA_MAX,
  RATE_LIMIT_MAX,
  REFILL_INTERVALS,
  SCOPE_PATTERN,
} from '../keys/key-settings.js';

// The contract's models, named as the seed's OpenAPI document names them, so that clients
// generated from either document get the same types. Response schemas also decide what is
// serialized: a field not listed here can never reach a response.

export const CREATED_MESSAGE = 'API key created successfully. Save it securely - it will not be shown again.';
export const ROTATED_MESSAGE = 'API key rotated successfully. Update your client configuration.';
export const BEARER_SCHEME = 'HTTPBearer';

const timestamp = { type: 'string', format: 'date-time' } as const;

const usageCounts = {
  valid: { type: 'integer', title: 'Valid', minimum: 0 },
  refused: { type: 'integer', title: 'Refused', minimum: 0 },
} as const;

/**
 * What a key may do and how much: optional on create (generated clients never send them), and
 * what PATCH changes. From the same constants the domain checks them by (keys/key-settings.ts).
 */
const settingsProperties = {
  scopes: {
    type: 'array',
    title: 'Scopes',
    description: 'What the key may do, e.g. tools:read. Verification can require scopes; exact match, no wildcards.',
    maxItems: MAX_SCOPES,
    items: { type: 'string', pattern: SCOPE_PATTERN.source },
    default: [],
  },
  metadata: {
    type: 'object',
    title: 'Metadata',
    description: `Any JSON object (at most ${METADATA_MAX_BYTES} bytes serialized, ${METADATA_MAX_DEPTH} levels deep), returned by verification as given.`,
    additionalProperties: true,
    default: {},
  },
  status: {
    type: 'string',
    title: 'Status',
    enum: [...KEY_STATUSES],
    description: 'A disabled key is refused like an unknown one until enabled again; the row is kept.',
    default: 'active',
  },
  rate_limit: {
    type: ['integer', 'null'],
    title: 'Rate Limit',
    minimum: 1,
    maximum: RATE_LIMIT_MAX,
    description: "Verifications per minute for this key; null: the server's KEYGATE_RATE_LIMIT_VERIFY_PER_KEY.",
    default: null,
  },
  quota: {
    anyOf: [{ $ref: 'KeyQuota#' }, { type: 'null' }],
    title: 'Quota',
    description: 'A usage limit: verifications left, with an optional refill. null: unlimited. Each verification of a key with a quota writes to the database.',
    default: null,
  },
} as const;

/** A key just created, as the seed's CreateAPIKeyResponse has it; the admin create adds its owner. */
const createdKeyProperties = {
  key_id: { type: 'string', title: 'Key Id' },
  name: { type: 'string', title: 'Name' },
  created: { ...timestamp, title: 'Created' },
  expires_at: { ...timestamp, title: 'Expires At' },
  last_used: { type: ['string', 'null'], format: 'date-time', title: 'Last Used' },
  api_key: { type: 'string', title: 'Api Key' },
  message: { type: 'string', title: 'Message', default: CREATED_MESSAGE },
} as const;

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
        environment: {
          type: 'string',
          title: 'Environment',
          enum: [...ENVIRONMENTS],
          description: "test keys carry their own prefix (KEYGATE_TEST_KEY_PREFIX, default mcpkey_test_) and verification reports them, for an API's sandbox.",
          default: 'live',
        },
        ...settingsProperties,
      },
    },
    {
      $id: 'KeyQuota',
      title: 'KeyQuota',
      description:
        'Verifications left; with refill, set back to `amount` at the start of every hour, day or month (UTC). At 0 the key is refused with 429 until refilled.',
      type: 'object',
      required: ['remaining'],
      properties: {
        remaining: { type: 'integer', title: 'Remaining', minimum: 0, maximum: QUOTA_MAX },
        refill: {
          anyOf: [
            {
              type: 'object',
              title: 'KeyQuotaRefill',
              required: ['amount', 'interval'],
              properties: {
                amount: { type: 'integer', title: 'Amount', minimum: 1, maximum: QUOTA_MAX },
                interval: { type: 'string', title: 'Interval', enum: [...REFILL_INTERVALS] },
              },
            },
            { type: 'null' },
          ],
        },
      },
    },
    {
      $id: 'UpdateAPIKeyRequest',
      title: 'UpdateAPIKeyRequest',
      description:
        'A JSON merge patch (RFC 7396) of the key: members given replace, null resets to the default (removes a quota or a metadata member), objects merge.',
      type: 'object',
      properties: {
        name: { type: 'string', title: 'Name', description: `1 to ${NAME_MAX_LENGTH} characters after trimming.` },
        expires_at: {
          ...timestamp,
          title: 'Expires At',
          description: `Shorten or extend: in the future, at most ${rules.maxExpiresDays} days from now.`,
        },
        ...settingsProperties,
      },
    },
    {
      $id: 'RotateAPIKeyRequest',
      title: 'RotateAPIKeyRequest',
      description: 'Optional. Without it (or with 0) the old key stops working at once, as the seed says.',
      type: 'object',
      properties: {
        grace_seconds: {
          type: 'integer',
          title: 'Grace Seconds',
          minimum: 0,
          maximum: rules.maxGraceSeconds,
          default: 0,
          description: 'How long the old key keeps working beside the new one. A second rotation ends an earlier grace at once.',
        },
      },
    },
    {
      $id: 'APIKeyDetails',
      title: 'APIKeyDetails',
      description: 'One API key in full, without its secret.',
      type: 'object',
      required: [
        'key_id',
        'user_id',
        'name',
        'environment',
        'status',
        'scopes',
        'metadata',
        'rate_limit',
        'quota',
        'created',
        'expires_at',
        'last_used',
        'previous_key_expires_at',
      ],
      properties: {
        key_id: { type: 'string', title: 'Key Id' },
        user_id: { type: 'string', title: 'User Id' },
        name: { type: 'string', title: 'Name' },
        environment: { type: 'string', title: 'Environment', enum: [...ENVIRONMENTS] },
        status: { type: 'string', title: 'Status', enum: [...KEY_STATUSES] },
        scopes: { type: 'array', title: 'Scopes', items: { type: 'string' } },
        metadata: { type: 'object', title: 'Metadata', additionalProperties: true },
        rate_limit: { type: ['integer', 'null'], title: 'Rate Limit' },
        quota: {
          anyOf: [
            {
              type: 'object',
              title: 'KeyQuotaState',
              required: ['remaining', 'refill', 'next_refill_at'],
              properties: {
                remaining: { type: 'integer', title: 'Remaining' },
                refill: {
                  anyOf: [
                    {
                      type: 'object',
                      required: ['amount', 'interval'],
                      properties: { amount: { type: 'integer' }, interval: { type: 'string', enum: [...REFILL_INTERVALS] } },
                    },
                    { type: 'null' },
                  ],
                },
                next_refill_at: { type: ['string', 'null'], format: 'date-time', title: 'Next Refill At' },
              },
            },
            { type: 'null' },
          ],
        },
        created: { ...timestamp, title: 'Created' },
        expires_at: { ...timestamp, title: 'Expires At' },
        last_used: { type: ['string', 'null'], format: 'date-time', title: 'Last Used' },
        previous_key_expires_at: {
          type: ['string', 'null'],
          format: 'date-time',
          title: 'Previous Key Expires At',
          description: 'During a grace rotation, when the previous key stops working; else null.',
        },
      },
    },
    {
      $id: 'AdminCreateAPIKeyRequest',
      title: 'AdminCreateAPIKeyRequest',
      description: 'A key for any user (admins only): the fields of CreateAPIKeyRequest, and whose key it is.',
      type: 'object',
      required: ['user_id', 'name'],
      properties: {
        user_id: { type: 'string', title: 'User Id', maxLength: USER_ID_MAX_LENGTH, description: 'The owner: any user id, or a service account.' },
        name: { type: 'string', title: 'Name' },
        expires_days: { type: 'integer', title: 'Expires Days', minimum: 1, maximum: rules.maxExpiresDays, default: rules.defaultExpiresDays },
        environment: { type: 'string', title: 'Environment', enum: [...ENVIRONMENTS], default: 'live' },
        ...settingsProperties,
      },
    },
    {
      $id: 'IssuedAPIKey',
      title: 'IssuedAPIKey',
      description: 'A new API key and its owner: `api_key` is shown this once and never again.',
      type: 'object',
      required: ['key_id', 'user_id', 'name', 'created', 'expires_at', 'api_key'],
      properties: { ...createdKeyProperties, user_id: { type: 'string', title: 'User Id' } },
    },
    {
      $id: 'AuditEvent',
      title: 'AuditEvent',
      description: 'One change to a key, or one refused attempt at one. Never a key, a secret, a hash or a token.',
      type: 'object',
      required: ['event_id', 'occurred_at', 'actor', 'action', 'outcome', 'key_id', 'owner_id', 'changes', 'detail', 'client_address', 'user_agent', 'request_id'],
      properties: {
        event_id: { type: 'string', title: 'Event Id' },
        occurred_at: { ...timestamp, title: 'Occurred At' },
        actor: {
          type: 'object',
          title: 'AuditActor',
          required: ['type', 'id'],
          properties: {
            type: { type: 'string', enum: [...ACTOR_TYPES], description: 'user, admin, cli (the operator\'s OS user), leak_report, key_holder (self-revoke) or system.' },
            id: { type: 'string', description: 'The user id, OS user, reporter, or key_id of the key holder.' },
          },
        },
        action: { type: 'string', title: 'Action', enum: [...AUDIT_ACTIONS] },
        outcome: { type: 'string', title: 'Outcome', enum: ['succeeded', 'refused'] },
        key_id: { type: ['string', 'null'], title: 'Key Id' },
        owner_id: { type: ['string', 'null'], title: 'Owner Id', description: "The key's owner; null for a key that does not exist." },
        changes: {
          type: 'object',
          title: 'Changes',
          description: 'Each non-secret field changed: {"old": ..., "new": ...}.',
          additionalProperties: { type: 'object', required: ['old', 'new'], properties: { old: {}, new: {} } },
        },
        detail: { type: 'object', title: 'Detail', additionalProperties: true, description: 'A grace, a leak report\'s URL, a refusal\'s reason.' },
        client_address: { type: ['string', 'null'], title: 'Client Address' },
        user_agent: { type: ['string', 'null'], title: 'User Agent' },
        request_id: { type: ['string', 'null'], title: 'Request Id' },
      },
    },
    {
      $id: 'KeyUsage',
      title: 'KeyUsage',
      description:
        "A key's verifications per UTC hour or day: `valid` succeeded; `refused`, the key's own secret refused for what the key may do " +
        '(disabled, expired, missing scope, rate limited, quota exhausted). Text that is no key\'s secret counts for no key. ' +
        'Counts are written behind: a verification shows once the flush interval (KEYGATE_LAST_USED_FLUSH_MS, default 2 s) has passed.',
      type: 'object',
      required: ['key_id', 'granularity', 'from', 'to', 'series', 'total'],
      properties: {
        key_id: { type: 'string', title: 'Key Id' },
        granularity: { type: 'string', title: 'Granularity', enum: [...GRANULARITIES] },
        from: { ...timestamp, title: 'From', description: 'The first bucket\'s start (inclusive).' },
        to: { ...timestamp, title: 'To', description: 'The last bucket\'s end (exclusive).' },
        series: {
          type: 'array',
          title: 'Series',
          description: 'Every bucket from `from` to `to`, oldest first; one without verifications has zeros.',
          items: {
            type: 'object',
            title: 'UsageBucket',
            required: ['start', 'valid', 'refused'],
            properties: { start: { ...timestamp, title: 'Start' }, ...usageCounts },
          },
        },
        total: { type: 'object', title: 'UsageTotal', required: ['valid', 'refused'], properties: usageCounts },
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
      properties: createdKeyProperties,
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

/** An error answer as the document shows it: `{detail}`, with what it means here. */
export const errorAnswer = (description: string) => ({ description, $ref: 'ErrorResponse#' });

/** The error answers every contract endpoint documents, beside its own success answer. */
export function contractResponses(success: Record<number, unknown>): Record<number, unknown> {
  return {
    ...success,
    401: errorAnswer('Unauthorized - Invalid or missing authentication token'),
    403: errorAnswer('Forbidden - Insufficient permissions'),
    422: { description: 'Validation Error', $ref: 'HTTPValidationError#' },
    429: errorAnswer('Too Many Requests - Rate limit exceeded'),
    500: errorAnswer('Internal Server Error'),
  };
}

/**
 * What a paged listing documents and validates: its filters (by name) plus `limit` and `cursor`
 * in the query string, and `{<items>: [...], next_cursor}` as its answer. No additionalProperties:
 * false on the query string, which Fastify's validator would apply by dropping the rest, so that
 * a misspelt filter would widen the answer: the handler refuses other names (closedQuery, with
 * `parameters`).
 */
export function pagedListing<Filter extends string>(
  page: { title: string; items: string; itemSchema: string; what: string },
  filters: Record<Filter, Record<string, unknown>>,
) {
  const properties = {
    ...filters,
    limit: { type: 'string', pattern: '^[0-9]+$', description: `${page.what} per page: 1 to ${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE}).` },
    cursor: { type: 'string', description: "A previous page's next_cursor." },
  };
  return {
    parameters: Object.keys(properties) as (Filter | 'limit' | 'cursor')[],
    querystring: { type: 'object', properties },
    response: {
      description: 'Successful Response',
      type: 'object',
      title: page.title,
      required: [page.items, 'next_cursor'],
      properties: {
        [page.items]: { type: 'array', items: { $ref: `${page.itemSchema}#` } },
        next_cursor: { type: ['string', 'null'], description: 'Where the next page starts; null on the last page.' },
      },
    },
  };
}
