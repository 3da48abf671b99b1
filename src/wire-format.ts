import type { AuditEvent } from './audit/audit-event.js';
import type { ApiKeyView, IssuedKey, KeyDetails } from './keys/api-key-service.js';
import { settingsDocument } from './keys/key-settings.js';

// The snake_case JSON forms of keys and audit events: what the HTTP API answers and the CLI's
// --json prints, from one definition so that a script reads both alike.

/** A key as the seed's APIKeyResponse names it. */
export function keyResponse(key: ApiKeyView) {
  return { key_id: key.keyId, name: key.name, created: key.created, expires_at: key.expiresAt, last_used: key.lastUsed };
}

/** A key in full: APIKeyDetails. */
export function detailsResponse(key: KeyDetails) {
  const { quota, ...settings } = settingsDocument(key.settings);
  return {
    ...keyResponse(key),
    user_id: key.userId,
    environment: key.environment,
    ...settings,
    quota: quota && { ...quota, next_refill_at: key.nextRefillAt },
    previous_key_expires_at: key.previousKeyExpiresAt,
  };
}

/** A key just created or rotated, with its secret: the one answer that ever holds it. */
export function issuedKeyResponse(issued: IssuedKey) {
  return { ...keyResponse(issued), user_id: issued.userId, api_key: issued.apiKey };
}

export function auditEventResponse(event: AuditEvent) {
  return {
    event_id: event.eventId,
    occurred_at: event.occurredAt,
    actor: event.actor,
    action: event.action,
    outcome: event.outcome,
    key_id: event.keyId,
    owner_id: event.ownerId,
    changes: event.changes,
    detail: event.detail,
    client_address: event.clientAddress,
    user_agent: event.userAgent,
    request_id: event.requestId,
  };
}
