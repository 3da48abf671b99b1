import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomInt, sign } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { call, keygateForTests, temporaryFolder, TEST_SECRET, type RunningKeygate } from './support/keygate.js';
import { rawRequest, type HeaderValue, type RawAnswer, type RawRequest } from './support/raw-http.js';

// Property-based fuzzing of every endpoint over a real loopback socket (every operation of the
// OpenAPI document, checked below, and the routes beside it). Requests are built by
// hand (tests/support/raw-http.ts), so methods, targets, header bytes and body bytes can be
// anything. Generated requests name credentials symbolically (user 2's token, key 5's latest
// key, ...) and are resolved against what the run has seen so far, so valid tokens and keys are
// mixed in and the deep paths (create, rotate, revoke, bcrypt, exchange) are reached.
//
// Properties of every answer: no 5xx; every 4xx is JSON with a `detail` (a string, or FastAPI's
// list of {loc, msg, type} for 422); no key, hash or exchanged token in an answer unless the
// request itself carried it, or the answer is the create/rotate/validate that issues it; no stack
// trace; nothing succeeds with a credential that must be refused. After the run: the server is
// healthy, every acknowledged write is there, and each key's latest version, and no older one,
// verifies.
//
// Seeds: a fresh random seed per run, printed; KEYGATE_FUZZ_SEED=<n> replays one run (with the
// same properties in the same order, the same requests are generated). KEYGATE_FUZZ_RUNS=<n>
// multiplies the number of runs for a longer local session.

const SEED = envInteger('KEYGATE_FUZZ_SEED') ?? randomInt(2 ** 31);
const RUNS_FACTOR = envInteger('KEYGATE_FUZZ_RUNS') ?? 1;

function envInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^-?\d+$/.test(text)) throw new Error(`${name} must be an integer, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** fc.assert with the run's seed, and a failure message that says how to replay it. */
async function checkProperty<T>(name: string, property: fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  try {
    await fc.assert(property, { seed: SEED, numRuns: numRuns * RUNS_FACTOR });
  } catch (error) {
    // fast-check keeps the property's own failure as the cause: it names the request and answer.
    const cause = error instanceof Error && error.cause instanceof Error ? `\n${error.cause.message}` : '';
    const message = (error instanceof Error ? error.message : String(error)) + cause;
    throw new Error(`fuzz property "${name}" failed with seed ${SEED}; replay: KEYGATE_FUZZ_SEED=${SEED} node --test dist/tests/fuzz.test.js\n${message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The world: what the run has seen, which symbolic requests resolve against

/**
 * Users the fuzzer acts as. Odd but valid ids, two whose ids differ only in a lone surrogate, and
 * last an admin, whose token also opens the admin routes (on any user's keys).
 */
const USER_IDS = ['fuzz-alice', 'fuzz-bob', 'Ω é 🔑 \u202e', ' ', 'u'.repeat(255), 'lone-\ud800', 'lone-\udbff', 'fuzz-admin'];
const ADMIN = USER_IDS.length - 1;
/** A local account (POST /auth/session, /auth/login; its access token for /auth/refresh). */
const ACCOUNT = { username: 'fuzz-account', password: 'a fuzzing password' };

interface KnownKey {
  keyId: string;
  owner: number;
  /** Every key issued under this key_id, in the order of their acknowledgements: the last is current. */
  versions: string[];
  /** A DELETE that certainly reached the revoke route answered 204 for the owner. */
  revoked: boolean;
  /** A 204 to a DELETE of the owner's whose target may or may not have named this key. */
  maybeRevoked: boolean;
}

interface HostileToken {
  label: string;
  token: string;
  /** The user it names if it is accepted; undefined: it must be refused. */
  user: number | undefined;
}

class World {
  readonly keys: KnownKey[] = [];
  readonly exchangeTokens: string[] = [];
  /** Keys an admin created for a user id the fuzzer does not act as: only looked for where they must not be. */
  readonly strayKeys: string[] = [];
  userTokens: string[] = [];
  /** ACCOUNT's access token, from /auth/login. */
  accountToken = '';
  /** Signs a leak report's body as the reporter whose key KEYGATE_LEAK_KEYS_FILE holds. */
  leakReporter: { identifier: string; sign(body: Buffer): string } | undefined;
  hostileTokens: HostileToken[] = [];
  requests = 0;
  /** How often each endpoint answered each status: printed, so a run shows which paths it reached. */
  readonly answers = new Map<string, number>();

  constructor(readonly server: RunningKeygate) {}

  byKeyId(keyId: string): KnownKey | undefined {
    return this.keys.find((key) => key.keyId === keyId);
  }

  /** Everything secret the server has handed out: none of it may show up where it does not belong. */
  *secrets(): Iterable<string> {
    for (const key of this.keys) yield* key.versions;
    yield* this.strayKeys;
    yield* this.exchangeTokens;
  }
}

// ---------------------------------------------------------------------------------------------
// Symbolic requests

/** JSON text built by hand: duplicate keys, `__proto__` as an own key, raw number spellings. */
type Doc =
  | { kind: 'value'; value: string | number | boolean | null }
  | { kind: 'raw'; text: string }
  | { kind: 'object'; entries: [string, Doc][] }
  | { kind: 'array'; items: Doc[] };

function renderDoc(doc: Doc): string {
  switch (doc.kind) {
    case 'value':
      return JSON.stringify(doc.value);
    case 'raw':
      return doc.text;
    case 'object':
      return `{${doc.entries.map(([key, value]) => `${JSON.stringify(key)}:${renderDoc(value)}`).join(',')}}`;
    case 'array':
      return `[${doc.items.map(renderDoc).join(',')}]`;
  }
}

type BodySpec =
  | { kind: 'none' }
  | { kind: 'doc'; doc: Doc }
  | { kind: 'text'; text: string }
  /** A create body whose name holds these raw bytes: invalid UTF-8, overlong forms, CESU surrogates. */
  | { kind: 'bytes'; bytes: number[] }
  | { kind: 'deep'; depth: number; style: 'array' | 'object' | 'embedded' | 'unclosed' }
  | { kind: 'huge'; size: number }
  /** {"current_token": the account's access token}: a refresh that succeeds. */
  | { kind: 'accountToken' }
  /** GitHub's leak report of this key. */
  | { kind: 'leak'; key: KeyRef };

/** A key presented to the server: one the run has seen (its current or an older version, possibly mangled) or any text. */
type KeyRef =
  | { kind: 'known'; index: number; version: 'current' | 'older'; mangle: Mangle }
  | { kind: 'text'; text: string };

type Mangle = 'none' | 'flip-last' | 'drop-last' | 'append' | 'lowercase' | 'spaces' | 'quoted' | 'no-prefix' | 'doubled';

type Credential =
  | { kind: 'user'; user: number }
  | { kind: 'hostile'; index: number }
  | { kind: 'exchange'; index: number }
  | { kind: 'key'; key: KeyRef }
  | { kind: 'text'; text: string };

interface AuthorizationSpec {
  scheme: string;
  credential: Credential;
  tail: string;
}

type Endpoint =
  | 'create' | 'list' | 'get' | 'patch' | 'usage' | 'revoke' | 'rotate'
  | 'adminList' | 'adminCreate' | 'adminGet' | 'adminPatch' | 'adminUsage' | 'adminRevoke' | 'adminRotate' | 'audit'
  | 'verify' | 'validate' | 'forwardAuth' | 'selfRevoke' | 'leaks'
  | 'authConfig' | 'signIn' | 'session' | 'signOut' | 'signUp' | 'login' | 'refresh'
  | 'healthz' | 'openapi' | 'jwks' | 'docs' | 'metrics' | 'nowhere';

type PathVariant =
  | 'plain' | 'toggle-slash' | 'query' | 'double-slash' | 'uppercase' | 'encoded' | 'dot-segment'
  | 'absolute' | 'fragment' | 'encoded-slash' | 'semicolon' | 'backslash' | 'raw-suffix';

interface FuzzRequest {
  endpoint: Endpoint;
  /** The key_id in the path of revoke and rotate. */
  pathKey: { kind: 'known'; index: number } | { kind: 'text'; text: string };
  /** undefined: the endpoint's own method. */
  method: string | undefined;
  path: PathVariant;
  suffix: string;
  host: 'normal' | 'missing' | 'twice' | 'garbage' | 'empty';
  authorization: AuthorizationSpec[];
  apiKeys: KeyRef[];
  apiKeyPadding: string;
  contentType: string | undefined;
  body: BodySpec;
  framing: 'length' | 'chunked';
  extraHeaders: [string, string | number[]][];
  /** On the leak report route: signed by the reporter, or not. */
  signed: boolean;
}

/** What a well-formed request presents: a user's token, the admin's, an API key, or nothing. */
type Presents = 'user' | 'admin' | 'key' | 'nothing';
/** The body a well-formed request sends. */
type BodyKind = 'none' | 'create' | 'adminCreate' | 'patch' | 'credentials' | 'signUp' | 'refresh' | 'leak';
/** What an acknowledged answer does to the keys the world knows. */
type KeyChange = 'create' | 'rotate' | 'revoke' | 'revokePresented';

interface EndpointSpec {
  method: string;
  path: (keyId: string) => string;
  presents: Presents;
  body?: BodyKind;
  changes?: KeyChange;
}

const KEYS = '/api/v1/api-keys';
const ADMIN_KEYS = '/api/v1/admin/api-keys';
const ENDPOINTS: Record<Endpoint, EndpointSpec> = {
  create: { method: 'POST', path: () => `${KEYS}/`, presents: 'user', body: 'create', changes: 'create' },
  list: { method: 'GET', path: () => `${KEYS}/`, presents: 'user' },
  get: { method: 'GET', path: (keyId) => `${KEYS}/${keyId}`, presents: 'user' },
  patch: { method: 'PATCH', path: (keyId) => `${KEYS}/${keyId}`, presents: 'user', body: 'patch' },
  usage: { method: 'GET', path: (keyId) => `${KEYS}/${keyId}/usage`, presents: 'user' },
  revoke: { method: 'DELETE', path: (keyId) => `${KEYS}/${keyId}`, presents: 'user', changes: 'revoke' },
  rotate: { method: 'POST', path: (keyId) => `${KEYS}/${keyId}/rotate`, presents: 'user', changes: 'rotate' },
  adminList: { method: 'GET', path: () => ADMIN_KEYS, presents: 'admin' },
  adminCreate: { method: 'POST', path: () => ADMIN_KEYS, presents: 'admin', body: 'adminCreate', changes: 'create' },
  adminGet: { method: 'GET', path: (keyId) => `${ADMIN_KEYS}/${keyId}`, presents: 'admin' },
  adminPatch: { method: 'PATCH', path: (keyId) => `${ADMIN_KEYS}/${keyId}`, presents: 'admin', body: 'patch' },
  adminUsage: { method: 'GET', path: (keyId) => `${ADMIN_KEYS}/${keyId}/usage`, presents: 'admin' },
  adminRevoke: { method: 'DELETE', path: (keyId) => `${ADMIN_KEYS}/${keyId}`, presents: 'admin', changes: 'revoke' },
  adminRotate: { method: 'POST', path: (keyId) => `${ADMIN_KEYS}/${keyId}/rotate`, presents: 'admin', changes: 'rotate' },
  // A user reads the trail of their own keys; an admin anyone's.
  audit: { method: 'GET', path: () => '/api/v1/audit', presents: 'user' },
  verify: { method: 'POST', path: () => `${KEYS}/verify`, presents: 'key' },
  validate: { method: 'POST', path: () => `${KEYS}/validate`, presents: 'key' },
  forwardAuth: { method: 'GET', path: () => `${KEYS}/forward-auth`, presents: 'key' },
  selfRevoke: { method: 'POST', path: () => `${KEYS}/self-revoke`, presents: 'key', changes: 'revokePresented' },
  leaks: { method: 'POST', path: () => '/api/v1/leaks', presents: 'nothing', body: 'leak', changes: 'revokePresented' },
  authConfig: { method: 'GET', path: () => '/auth/config', presents: 'nothing' },
  signIn: { method: 'POST', path: () => '/auth/session', presents: 'nothing', body: 'credentials' },
  session: { method: 'GET', path: () => '/auth/session', presents: 'nothing' },
  signOut: { method: 'DELETE', path: () => '/auth/session', presents: 'nothing' },
  signUp: { method: 'POST', path: () => '/auth/signup', presents: 'nothing', body: 'signUp' },
  login: { method: 'POST', path: () => '/auth/login', presents: 'nothing', body: 'credentials' },
  refresh: { method: 'POST', path: () => '/auth/refresh', presents: 'nothing', body: 'refresh' },
  healthz: { method: 'GET', path: () => '/healthz', presents: 'nothing' },
  openapi: { method: 'GET', path: () => '/openapi.json', presents: 'nothing' },
  jwks: { method: 'GET', path: () => '/.well-known/jwks.json', presents: 'nothing' },
  docs: { method: 'GET', path: () => '/docs', presents: 'nothing' },
  metrics: { method: 'GET', path: () => '/metrics', presents: 'nothing' },
  nowhere: { method: 'GET', path: () => '/api/v2/keys', presents: 'nothing' },
};

/** Path variants after which the router still certainly reaches the same route with the same key_id. */
const ROUTE_PRESERVING: ReadonlySet<PathVariant> = new Set(['plain', 'toggle-slash', 'query']);

// ---------------------------------------------------------------------------------------------
// Arbitraries

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const base62 = (length: number) => fc.string({ unit: fc.constantFrom(...BASE62), minLength: length, maxLength: length });

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
const controlCharacter = fc
  .oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }))
  .map((code) => String.fromCharCode(code));
const trickyText = fc.constantFrom(
  '\u2028', '\u202e', '\ufeff', '\u200b', '\ufffd', 'e\u0301', '𝕜', '🔑', '%00', '%', '../', '\\', '"', "'",
  '<script>', '${x}', '{{7*7}}', 'null', 'undefined', 'NaN', '__proto__', 'constructor', 'prototype', 'toString',
  ' ', '\t', '\r\n', 'mcpkey_live_', '$2b$10$',
);
const hostileString = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), loneSurrogate, controlCharacter, trickyText), { maxLength: 6 })
  .map((parts) => parts.join(''));
/** Long text: a hostile piece repeated to a length around and beyond the limits (names, body size). */
const hugeString = fc
  .tuple(hostileString, fc.integer({ min: 90, max: 20_000 }))
  .map(([piece, length]) => (piece === '' ? 'x' : piece).repeat(Math.ceil(length / Math.max(1, piece.length))).slice(0, length));

const scalarDoc: fc.Arbitrary<Doc> = fc.oneof(
  fc.oneof(fc.string(), hostileString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null)).map((value): Doc => ({ kind: 'value', value })),
  fc
    .constantFrom('1e400', '-0', '365.0', '0x10', '1_000', 'Infinity', 'NaN', '01', '.5', '+1', '"\\ud800"', '"\\u0000"', '"\\uDFFF\\uD800"', 'undefined', "'x'")
    .map((text): Doc => ({ kind: 'raw', text })),
);
const objectKey = fc.oneof(
  fc.constantFrom(
    '__proto__', 'constructor', 'prototype', 'name', 'expires_days', 'request', 'credentials', '', 'toString', 'hasOwnProperty',
    // Fields of the other bodies: the admin's create, PATCH, sign-in and refresh.
    'user_id', 'metadata', 'scopes', 'username', 'password', 'refresh_token', 'current_token',
  ),
  hostileString,
);
const { anyDoc } = fc.letrec<{ anyDoc: Doc }>((tie) => ({
  anyDoc: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarDoc,
    fc.array(fc.tuple(objectKey, tie('anyDoc')), { maxLength: 4 }).map((entries): Doc => ({ kind: 'object', entries })),
    fc.array(tie('anyDoc'), { maxLength: 4 }).map((items): Doc => ({ kind: 'array', items })),
  ),
}));

const value = (v: string | number | boolean | null): Doc => ({ kind: 'value', value: v });

const nameDoc: fc.Arbitrary<Doc> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 }).map(value) },
  { weight: 3, arbitrary: hostileString.map(value) },
  { weight: 1, arbitrary: hugeString.map(value) },
  { weight: 1, arbitrary: fc.constantFrom('"\\ud800x"', '"a\\u0000b"', '"\\udc00"', '"   "', '""').map((text): Doc => ({ kind: 'raw', text })) },
  { weight: 1, arbitrary: anyDoc },
);
const expiresDoc: fc.Arbitrary<Doc> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 3650 }).map(value) },
  { weight: 3, arbitrary: fc.constantFrom<string | number | boolean | null>(0, -1, 3651, 2 ** 31, 2 ** 53 + 2, 1.5, '365', '1e3', true, null).map(value) },
  { weight: 1, arbitrary: fc.constantFrom('365.0', '1e400', '-0', '3.65e2', '[]', '{}').map((text): Doc => ({ kind: 'raw', text })) },
  { weight: 1, arbitrary: anyDoc },
);
const extraEntries = fc.array(fc.tuple(objectKey, anyDoc), { maxLength: 2 });
const flatCreate: fc.Arbitrary<Doc> = fc
  .record({
    name: fc.option(nameDoc, { freq: 8, nil: undefined }),
    expires: fc.option(expiresDoc, { freq: 2, nil: undefined }),
    extra: fc.oneof({ weight: 4, arbitrary: fc.constant<[string, Doc][]>([]) }, { weight: 1, arbitrary: extraEntries }),
  })
  .map(({ name, expires, extra }): Doc => ({
    kind: 'object',
    entries: [...(name ? [['name', name] as [string, Doc]] : []), ...(expires ? [['expires_days', expires] as [string, Doc]] : []), ...extra],
  }));
const credentialsDoc: fc.Arbitrary<Doc> = fc.oneof(
  fc.constant(value(null)),
  fc.record({ scheme: hostileString, credentials: hostileString }).map(({ scheme, credentials }): Doc => ({
    kind: 'object',
    entries: [['scheme', value(scheme)], ['credentials', value(credentials)]],
  })),
  anyDoc,
);
const embeddedCreate: fc.Arbitrary<Doc> = fc
  .record({
    request: fc.oneof({ weight: 5, arbitrary: flatCreate }, { weight: 1, arbitrary: anyDoc }),
    credentials: fc.option(credentialsDoc, { freq: 3, nil: undefined }),
    extra: fc.oneof({ weight: 4, arbitrary: fc.constant<[string, Doc][]>([]) }, { weight: 1, arbitrary: extraEntries }),
  })
  .map(({ request, credentials, extra }): Doc => ({
    kind: 'object',
    entries: [['request', request], ...(credentials ? [['credentials', credentials] as [string, Doc]] : []), ...extra],
  }));

const bodySpec: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 4, arbitrary: flatCreate.map((doc): BodySpec => ({ kind: 'doc', doc })) },
  { weight: 3, arbitrary: embeddedCreate.map((doc): BodySpec => ({ kind: 'doc', doc })) },
  { weight: 3, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
  { weight: 2, arbitrary: anyDoc.map((doc): BodySpec => ({ kind: 'doc', doc })) },
  { weight: 1, arbitrary: fc.oneof(fc.string(), hostileString).map((text): BodySpec => ({ kind: 'text', text })) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.constantFrom(0xc0, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x00, 0x22, 0x5c)), { minLength: 1, maxLength: 8 })
      .map((bytes): BodySpec => ({ kind: 'bytes', bytes })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ depth: fc.integer({ min: 10, max: 9_000 }), style: fc.constantFrom('array', 'object', 'embedded', 'unclosed') })
      .map(({ depth, style }): BodySpec => ({ kind: 'deep', depth, style })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 15_000, max: 40_000 }).map((size): BodySpec => ({ kind: 'huge', size })) },
);

const mangle = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Mangle>('none') },
  { weight: 4, arbitrary: fc.constantFrom<Mangle>('flip-last', 'drop-last', 'append', 'lowercase', 'spaces', 'quoted', 'no-prefix', 'doubled') },
);
const keyRef: fc.Arbitrary<KeyRef> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({ index: fc.nat(), version: fc.constantFrom<'current' | 'older'>('current', 'current', 'older'), mangle })
      .map((ref): KeyRef => ({ kind: 'known', ...ref })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(hostileString, hugeString, base62(74).map((text) => `mcpkey_live_${text.slice(0, 12)}_${text.slice(12)}`))
      .map((text): KeyRef => ({ kind: 'text', text })),
  },
);
const credential: fc.Arbitrary<Credential> = fc.oneof(
  { weight: 8, arbitrary: fc.nat({ max: USER_IDS.length - 1 }).map((user): Credential => ({ kind: 'user', user })) },
  { weight: 3, arbitrary: fc.nat().map((index): Credential => ({ kind: 'hostile', index })) },
  { weight: 1, arbitrary: fc.nat().map((index): Credential => ({ kind: 'exchange', index })) },
  { weight: 2, arbitrary: keyRef.map((key): Credential => ({ kind: 'key', key })) },
  { weight: 1, arbitrary: fc.oneof(hostileString, hugeString).map((text): Credential => ({ kind: 'text', text })) },
);
const authorizationSpec: fc.Arbitrary<AuthorizationSpec> = fc.record({
  scheme: fc.oneof(
    { weight: 8, arbitrary: fc.constant('Bearer') },
    { weight: 3, arbitrary: fc.constantFrom('bearer', 'BEARER', 'ApiKey', 'apikey', 'Basic', 'Token', '', 'Bearer ', 'Bearer\t', 'Bearer,') },
    { weight: 1, arbitrary: hostileString },
  ),
  credential,
  tail: fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(' ', '  ', ' x', '\t', ',', ', Bearer x') }),
});

const pathKey = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((index) => ({ kind: 'known' as const, index })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        base62(12),
        hostileString.map(percentEncode),
        hostileString,
        fc.constantFrom('%00', '%ff', '%zz', '%', '..', '.', '%2e%2e', 'verify', 'validate', ' ', '%20', '%C0%AE', 'a'.repeat(64), 'a'.repeat(65), 'a'.repeat(101)),
        hugeString.map((text) => percentEncode(text.slice(0, 300))),
      )
      .map((text) => ({ kind: 'text' as const, text })),
  },
);

const extraHeader: fc.Arbitrary<[string, string | number[]]> = fc.oneof(
  fc.constantFrom<[string, string]>(
    ['Expect', '100-continue'], ['Expect', 'nonsense'], ['Content-Encoding', 'gzip'], ['Transfer-Encoding', 'gzip'],
    ['X-Forwarded-For', 'garbage, ::1, 999.1.1.1'], ['Accept', 'application/xml'], ['Accept', '*/*;q=oops'], ['Connection', 'close'],
    ['Connection', 'keep-alive, Upgrade'], ['Upgrade', 'h2c'], ['Cookie', '__proto__=1'], ['Origin', 'null'],
    ['Accept-Encoding', 'gzip, br, zstd'], ['X-HTTP-Method-Override', 'DELETE'], ['Content-Length', '0'],
    ['Content-Type', 'text/plain'], ['Authorization', ''], ['X-API-Key', ''], ['Range', 'bytes=0-1'], ['If-None-Match', '*'],
  ),
  fc.tuple(fc.constantFrom('X-Fuzz', 'Authorization', 'X-API-Key', '__proto__', 'Content-Type', 'X Bad', 'X:Bad', ''), hostileString),
  fc.tuple(fc.constant('X-Bytes'), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 })),
);

const endpoint = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Endpoint>('create') },
  { weight: 2, arbitrary: fc.constant<Endpoint>('list') },
  { weight: 3, arbitrary: fc.constant<Endpoint>('revoke') },
  { weight: 3, arbitrary: fc.constant<Endpoint>('rotate') },
  { weight: 3, arbitrary: fc.constant<Endpoint>('verify') },
  { weight: 2, arbitrary: fc.constant<Endpoint>('validate') },
  { weight: 3, arbitrary: fc.constantFrom<Endpoint>('get', 'patch', 'usage') },
  { weight: 4, arbitrary: fc.constantFrom<Endpoint>('adminList', 'adminCreate', 'adminGet', 'adminPatch', 'adminUsage', 'adminRevoke', 'adminRotate', 'audit') },
  { weight: 2, arbitrary: fc.constantFrom<Endpoint>('forwardAuth', 'selfRevoke') },
  { weight: 1, arbitrary: fc.constant<Endpoint>('leaks') },
  { weight: 3, arbitrary: fc.constantFrom<Endpoint>('authConfig', 'signIn', 'session', 'signOut', 'signUp', 'login', 'refresh') },
  { weight: 2, arbitrary: fc.constantFrom<Endpoint>('healthz', 'openapi', 'jwks', 'docs', 'metrics', 'nowhere') },
);

/** The hostile value of each field of a request. */
const hostileFields = fc.record({
  pathKey,
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'get', 'G@T', 'M-SEARCH', 'QUERY', 'PRI', 'X'.repeat(200)),
  path: fc.constantFrom<PathVariant>(
    'toggle-slash', 'query', 'double-slash', 'uppercase', 'encoded', 'dot-segment', 'absolute', 'fragment', 'encoded-slash', 'semicolon', 'backslash', 'raw-suffix',
  ),
  suffix: fc.oneof(fc.constantFrom('a=1', '__proto__[x]=1', 'constructor.prototype.x=1', '%zz', '&&&', '='.repeat(50), 'key_id=x&key_id=y'), hostileString),
  host: fc.constantFrom<FuzzRequest['host']>('missing', 'twice', 'garbage', 'empty'),
  authorization: fc.array(authorizationSpec, { maxLength: 2 }),
  apiKeys: fc.array(keyRef, { maxLength: 3 }),
  apiKeyPadding: fc.constantFrom(' ', '\t', '  '),
  contentType: fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(
      'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=latin1', 'application/json, text/plain',
      'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json', '', 'application/jsonx',
      'application/json;', ';', 'application/json; charset="', 'application/json; __proto__=x',
    ),
    hostileString,
  ),
  body: bodySpec,
  framing: fc.constant<'length' | 'chunked'>('chunked'),
  extraHeaders: fc.array(extraHeader, { minLength: 1, maxLength: 3 }),
  signed: fc.constant(false),
});

type Field = 'pathKey' | 'method' | 'path' | 'host' | 'authorization' | 'apiKeys' | 'contentType' | 'body' | 'framing' | 'extraHeaders' | 'signed';
const FIELDS: Field[] = ['pathKey', 'method', 'path', 'host', 'authorization', 'apiKeys', 'contentType', 'body', 'framing', 'extraHeaders', 'signed'];

/** What a well-behaved client sends: a valid create body, the user's bearer token, a current key. */
const wellFormedCreate: fc.Arbitrary<BodySpec> = fc
  .record({
    name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((name) => name.trim() !== '' && !/[\u0000-\u001f\u007f-\u009f]/.test(name)),
    expires: fc.option(fc.integer({ min: 1, max: 3650 }), { nil: undefined }),
    embedded: fc.boolean(),
  })
  .map(({ name, expires, embedded }): BodySpec => {
    const request: Doc = { kind: 'object', entries: [['name', value(name)], ...(expires === undefined ? [] : [['expires_days', value(expires)] as [string, Doc]])] };
    return { kind: 'doc', doc: embedded ? { kind: 'object', entries: [['request', request], ['credentials', value(null)]] } : request };
  });

const objectDoc = (entries: [string, string | number | boolean | null][]): BodySpec => ({
  kind: 'doc',
  doc: { kind: 'object', entries: entries.map(([name, v]) => [name, value(v)]) },
});
const shortText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((text) => text.trim() !== '' && !/[\u0000-\u001f\u007f-\u009f]/.test(text));
/** The well-formed body of each kind but a user's create (wellFormedCreate) and the symbolic ones. */
const wellFormedBodies = fc.record({
  adminCreate: fc.record({ user: fc.nat({ max: USER_IDS.length - 1 }), name: shortText }).map(({ user, name }) => objectDoc([['user_id', USER_IDS[user]!], ['name', name]])),
  // Never status, expiry, limits or quota: a patch here changes nothing a verification depends on.
  patch: fc.oneof(shortText.map((name) => objectDoc([['name', name]])), shortText.map((team): BodySpec => ({
    kind: 'doc',
    doc: { kind: 'object', entries: [['metadata', { kind: 'object', entries: [['team', value(team)]] }]] },
  }))),
  credentials: fc.constant(objectDoc([['username', ACCOUNT.username], ['password', ACCOUNT.password]])),
  signUp: fc.nat({ max: 50 }).map((n) => objectDoc([['username', `fuzz-signup-${n}`], ['password', ACCOUNT.password]])),
});

const wellFormedFields = fc.record({
  bodies: wellFormedBodies,
  pathKey: fc.nat().map((index) => ({ kind: 'known' as const, index })),
  user: fc.nat({ max: USER_IDS.length - 1 }),
  key: fc.record({ index: fc.nat(), version: fc.constant<'current'>('current'), mangle: fc.constant<Mangle>('none') }).map((ref): KeyRef => ({ kind: 'known', ...ref })),
  keyAs: fc.constantFrom('X-API-Key', 'ApiKey', 'Bearer'),
  create: wellFormedCreate,
});

/**
 * A well-formed request with a few of its fields (none to all) replaced by hostile values. Mostly
 * one or two, so that most requests get deep enough to matter; shrinking drops mutations first,
 * so a failure shrinks to the fields that cause it.
 */
const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    endpoint,
    normal: wellFormedFields,
    hostile: hostileFields,
    mutated: fc.oneof(
      { weight: 2, arbitrary: fc.constant<Field[]>([]) },
      { weight: 6, arbitrary: fc.subarray(FIELDS, { minLength: 1, maxLength: 2 }) },
      { weight: 2, arbitrary: fc.subarray(FIELDS, { minLength: 3 }) },
    ),
  })
  .map(({ endpoint, normal, hostile, mutated }): FuzzRequest => {
    const { presents, body: bodyKind = 'none' } = ENDPOINTS[endpoint];
    const key = { kind: 'key' as const, key: normal.key };
    const bodies: Record<BodyKind, BodySpec> = {
      none: { kind: 'none' },
      create: normal.create,
      ...normal.bodies,
      refresh: { kind: 'accountToken' },
      leak: { kind: 'leak', key: normal.key },
    };
    const body = bodies[bodyKind];
    const wellFormed: FuzzRequest = {
      endpoint,
      pathKey: normal.pathKey,
      method: undefined,
      path: 'plain',
      suffix: hostile.suffix,
      host: 'normal',
      authorization:
        presents === 'key'
          ? normal.keyAs === 'X-API-Key' ? [] : [{ scheme: normal.keyAs, credential: key, tail: '' }]
          : presents === 'nothing' ? [] : [{ scheme: 'Bearer', credential: { kind: 'user', user: presents === 'admin' ? ADMIN : normal.user }, tail: '' }],
      apiKeys: presents === 'key' && normal.keyAs === 'X-API-Key' ? [normal.key] : [],
      apiKeyPadding: '',
      contentType: body.kind === 'none' ? undefined : 'application/json',
      body,
      framing: 'length',
      extraHeaders: [],
      signed: true,
    };
    const request: Record<string, unknown> = { ...wellFormed };
    for (const field of mutated) request[field] = hostile[field];
    if (mutated.includes('path')) request.suffix = hostile.suffix;
    if (mutated.includes('apiKeys')) request.apiKeyPadding = hostile.apiKeyPadding;
    return request as unknown as FuzzRequest;
  });

// ---------------------------------------------------------------------------------------------
// Resolving a symbolic request against the world

/** Percent-encoding of every UTF-8 byte (encodeURIComponent throws on lone surrogates). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
}

function pick<T>(items: readonly T[], index: number): T | undefined {
  return items.length === 0 ? undefined : items[index % items.length];
}

function resolveKey(world: World, ref: KeyRef): string {
  if (ref.kind === 'text') return ref.text;
  const known = pick(world.keys, ref.index);
  if (known === undefined) return 'mcpkey_live_nokeysyet0000_x';
  const key = ref.version === 'older' && known.versions.length > 1 ? (known.versions.at(-2) as string) : (known.versions.at(-1) as string);
  const prefixLength = 'mcpkey_live_'.length;
  switch (ref.mangle) {
    case 'none':
      return key;
    case 'flip-last':
      return key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    case 'drop-last':
      return key.slice(0, -1);
    case 'append':
      return `${key}0`;
    case 'lowercase':
      return key.toLowerCase();
    case 'spaces':
      return `  ${key}  `;
    case 'quoted':
      return `"${key}"`;
    case 'no-prefix':
      return key.slice(prefixLength);
    case 'doubled':
      return `${key},${key}`;
  }
}

/** The credential text, and the user it authenticates as if the server accepts it (undefined: must be refused). */
function resolveCredential(world: World, credential: Credential): { text: string; user: number | undefined } {
  switch (credential.kind) {
    case 'user':
      return { text: world.userTokens[credential.user] as string, user: credential.user };
    case 'hostile': {
      const hostile = pick(world.hostileTokens, credential.index) as HostileToken;
      return { text: hostile.token, user: hostile.user };
    }
    case 'exchange':
      return { text: pick(world.exchangeTokens, credential.index) ?? 'no.exchange.token', user: undefined };
    case 'key':
      return { text: resolveKey(world, credential.key), user: undefined };
    case 'text':
      return { text: credential.text, user: undefined };
  }
}

function renderBody(world: World, spec: BodySpec): Buffer | undefined {
  switch (spec.kind) {
    case 'none':
      return undefined;
    case 'doc':
      return Buffer.from(renderDoc(spec.doc), 'utf8');
    case 'text':
      return Buffer.from(spec.text, 'utf8');
    case 'bytes':
      return Buffer.concat([Buffer.from('{"name":"'), Buffer.from(spec.bytes), Buffer.from('"}')]);
    case 'deep': {
      const { depth } = spec;
      if (spec.style === 'array') return Buffer.from('['.repeat(depth) + ']'.repeat(depth));
      if (spec.style === 'object') return Buffer.from('{"name":'.repeat(depth) + '"x"' + '}'.repeat(depth));
      if (spec.style === 'embedded') return Buffer.from('{"request":'.repeat(depth) + '{"name":"x"}' + '}'.repeat(depth));
      return Buffer.from('[{"a":'.repeat(depth));
    }
    case 'huge':
      return Buffer.from(JSON.stringify({ name: 'n'.repeat(spec.size) }));
    case 'accountToken':
      return Buffer.from(JSON.stringify({ current_token: world.accountToken }));
    case 'leak':
      return Buffer.from(JSON.stringify([{ token: resolveKey(world, spec.key), type: 'keygate_api_key', url: 'https://github.com/fuzz/repo', source: 'content' }]));
  }
}

function renderTarget(base: string, variant: PathVariant, suffix: string): string {
  switch (variant) {
    case 'plain':
      return base;
    case 'toggle-slash':
      return base.endsWith('/') ? base.slice(0, -1) : `${base}/`;
    case 'query':
      return `${base}?${suffix}`;
    case 'double-slash':
      return `/${base}`;
    case 'uppercase':
      return base.toUpperCase();
    case 'encoded':
      return base.replace(/[a-z]/, (letter) => percentEncode(letter));
    case 'dot-segment':
      return base.replace(/^\/([^/]+)/, '/$1/x/..');
    case 'absolute':
      return `http://127.0.0.1${base}`;
    case 'fragment':
      return `${base}#${suffix}`;
    case 'encoded-slash':
      return base.replace(/\/([^/]*)$/, '%2F$1');
    case 'semicolon':
      return `${base};${suffix}`;
    case 'backslash':
      return base.replace(/\//g, '\\');
    case 'raw-suffix':
      return base + suffix;
  }
}

/** `Authorization: Bearer <token>`, the scheme in any case, spaces around the token. */
const BEARER_FIELD = /^Bearer +(\S+) *$/i;

interface Resolved {
  raw: RawRequest;
  method: string;
  /** The user the first Authorization field authenticates as, if accepted; undefined: it must be refused. */
  user: number | undefined;
  /** The known key the path names, if any. */
  pathKey: KnownKey | undefined;
}

function resolve(world: World, request: FuzzRequest): Resolved {
  const endpoint = ENDPOINTS[request.endpoint];
  const pathKey = request.pathKey.kind === 'known' ? pick(world.keys, request.pathKey.index) : undefined;
  const keyIdText = request.pathKey.kind === 'known' ? (pathKey?.keyId ?? 'AAAAAAAAAAAA') : request.pathKey.text;
  const method = request.method ?? endpoint.method;
  const headers: [string, HeaderValue][] = [];
  const { port } = new URL(world.server.baseUrl);
  if (request.host === 'normal') headers.push(['Host', `127.0.0.1:${port}`]);
  if (request.host === 'twice') headers.push(['Host', `127.0.0.1:${port}`], ['Host', 'evil.example']);
  if (request.host === 'garbage') headers.push(['Host', 'ev il/\\@:x']);
  if (request.host === 'empty') headers.push(['Host', '']);
  let user: number | undefined;
  request.authorization.forEach((spec, position) => {
    const resolved = resolveCredential(world, spec.credential);
    const field = `${spec.scheme === '' ? '' : `${spec.scheme} `}${resolved.text}${spec.tail}`;
    // Only the first field counts (Node keeps the first Authorization), and only in the form the
    // README documents, `Bearer <token>`, once HTTP has trimmed the value's surrounding spaces
    // and tabs: any other spelling must be refused.
    const trimmed = field.replace(/^[ \t]+|[ \t]+$/g, '');
    if (position === 0) user = BEARER_FIELD.exec(trimmed)?.[1] === resolved.text ? resolved.user : undefined;
    headers.push(['Authorization', field]);
  });
  for (const key of request.apiKeys) headers.push(['X-API-Key', `${request.apiKeyPadding}${resolveKey(world, key)}${request.apiKeyPadding}`]);
  if (request.contentType !== undefined) headers.push(['Content-Type', request.contentType]);
  for (const [name, headerValue] of request.extraHeaders) headers.push([name, typeof headerValue === 'string' ? headerValue : Buffer.from(headerValue)]);
  const body = renderBody(world, request.body);
  if (request.endpoint === 'leaks' && request.signed && world.leakReporter !== undefined) {
    headers.push(['Github-Public-Key-Identifier', world.leakReporter.identifier], ['Github-Public-Key-Signature', world.leakReporter.sign(body ?? Buffer.alloc(0))]);
  }
  return {
    raw: {
      method,
      target: renderTarget(endpoint.path(keyIdText), request.path, request.suffix),
      headers,
      body,
      framing: body === undefined ? 'none' : request.framing,
    },
    method,
    user,
    pathKey,
  };
}

// ---------------------------------------------------------------------------------------------
// The properties of one answer, and what it teaches the world

const KEY_SHAPE = /mcpkey_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{16}/g;
const BCRYPT_HASH = /\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}/g;
const STACK_TRACE = /\n\s+at [^\n]*:\d+:\d+|node:internal|file:\/\/\/|\/dist\/src\/|\/node_modules\//g;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** Fields the four contract endpoints may answer with (the Go client refuses any other). */
const CONTRACT_FIELDS: Partial<Record<Endpoint, string[]>> = {
  create: ['key_id', 'name', 'created', 'expires_at', 'last_used', 'api_key', 'message'],
  list: ['key_id', 'name', 'created', 'expires_at', 'last_used'],
  rotate: ['key_id', 'new_api_key', 'message'],
};

/** What a request looks like in a failure report: every byte that went on the wire. */
function showRequest(raw: RawRequest): string {
  const head = `${raw.method} ${raw.target}\n${raw.headers.map(([name, v]) => `${name}: ${typeof v === 'string' ? v : `<bytes ${v.toString('hex')}>`}`).join('\n')}`;
  const body = raw.body === undefined ? '' : raw.body.length > 600 ? `${raw.body.subarray(0, 600).toString('utf8')}... (${raw.body.length} bytes)` : raw.body.toString('utf8');
  return JSON.stringify(`${head}\n\n${body}`);
}

/** A 4xx is JSON with a `detail`: a string, or for 422 FastAPI's list of {loc, msg, type}. */
function checkErrorBody(answer: RawAnswer, json: unknown, shown: () => string): void {
  const contentType = answer.headers.get('content-type')?.[0] ?? '';
  assert.match(contentType, /^application\/json/i, `a ${answer.status} answer that is not JSON\n${shown()}`);
  assert.ok(typeof json === 'object' && json !== null && 'detail' in json, `a ${answer.status} answer without a detail\n${shown()}`);
  const { detail } = json as { detail: unknown };
  if (answer.status === 422 && Array.isArray(detail)) {
    assert.ok(detail.length > 0, `a 422 with an empty detail list\n${shown()}`);
    for (const issue of detail) {
      const { loc, msg, type } = issue as { loc: unknown; msg: unknown; type: unknown };
      assert.ok(
        Array.isArray(loc) && loc.every((part) => typeof part === 'string' || Number.isInteger(part)) && typeof msg === 'string' && typeof type === 'string',
        `a 422 detail that is not FastAPI's {loc, msg, type}\n${shown()}`,
      );
    }
  } else {
    assert.equal(typeof detail, 'string', `a ${answer.status} whose detail is not a string${answer.status === 422 ? ' nor a list' : ''}\n${shown()}`);
  }
}

/** Everything a request carried (target, header values, body), as text to look for secrets in. */
function sentText(raw: RawRequest): string {
  return Buffer.concat([Buffer.from(`${raw.target}\n`, 'latin1'), ...raw.headers.map(([, v]) => Buffer.from(String(v))), raw.body ?? Buffer.alloc(0)]).toString('utf8');
}

function checkAnswer(world: World, request: FuzzRequest, resolved: Resolved, answer: RawAnswer | undefined): void {
  const { raw, method } = resolved;
  const shown = () => `request ${showRequest(raw)}\nanswer ${JSON.stringify(answer?.text.slice(0, 2000))}`;
  if (answer === undefined) {
    // Node's HTTP server drops a CONNECT nobody listens for: no answer, nothing to leak.
    assert.equal(method, 'CONNECT', `the server closed the connection without answering\n${shown()}`);
    return;
  }
  assert.ok(answer.status < 500, `a ${answer.status} answer\n${shown()}`);

  let json: unknown;
  const contentType = answer.headers.get('content-type')?.[0] ?? '';
  if (answer.body.length > 0 && /^application\/json/i.test(contentType)) {
    try {
      json = JSON.parse(answer.body.toString('utf8'));
    } catch {
      assert.fail(`a JSON answer that does not parse\n${shown()}`);
    }
  }
  if (answer.status >= 400 && method.toUpperCase() !== 'HEAD') checkErrorBody(answer, json, shown);

  // What this answer may legitimately carry: the key it issues, the token it exchanges.
  const success = answer.status >= 200 && answer.status < 300;
  const issued = new Set<string>();
  const body = json as Record<string, unknown> | undefined;
  if (success && typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const { changes } = ENDPOINTS[request.endpoint];
    if (changes === 'create' && typeof body.api_key === 'string') issued.add(body.api_key);
    if (changes === 'rotate' && typeof body.new_api_key === 'string') issued.add(body.new_api_key);
    if (request.endpoint === 'validate' && typeof body.access_token === 'string') issued.add(body.access_token);
  }
  const sent = sentText(raw);
  let text = answer.text;
  for (const allowed of issued) text = text.split(allowed).join('<issued>');
  const unsent = (found: string) => !sent.includes(found);
  for (const secret of world.secrets()) {
    // The secret part of a key alone also counts (a key is <prefix><key_id>_<secret...>).
    const tail = secret.slice(-24);
    assert.ok(!(text.includes(tail) && unsent(tail)), `an answer carries a key or token it was not sent\n${shown()}`);
  }
  for (const pattern of [KEY_SHAPE, BCRYPT_HASH, STACK_TRACE]) {
    const found = [...text.matchAll(pattern)].map((match) => match[0]).filter(unsent);
    assert.deepEqual(found, [], `an answer carries ${pattern === STACK_TRACE ? 'a stack trace or file path' : 'a key or hash'}\n${shown()}`);
  }

  if (!success) return;
  const endpoint = ENDPOINTS[request.endpoint];
  if (endpoint.presents === 'user' && method === endpoint.method) {
    assert.notEqual(resolved.user, undefined, `a management request succeeded with a credential that must be refused\n${shown()}`);
  }
  if (endpoint.presents === 'admin' && method === endpoint.method) {
    assert.equal(resolved.user, ADMIN, `an admin route answered a credential that is not the admin's\n${shown()}`);
  }
  const fields = CONTRACT_FIELDS[request.endpoint];
  if (fields !== undefined && method === endpoint.method && body !== undefined) {
    for (const item of Array.isArray(body) ? body : [body]) {
      const unknown: string[] = Object.keys(item as object).filter((field) => !fields.includes(field));
      assert.deepEqual(unknown, [], `a contract answer with fields the contract does not have\n${shown()}`);
    }
  }
  if (request.endpoint === 'jwks' && typeof body === 'object' && body !== null && Array.isArray(body.keys)) {
    for (const jwk of body.keys as Record<string, unknown>[]) {
      assert.deepEqual(PRIVATE_JWK_MEMBERS.filter((member) => member in jwk), [], `the JWKS carries private key material\n${shown()}`);
    }
  }
  if ((request.endpoint === 'verify' || request.endpoint === 'validate') && method === 'POST' && answer.status === 200 && body !== undefined) {
    const known = world.byKeyId(String(body.key_id));
    assert.ok(known !== undefined, `a key the run never saw issued verifies\n${shown()}`);
    assert.ok(sent.includes(known.versions.at(-1) as string), `a key verifies without its current version in the request\n${shown()}`);
    assert.ok(!known.revoked, `a revoked key verifies\n${shown()}`);
    assert.equal(body.user_id, USER_IDS[known.owner], `a key verifies as someone else's\n${shown()}`);
  }
  learn(world, request, resolved, body, answer.status);
}

/**
 * The endpoint a request reached: its own, or the one at the same path whose method it was sent
 * with (a GET of a key sent as DELETE is a revoke, a list sent as POST a create).
 */
function reachedEndpoint(request: FuzzRequest, method: string): EndpointSpec | undefined {
  const own = ENDPOINTS[request.endpoint];
  if (method === own.method) return own;
  return Object.values(ENDPOINTS).find((other) => other.method === method && other.presents === own.presents && other.path('K') === own.path('K'));
}

/** Acknowledged writes, recorded as the client sees them. */
function learn(world: World, request: FuzzRequest, resolved: Resolved, body: Record<string, unknown> | undefined, status: number): void {
  const endpoint = reachedEndpoint(request, resolved.method);
  if (endpoint === undefined || body === undefined && status !== 204) return;
  // On the admin routes the admin acts on anyone's key; on the user routes only on the caller's own.
  const byAdmin = endpoint.presents === 'admin';
  const actsOn = (key: KnownKey) => byAdmin || key.owner === resolved.user;
  if (endpoint.changes === 'create' && status === 201 && body !== undefined) {
    assert.equal(world.byKeyId(String(body.key_id)), undefined, 'a create answered with a key_id already issued');
    const owner = byAdmin ? USER_IDS.indexOf(String(body.user_id)) : (resolved.user as number);
    if (owner === -1) world.strayKeys.push(String(body.api_key));
    else world.keys.push({ keyId: String(body.key_id), owner, versions: [String(body.api_key)], revoked: false, maybeRevoked: false });
  }
  if (endpoint.changes === 'rotate' && status === 200 && body !== undefined) {
    const known = world.byKeyId(String(body.key_id));
    assert.ok(known !== undefined && actsOn(known), `a rotate answered for a key_id the caller was never issued: ${String(body.key_id)}`);
    assert.ok(!known.revoked, 'a revoked key rotated');
    known.versions.push(String(body.new_api_key));
  }
  if (request.endpoint === 'validate' && status === 200 && body !== undefined && world.exchangeTokens.length < 8) {
    world.exchangeTokens.push(String(body.access_token));
  }
  if (endpoint.changes === 'revoke' && status === 204) {
    const target = resolved.pathKey;
    if (target === undefined || !actsOn(target)) return;
    if (ROUTE_PRESERVING.has(request.path) && request.pathKey.kind === 'known') target.revoked = true;
    else target.maybeRevoked = true;
  }
  // A self-revoke or a leak report revokes a key it was sent (a report answers 200 with its verdicts).
  if (endpoint.changes === 'revokePresented' && status >= 200 && status < 300) {
    const sent = sentText(resolved.raw);
    for (const key of world.keys) if (key.versions.some((version) => sent.includes(version))) key.maybeRevoked = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Setup: tokens, hostile tokens, a few keys

const encoder = new TextEncoder();
const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

async function hs256(payload: Record<string, unknown>, options: { secret?: string; alg?: string; expiresIn?: string | number; header?: Record<string, unknown> } = {}): Promise<string> {
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT', ...options.header })
    .setIssuer((payload.iss as string | undefined) ?? 'keygate')
    .setAudience((payload.aud as string | undefined) ?? 'keygate')
    .setIssuedAt();
  jwt.setExpirationTime(options.expiresIn ?? '1h');
  return jwt.sign(encoder.encode(options.secret ?? TEST_SECRET));
}

/** A JWT signed with the server's secret whatever its header says: jose refuses to make some of these. */
function signedByHand(header: unknown, payload: unknown): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return `${signingInput}.${createHmac('sha256', TEST_SECRET).update(signingInput).digest('base64url')}`;
}

async function hostileTokens(world: World): Promise<HostileToken[]> {
  const alice = world.userTokens[0] as string;
  const [header, payload, signature] = alice.split('.') as [string, string, string];
  const refused = (label: string, token: string): HostileToken => ({ label, token, user: undefined });
  return [
    refused('expired', await hs256({ sub: 'fuzz-alice' }, { expiresIn: Math.floor(Date.now() / 1000) - 3600 })),
    refused('not yet valid', await hs256({ sub: 'fuzz-alice', nbf: Math.floor(Date.now() / 1000) + 3600 })),
    refused('wrong issuer', await hs256({ sub: 'fuzz-alice', iss: 'evil' })),
    refused('wrong audience', await hs256({ sub: 'fuzz-alice', aud: 'evil' })),
    refused('wrong secret', await hs256({ sub: 'fuzz-alice' }, { secret: `${TEST_SECRET}!` })),
    refused('HS512', await hs256({ sub: 'fuzz-alice' }, { alg: 'HS512' })),
    refused('alg none', `${base64url('{"alg":"none","typ":"JWT"}')}.${payload}.`),
    refused('alg none, no dot', `${base64url('{"alg":"none"}')}.${payload}`),
    refused('tampered payload', `${header}.${base64url(JSON.stringify({ sub: 'fuzz-bob', iss: 'keygate', aud: 'keygate', exp: 9e9 }))}.${signature}`),
    refused('tampered signature', `${header}.${payload}.${signature.slice(0, -2)}AA`),
    refused('four parts', `${alice}.${signature}`),
    refused('payload not JSON', `${header}.${base64url('not json')}.${signature}`),
    refused('header not JSON', `${base64url('{"alg":')}.${payload}.${signature}`),
    refused('sub a number', await hs256({ sub: 12345 })),
    refused('sub a list', await hs256({ sub: ['fuzz-alice'] })),
    refused('sub an object', await hs256({ sub: { __proto__: 'x' } })),
    refused('no sub', await hs256({})),
    refused('empty sub', await hs256({ sub: '' })),
    refused('sub too long', await hs256({ sub: 'u'.repeat(256) })),
    refused('sub with NUL', await hs256({ sub: 'fuzz\u0000alice' })),
    refused('sub with a C1 control', await hs256({ sub: 'fuzz\u0085alice' })),
    refused('exp a string', `${header}.${base64url(JSON.stringify({ sub: 'fuzz-alice', iss: 'keygate', aud: 'keygate', exp: '9999999999' }))}.${signature}`),
    refused('crit header', signedByHand({ alg: 'HS256', crit: ['x'], x: 1 }, { sub: 'fuzz-alice', iss: 'keygate', aud: 'keygate', exp: 9e9 })),
    refused('payload a list', signedByHand({ alg: 'HS256' }, ['fuzz-alice'])),
    refused('huge', await hs256({ sub: 'fuzz-alice', pad: 'p'.repeat(6000) }, { secret: `${TEST_SECRET}?` })),
    { label: 'odd scopes', token: await hs256({ sub: 'fuzz-bob', scope: 12, scp: [null, {}, 1, '\u0000'] }), user: 1 },
    { label: 'prototype claims', token: await hs256({ sub: 'fuzz-bob', constructor: { prototype: { admin: true } }, ['__proto__']: { admin: true } }), user: 1 },
    { label: 'kid path', token: await hs256({ sub: 'fuzz-alice' }, { header: { kid: '../../../etc/passwd', jku: 'http://127.0.0.1:1/' } }), user: 0 },
  ];
}

// ---------------------------------------------------------------------------------------------
// The suites

/** The fuzz run against one server: setup, the property, then the checks of the aftermath. */
function fuzzSuite(env: Record<string, string>, numRuns: number, options: { limited: boolean }): void {
  // GitHub's leak reports, signed by a reporter key of the suite's own (its public half in the file).
  const folder = temporaryFolder();
  const leakKeysFile = join(folder, 'secret_scanning.json');
  const reporter = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const reporterId = 'fuzz-reporter';
  writeFileSync(leakKeysFile, JSON.stringify({ public_keys: [{ key_identifier: reporterId, key: reporter.publicKey.export({ type: 'spki', format: 'pem' }), is_current: true }] }));
  const server = keygateForTests({ KEYGATE_LOG_LEVEL: 'silent', KEYGATE_SIGNUP: 'open', KEYGATE_LEAK_KEYS_FILE: leakKeysFile, ...env });
  let world: World;

  before(async () => {
    world = new World(server);
    const adminScope = [server.keygate.config.adminScope];
    world.userTokens = await Promise.all(USER_IDS.map((userId, user) => server.tokenFor(userId, user === ADMIN ? adminScope : undefined)));
    world.hostileTokens = await hostileTokens(world);
    world.leakReporter = { identifier: reporterId, sign: (body) => sign('sha256', body, reporter.privateKey).toString('base64') };
    await server.keygate.accounts.add(ACCOUNT.username, ACCOUNT.password, { admin: false });
    const login = await call(server.baseUrl, 'POST', '/auth/login', { json: ACCOUNT });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    world.accountToken = login.body.access_token;
    // A few keys from the start, so that the first runs already reach rotate, revoke and verify.
    for (const [owner, token] of world.userTokens.slice(0, 2).entries()) {
      const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: `seed ${owner}` } });
      assert.equal(created.status, 201);
      world.keys.push({ keyId: created.body.key_id, owner, versions: [created.body.api_key], revoked: false, maybeRevoked: false });
    }
  });

  after(() => rmSync(folder, { recursive: true, force: true }));

  test('the fuzzer makes every operation of the OpenAPI document', async () => {
    const document = await call(server.baseUrl, 'GET', '/openapi.json');
    const documented = Object.entries(document.body.paths as Record<string, object>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const made = new Set(Object.values(ENDPOINTS).map(({ method, path }) => `${method} ${path('{key_id}')}`));
    assert.deepEqual(documented.filter((operation) => !made.has(operation)), [], 'operations the fuzzer never makes');
  });

  test(`hostile requests to every endpoint (seed ${SEED})`, async (t) => {
    t.diagnostic(`fast-check seed ${SEED}: replay with KEYGATE_FUZZ_SEED=${SEED}`);
    await checkProperty(
      'hostile requests',
      fc.asyncProperty(fuzzRequest, async (request) => {
        const resolved = resolve(world, request);
        world.requests += 1;
        const answer = await rawRequest(server.baseUrl, resolved.raw);
        const tally = `${request.endpoint} ${answer?.status ?? 'closed'}`;
        world.answers.set(tally, (world.answers.get(tally) ?? 0) + 1);
        checkAnswer(world, request, resolved, answer);
      }),
      numRuns,
    );
    t.diagnostic(`${world.requests} requests; ${world.keys.length} keys issued, ${world.keys.reduce((n, key) => n + key.versions.length - 1, 0)} rotations`);
    t.diagnostic(`answers: ${[...world.answers].sort().map(([tally, count]) => `${tally}: ${count}`).join(', ')}`);
  });

  test('the server is healthy afterwards: /healthz, a new key verifies, lists work', async () => {
    assert.equal((await call(server.baseUrl, 'GET', '/healthz')).status, 200);
    // Under tight limits this client's address has used up its verifications for the minute.
    if (options.limited) return;
    const token = await server.tokenFor('fuzz-aftermath');
    const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'after the fuzz' } });
    assert.equal(created.status, 201);
    const verified = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': created.body.api_key } });
    assert.equal(verified.status, 200);
    assert.equal(verified.body.key_id, created.body.key_id);
    const listed = await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token });
    assert.deepEqual(listed.body.map((key: { key_id: string }) => key.key_id), [created.body.key_id]);
  });

  test('every acknowledged write is there, and only the current version of each key verifies', { skip: options.limited && 'the limits leave no budget to check with' }, async () => {
    for (const [owner, token] of world.userTokens.entries()) {
      const listed = await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token });
      const mine = world.keys.filter((key) => key.owner === owner);
      if (listed.status === 401) {
        // A user id the server refuses (the lone surrogates, once refused) never got a key either.
        assert.deepEqual(mine.map((key) => key.keyId), []);
        continue;
      }
      assert.equal(listed.status, 200);
      const listedIds = new Set<string>(listed.body.map((key: { key_id: string }) => key.key_id));
      for (const keyId of listedIds) {
        const known = world.byKeyId(keyId);
        assert.ok(known !== undefined, `${JSON.stringify(USER_IDS[owner])} lists ${keyId}, which no create acknowledged`);
        assert.equal(known.owner, owner, `${JSON.stringify(USER_IDS[owner])} lists ${keyId}, issued to ${JSON.stringify(USER_IDS[known.owner])}`);
        assert.ok(!known.revoked, `${keyId} is listed after an acknowledged revoke`);
      }
      for (const key of mine) {
        const present = listedIds.has(key.keyId);
        assert.ok(present || key.revoked || key.maybeRevoked, `${key.keyId} was lost: created, never revoked, not listed`);
        const current = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': key.versions.at(-1) as string } });
        assert.equal(current.status, present ? 200 : 401, `the current version of ${key.keyId} (listed: ${present})`);
        if (key.versions.length > 1) {
          const older = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': key.versions.at(-2) as string } });
          assert.equal(older.status, 401, `a rotated-away version of ${key.keyId} still verifies`);
        }
      }
    }
  });
}

describe('fuzz: every endpoint, limits off', () => {
  // Rate limits off, so the run reaches the routes rather than the limiter; the default key limit
  // stays, so creates also meet "maximum reached" and revokes make room again.
  fuzzSuite(
    {
      KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0',
      KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '0',
      KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0',
      KEYGATE_RATE_LIMIT_SIGN_IN_PER_ACCOUNT: '0',
      KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP: '0',
    },
    600,
    { limited: false },
  );
});

describe('fuzz: every endpoint, tight rate limits', () => {
  // Limits low enough that many answers are 429s, whose headers and details are checked alike.
  fuzzSuite({ KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '20', KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '5', KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '40' }, 100, { limited: true });
});

/** The answer's JSON body, for an answer that says it is JSON (undefined otherwise). */
function jsonOf(answer: RawAnswer): unknown {
  return /^application\/json/i.test(answer.headers.get('content-type')?.[0] ?? '') ? JSON.parse(answer.body.toString('utf8')) : undefined;
}

describe('fuzz: the smallest reproductions of what it found', () => {
  // Each case here was found by the property above and shrunk by hand to its essence; it stays
  // as a plain test so that it is checked on every run, whatever the seed.
  const server = keygateForTests({ KEYGATE_LOG_LEVEL: 'silent' });

  test('a request without Host is a JSON 400 with a detail', async () => {
    const raw: RawRequest = { method: 'GET', target: '/healthz', headers: [] };
    const answer = await rawRequest(server.baseUrl, raw);
    assert.ok(answer !== undefined);
    assert.equal(answer.status, 400);
    checkErrorBody(answer, jsonOf(answer), () => `request ${showRequest(raw)}\nanswer ${JSON.stringify(answer.text)}`);
  });

  test('an Expect the server cannot meet is a JSON 4xx with a detail', async () => {
    const { port } = new URL(server.baseUrl);
    const raw: RawRequest = { method: 'GET', target: '/healthz', headers: [['Host', `127.0.0.1:${port}`], ['Expect', 'nonsense']] };
    const answer = await rawRequest(server.baseUrl, raw);
    assert.ok(answer !== undefined);
    assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}`);
    checkErrorBody(answer, jsonOf(answer), () => `request ${showRequest(raw)}\nanswer ${JSON.stringify(answer.text)}`);
  });

  test('users whose ids differ only in a lone surrogate are refused, or kept apart', async () => {
    // Either refusal (a 4xx with a detail, as the Unicode checks will answer) or exact identity:
    // verification must name the very user who owns the key, not a lossy re-encoding of it.
    for (const userId of ['lone-\ud800', 'lone-\udbff']) {
      const token = await server.tokenFor(userId);
      const created = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'lone' } });
      if (created.status >= 400 && created.status < 500) {
        assert.ok(created.body?.detail !== undefined, `a ${created.status} without a detail`);
        continue;
      }
      assert.equal(created.status, 201);
      const verified = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': created.body.api_key } });
      assert.equal(verified.status, 200);
      assert.equal(verified.body.user_id, userId, 'the key verifies as another user id than the one it was created for');
    }
  });
});
