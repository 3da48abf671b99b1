import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { encodeBase62 } from '../../src/keys/format.js';
import { call, type JsonResponse } from './keygate.js';

// Helpers for tests of what keys carry (scopes, metadata, status, environment, rate_limit):
// the management calls and the three verification routes, over HTTP.

export const CREATE_FIELDS = ['api_key', 'created', 'expires_at', 'key_id', 'last_used', 'message', 'name'];
export const LIST_FIELDS = ['created', 'expires_at', 'key_id', 'last_used', 'name'];
export const ROTATE_FIELDS = ['key_id', 'message', 'new_api_key'];
export const DETAILS_FIELDS = [
  'created',
  'environment',
  'expires_at',
  'key_id',
  'last_used',
  'metadata',
  'name',
  'previous_key_expires_at',
  'quota',
  'rate_limit',
  'scopes',
  'status',
  'user_id',
];
/** /verify's 200 for a key without a quota: no `remaining`. */
export const VERIFIED_FIELDS = ['environment', 'expires_at', 'key_id', 'metadata', 'name', 'scopes', 'user_id', 'valid'];
export const INVALID = { detail: 'Invalid API key' };

/** An object nested `levels` deep, the outermost counted as level 1: {a: {a: ... {}}}. */
export function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let level = 1; level < levels; level++) value = { a: value };
  return value;
}

/** Metadata whose JSON is exactly `bytes` bytes of UTF-8: {"a":"xxx..."}. */
export function metadataOfBytes(bytes: number, filler = 'x'): Record<string, unknown> {
  const fillerBytes = Buffer.byteLength(filler, 'utf8');
  const room = bytes - Buffer.byteLength('{"a":""}', 'utf8');
  const value = filler.repeat(Math.floor(room / fillerBytes)) + 'x'.repeat(room % fillerBytes);
  const metadata = { a: value };
  assert.equal(Buffer.byteLength(JSON.stringify(metadata), 'utf8'), bytes);
  return metadata;
}

/**
 * `apiKey` under another environment's prefix, with a checksum that matches again: what someone
 * who relabels a key by hand (and knows the checksum is a CRC32) makes. Only the tag, which
 * covers the prefix, can tell.
 */
export function relabelled(apiKey: string, from: string, to: string): string {
  assert.ok(apiKey.startsWith(from));
  const body = to + apiKey.slice(from.length, -6);
  return body + encodeBase62(crc32(body), 6);
}

export interface VerifyOptions {
  /** Required scopes, as ?scope=...&scope=... */
  query?: string[];
  /** The X-Keygate-Scope header, as given. */
  header?: string;
  /** How the key is presented: X-API-Key (default) or Authorization: Bearer. */
  as?: 'x-api-key' | 'bearer';
  /** Extra query parameters (forward-auth's jwt=true). */
  extra?: Record<string, string>;
}

type Route = 'verify' | 'validate' | 'forward-auth';

/** One verification of `apiKey` on /verify, /validate or forward-auth. */
export function verifyOn(baseUrl: string, route: Route, apiKey: string, options: VerifyOptions = {}): Promise<JsonResponse> {
  const query = new URLSearchParams(options.extra);
  for (const scope of options.query ?? []) query.append('scope', scope);
  const path = `/api/v1/api-keys/${route}${query.toString() === '' ? '' : `?${query}`}`;
  const headers: Record<string, string> = options.as === 'bearer' ? { authorization: `Bearer ${apiKey}` } : { 'x-api-key': apiKey };
  if (options.header !== undefined) headers['x-keygate-scope'] = options.header;
  return call(baseUrl, route === 'forward-auth' ? 'GET' : 'POST', path, { headers });
}

/** The scopes a 403's WWW-Authenticate challenge names, or undefined without one. */
export function challengedScopes(response: JsonResponse): string | undefined {
  const challenge = response.headers.get('www-authenticate');
  if (challenge === null) return undefined;
  const match = /^Bearer error="insufficient_scope", scope="([^"]*)"$/.exec(challenge);
  assert.ok(match, `an insufficient_scope challenge: ${challenge}`);
  return match[1];
}

/**
 * Asserts that `response` is the 403 of a key lacking exactly `missing` (of the scopes in
 * `granted`, none is named).
 */
export function assertInsufficientScope(response: JsonResponse, missing: string[], granted: string[], what = ''): void {
  assert.equal(response.status, 403, `${what} ${JSON.stringify(response.body)}`);
  const detail: string = response.body.detail;
  assert.equal(typeof detail, 'string', what);
  assert.ok(detail.startsWith('insufficient_scope:'), `${what} ${detail}`);
  for (const scope of missing) assert.ok(detail.includes(scope), `${what} the detail names ${scope}: ${detail}`);
  for (const scope of granted) assert.ok(!detail.includes(scope), `${what} the detail does not name ${scope}, which the key has: ${detail}`);
}
