import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidInput } from '../src/errors.js';
import {
  DEFAULT_SETTINGS,
  MAX_SCOPES,
  METADATA_MAX_BYTES,
  missingScopes,
  QUOTA_MAX,
  RATE_LIMIT_MAX,
  readSettings,
  REFILL_INTERVALS,
  settingsDocument,
  validMetadata,
  validQuota,
  validRateLimit,
  validScopes,
  validStatus,
  type KeySettings,
} from '../src/keys/key-settings.js';
import { applyMergePatch } from '../src/merge-patch.js';

/** Asserts that `run` throws InvalidInput at `loc` (the path inside the body) with `type`; returns its message. */
function refused(run: () => unknown, loc: (string | number)[], type: string): string {
  let message = '';
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidInput, `expected InvalidInput, got ${String(error)}`);
    assert.deepEqual([error.field].flat(), loc);
    assert.equal(error.type, type);
    assert.ok(error.message.length > 0);
    message = error.message;
    return true;
  });
  return message;
}

/** An object nested `levels` deep, the outermost counted as level 1: {a: {a: ... {}}}. */
function nested(levels: number, innermost: unknown = {}): Record<string, unknown> {
  let value = innermost;
  for (let level = 1; level < levels; level++) value = { a: value };
  return value as Record<string, unknown>;
}

const FULL: KeySettings = {
  scopes: ['keys:read', 'keys:write'],
  metadata: { team: 'billing', tags: ['a', 'b'], limits: { soft: 1 } },
  status: 'disabled',
  rateLimit: 600,
  quota: { remaining: 10, refill: { amount: 100, interval: 'day' } },
};

describe('defaults and the document form', () => {
  test('a key carries no scopes, no metadata, is active and has no limits of its own', () => {
    assert.deepEqual(DEFAULT_SETTINGS, { scopes: [], metadata: {}, status: 'active', rateLimit: null, quota: null });
  });

  test('the defaults are frozen all the way down', () => {
    assert.ok(Object.isFrozen(DEFAULT_SETTINGS));
    assert.ok(Object.isFrozen(DEFAULT_SETTINGS.scopes));
    assert.ok(Object.isFrozen(DEFAULT_SETTINGS.metadata));
    assert.throws(() => DEFAULT_SETTINGS.scopes.push('x'), TypeError);
    const read = readSettings({}, DEFAULT_SETTINGS);
    assert.throws(() => read.scopes.push('x'), TypeError, 'the defaults stay shared, and safe to share');
  });

  test('the document is the snake_case form, and reads back as the same settings', () => {
    const document = settingsDocument(FULL);
    assert.deepEqual(document, {
      scopes: ['keys:read', 'keys:write'],
      metadata: { team: 'billing', tags: ['a', 'b'], limits: { soft: 1 } },
      status: 'disabled',
      rate_limit: 600,
      quota: { remaining: 10, refill: { amount: 100, interval: 'day' } },
    });
    assert.deepEqual(readSettings(JSON.parse(JSON.stringify(document)), DEFAULT_SETTINGS), FULL);
    assert.deepEqual(settingsDocument(DEFAULT_SETTINGS), { scopes: [], metadata: {}, status: 'active', rate_limit: null, quota: null });
  });

  test('a merge patch of the document, read over the defaults, is a PATCH: null clears a setting', () => {
    const patched = (patch: unknown) =>
      readSettings(applyMergePatch(settingsDocument(FULL), patch) as Record<string, unknown>, DEFAULT_SETTINGS);
    assert.deepEqual(patched({ quota: null, rate_limit: null }), { ...FULL, quota: null, rateLimit: null });
    assert.deepEqual(patched({ metadata: { team: null, owner: 'ana' } }).metadata, { tags: ['a', 'b'], limits: { soft: 1 }, owner: 'ana' });
    assert.deepEqual(patched({ quota: { refill: null } }).quota, { remaining: 10, refill: null });
    assert.deepEqual(patched({ quota: { refill: { interval: 'hour' } } }).quota, {
      remaining: 10,
      refill: { amount: 100, interval: 'hour' },
    });
    refused(() => patched({ quota: { refill: { interval: 'week' } } }), ['quota', 'refill', 'interval'], 'enum');
  });
});

describe('readSettings', () => {
  test('fields absent take the base values; fields given replace them', () => {
    assert.deepEqual(readSettings({}, FULL), FULL);
    assert.deepEqual(readSettings({ status: 'active', scopes: ['other'] }, FULL), { ...FULL, status: 'active', scopes: ['other'] });
    assert.deepEqual(readSettings({ rate_limit: null, quota: null }, FULL), { ...FULL, rateLimit: null, quota: null });
  });

  test('other fields of the body are not its business', () => {
    assert.deepEqual(readSettings({ name: 'a key', expires_days: 30, anything: [1] }, DEFAULT_SETTINGS), DEFAULT_SETTINGS);
  });

  test('names the first bad field, in the order scopes, metadata, status, rate_limit, quota', () => {
    const bad = { scopes: 'x', metadata: [], status: 'gone', rate_limit: 0, quota: 'x' };
    refused(() => readSettings(bad, DEFAULT_SETTINGS), ['scopes'], 'list_type');
    refused(() => readSettings({ ...bad, scopes: [] }, DEFAULT_SETTINGS), ['metadata'], 'dict_type');
    refused(() => readSettings({ ...bad, scopes: [], metadata: {} }, DEFAULT_SETTINGS), ['status'], 'enum');
    const upToRateLimit = { ...bad, scopes: [], metadata: {}, status: 'active' };
    refused(() => readSettings(upToRateLimit, DEFAULT_SETTINGS), ['rate_limit'], 'greater_than_equal');
    refused(() => readSettings({ quota: 'x' }, DEFAULT_SETTINGS), ['quota'], 'dict_type');
  });

  test('null is a value only where a setting can be absent (rate_limit, quota)', () => {
    refused(() => readSettings({ scopes: null }, DEFAULT_SETTINGS), ['scopes'], 'list_type');
    refused(() => readSettings({ metadata: null }, DEFAULT_SETTINGS), ['metadata'], 'dict_type');
    refused(() => readSettings({ status: null }, DEFAULT_SETTINGS), ['status'], 'enum');
  });

  test('an inherited member is not a given field', () => {
    const body = Object.create({ status: 'gone' }) as Record<string, unknown>;
    assert.equal(readSettings(body, DEFAULT_SETTINGS).status, 'active');
  });
});

describe('scopes', () => {
  test('a list of scopes, duplicates removed, first occurrence first', () => {
    assert.deepEqual(validScopes([]), []);
    assert.deepEqual(validScopes(['b', 'a', 'b', 'c', 'a']), ['b', 'a', 'c']);
    assert.deepEqual(validScopes(['keys:read', 'files.write', 'a_b-c', 'ABC:09']), ['keys:read', 'files.write', 'a_b-c', 'ABC:09']);
  });

  test('anything but a list is refused', () => {
    for (const raw of ['keys:read', null, {}, 1, true]) refused(() => validScopes(raw), ['scopes'], 'list_type');
  });

  test('each scope is a string, named by its index when it is not', () => {
    refused(() => validScopes(['ok', 3]), ['scopes', 1], 'string_type');
    refused(() => validScopes([null]), ['scopes', 0], 'string_type');
    refused(() => validScopes(['ok', 'ok', ['nested']]), ['scopes', 2], 'string_type');
  });

  test('a scope is 1 to 100 of letters, digits and : . _ -', () => {
    assert.deepEqual(validScopes(['x'.repeat(100)]), ['x'.repeat(100)]);
    const message = refused(() => validScopes(['ok', 'x'.repeat(101)]), ['scopes', 1], 'string_pattern_mismatch');
    assert.match(message, /100/);
    for (const scope of ['', 'a b', 'a/b', 'a*', 'é', 'a\n', 'keys:read ', '\ud800']) {
      refused(() => validScopes([scope]), ['scopes', 0], 'string_pattern_mismatch');
    }
  });

  test(`at most ${MAX_SCOPES} scopes, counted as sent`, () => {
    const scopes = Array.from({ length: MAX_SCOPES }, (_, index) => `scope${index}`);
    assert.deepEqual(validScopes(scopes), scopes);
    const message = refused(() => validScopes([...scopes, 'one:more']), ['scopes'], 'too_long');
    assert.match(message, /at most 50 scopes; this list has 51/);
    refused(() => validScopes([...scopes, 'scope0']), ['scopes'], 'too_long');
  });
});

describe('metadata', () => {
  test('an object, returned as given', () => {
    const metadata = JSON.parse('{"a":[1,"two",null,true,{"b":1.5}],"c":{},"d":"😀"}');
    assert.equal(validMetadata(metadata), metadata);
    assert.deepEqual(validMetadata({}), {});
  });

  test('anything but an object is refused', () => {
    for (const raw of [null, [], 'text', 1, true]) refused(() => validMetadata(raw), ['metadata'], 'dict_type');
  });

  test(`at most ${METADATA_MAX_BYTES} bytes of JSON, counted in UTF-8`, () => {
    // {"a":"…"} is 8 bytes around the string.
    const ascii = { a: 'x'.repeat(METADATA_MAX_BYTES - 8) };
    assert.equal(validMetadata(ascii), ascii);
    let message = refused(() => validMetadata({ a: 'x'.repeat(METADATA_MAX_BYTES - 7) }), ['metadata'], 'too_long');
    assert.match(message, /at most 4096 bytes/);
    assert.match(message, /this is 4097 bytes/);

    // é is 2 bytes in UTF-8 but 1 character: 2044 of them fill 4096 bytes in 2052 characters.
    const twoByte = { a: 'é'.repeat(2044) };
    assert.equal(validMetadata(twoByte), twoByte);
    message = refused(() => validMetadata({ a: `${'é'.repeat(2044)}x` }), ['metadata'], 'too_long');
    assert.match(message, /this is 4097 bytes/);
    // 😀 is 4 bytes (2 UTF-16 units): 1022 of them fill 4096 bytes in 2052 JavaScript characters.
    assert.doesNotThrow(() => validMetadata({ a: '😀'.repeat(1022) }));
    refused(() => validMetadata({ a: `${'😀'.repeat(1022)}x` }), ['metadata'], 'too_long');
    // Escapes count as they are written: a newline is 2 bytes of JSON.
    refused(() => validMetadata({ a: '\n'.repeat(2045) }), ['metadata'], 'too_long');
  });

  test('at most 16 levels deep, objects and arrays alike', () => {
    assert.doesNotThrow(() => validMetadata(nested(16)));
    assert.doesNotThrow(() => validMetadata(nested(17, 'a string is no level')), '16 objects around a string');
    const message = refused(() => validMetadata(nested(17)), ['metadata'], 'too_deep');
    assert.match(message, /16 levels/);
    // Arrays: the metadata object, then 15 arrays.
    assert.doesNotThrow(() => validMetadata({ a: JSON.parse(`${'['.repeat(15)}${']'.repeat(15)}`) }));
    refused(() => validMetadata({ a: JSON.parse(`${'['.repeat(16)}${']'.repeat(16)}`) }), ['metadata'], 'too_deep');
    // Deep in the second member, after a shallow first one.
    refused(() => validMetadata({ shallow: 1, deep: nested(16) }), ['metadata'], 'too_deep');
  });

  test('a document 100,000 levels deep is refused as input, not with a RangeError', () => {
    const depth = 100_000;
    refused(() => validMetadata(JSON.parse(`${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`)), ['metadata'], 'too_deep');
    refused(() => validMetadata({ a: JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) }), ['metadata'], 'too_deep');
    refused(() => readSettings({ metadata: nested(depth) }, DEFAULT_SETTINGS), ['metadata'], 'too_deep');
  });

  test('every key and string is well-formed Unicode, the bad one named by its path', () => {
    assert.doesNotThrow(() => validMetadata({ 'pair 😀': '\ud83d\ude00' }));
    refused(() => validMetadata({ a: 'lone \ud800' }), ['metadata', 'a'], 'string_unicode');
    refused(() => validMetadata({ 'lone \udfff': 1 }), ['metadata', 'lone \udfff'], 'string_unicode');
    refused(() => validMetadata({ list: ['ok', '\udbff'] }), ['metadata', 'list', 1], 'string_unicode');
    refused(() => validMetadata({ a: { b: [{ ['\ud800']: null }] } }), ['metadata', 'a', 'b', 0, '\ud800'], 'string_unicode');
  });
});

describe('status', () => {
  test("'active' or 'disabled'", () => {
    assert.equal(validStatus('active'), 'active');
    assert.equal(validStatus('disabled'), 'disabled');
    for (const raw of ['Active', 'revoked', '', null, 1, true, ['active']]) {
      const message = refused(() => validStatus(raw), ['status'], 'enum');
      assert.equal(message, "Input should be 'active' or 'disabled'");
    }
  });
});

describe('rate_limit', () => {
  test(`null, or an integer from 1 to ${RATE_LIMIT_MAX} verifications per minute`, () => {
    assert.equal(validRateLimit(null), null);
    assert.equal(validRateLimit(1), 1);
    assert.equal(validRateLimit(RATE_LIMIT_MAX), RATE_LIMIT_MAX);
    let message = refused(() => validRateLimit(0), ['rate_limit'], 'greater_than_equal');
    assert.match(message, /from 1 to 1000000 verifications per minute/);
    refused(() => validRateLimit(-5), ['rate_limit'], 'greater_than_equal');
    message = refused(() => validRateLimit(RATE_LIMIT_MAX + 1), ['rate_limit'], 'less_than_equal');
    assert.match(message, /from 1 to 1000000/);
  });

  test('a fraction, a boolean, a numeric string or a non-finite number is no integer', () => {
    for (const raw of [1.5, true, false, '5', '', NaN, Infinity, -Infinity, [5], {}]) {
      refused(() => validRateLimit(raw), ['rate_limit'], 'int_type');
    }
  });
});

describe('quota', () => {
  test('null, or the verifications remaining with an optional refill', () => {
    assert.equal(validQuota(null), null);
    assert.deepEqual(validQuota({ remaining: 0 }), { remaining: 0, refill: null });
    assert.deepEqual(validQuota({ remaining: QUOTA_MAX, refill: null }), { remaining: QUOTA_MAX, refill: null });
    for (const interval of REFILL_INTERVALS) {
      assert.deepEqual(validQuota({ remaining: 5, refill: { amount: 1, interval } }), { remaining: 5, refill: { amount: 1, interval } });
    }
    assert.deepEqual(validQuota({ refill: { interval: 'day', amount: QUOTA_MAX }, remaining: 1 }), {
      remaining: 1,
      refill: { amount: QUOTA_MAX, interval: 'day' },
    });
  });

  test('a quota is an object with remaining, and nothing but remaining and refill', () => {
    for (const raw of [[], 'x', 5, true]) refused(() => validQuota(raw), ['quota'], 'dict_type');
    refused(() => validQuota({}), ['quota', 'remaining'], 'missing');
    refused(() => validQuota({ refill: null }), ['quota', 'remaining'], 'missing');
    const message = refused(() => validQuota({ remaining: 1, remainig: 2 }), ['quota', 'remainig'], 'extra_forbidden');
    assert.match(message, /remaining and refill/);
    refused(() => validQuota({ remainig: 2 }), ['quota', 'remainig'], 'extra_forbidden');
  });

  test(`remaining is an integer from 0 to ${QUOTA_MAX}`, () => {
    const message = refused(() => validQuota({ remaining: -1 }), ['quota', 'remaining'], 'greater_than_equal');
    assert.match(message, /from 0 to 1000000000/);
    refused(() => validQuota({ remaining: QUOTA_MAX + 1 }), ['quota', 'remaining'], 'less_than_equal');
    for (const raw of [1.5, true, '10', null]) refused(() => validQuota({ remaining: raw }), ['quota', 'remaining'], 'int_type');
  });

  test('a refill is an object with an amount from 1 and an interval, and nothing else', () => {
    for (const raw of [[], 'day', 5]) refused(() => validQuota({ remaining: 1, refill: raw }), ['quota', 'refill'], 'dict_type');
    const withRefill = (refill: unknown) => () => validQuota({ remaining: 1, refill });
    const amount = ['quota', 'refill', 'amount'];
    refused(withRefill({ interval: 'day' }), amount, 'missing');
    refused(withRefill({ amount: 1 }), ['quota', 'refill', 'interval'], 'missing');
    refused(withRefill({ amount: 1, interval: 'day', every: 2 }), ['quota', 'refill', 'every'], 'extra_forbidden');
    const message = refused(withRefill({ amount: 0, interval: 'day' }), amount, 'greater_than_equal');
    assert.match(message, /from 1 to 1000000000/);
    refused(withRefill({ amount: QUOTA_MAX + 1, interval: 'day' }), amount, 'less_than_equal');
    refused(withRefill({ amount: '1', interval: 'day' }), amount, 'int_type');
    for (const interval of ['week', 'Day', '', null, 1]) {
      const enumMessage = refused(withRefill({ amount: 1, interval }), ['quota', 'refill', 'interval'], 'enum');
      assert.equal(enumMessage, "Input should be 'hour', 'day' or 'month'");
    }
  });
});

describe('missingScopes', () => {
  test('the scopes required and not granted, in the order asked', () => {
    assert.deepEqual(missingScopes(['a', 'b', 'c'], ['c', 'a']), []);
    assert.deepEqual(missingScopes(['a', 'b', 'c'], []), []);
    assert.deepEqual(missingScopes([], ['z', 'y']), ['z', 'y']);
    assert.deepEqual(missingScopes(['b'], ['c', 'b', 'a']), ['c', 'a']);
  });

  test('an exact match: no wildcards, no prefixes, case counts', () => {
    assert.deepEqual(missingScopes(['keys:*'], ['keys:read']), ['keys:read']);
    assert.deepEqual(missingScopes(['keys'], ['keys:read']), ['keys:read']);
    assert.deepEqual(missingScopes(['keys:read'], ['keys']), ['keys']);
    assert.deepEqual(missingScopes(['Keys:Read'], ['keys:read']), ['keys:read']);
  });
});
