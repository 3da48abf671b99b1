import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FastHmac } from '../src/keys/fast-hmac.js';
import { KeyFormat } from '../src/keys/format.js';
import { strangerFormat, testHasher } from './support/keys.js';

const tagKey = FastHmac.newKey();
const prefixes = { live: 'mcpkey_live_', test: 'mcpkey_test_' };
const format = new KeyFormat(prefixes, tagKey);

test('a key carries prefix, key_id, 190 random bits, a 95-bit tag and a checksum, in word characters only', () => {
  const keyId = format.newKeyId();
  const key = format.issue(keyId, 'live');
  assert.match(keyId, /^[0-9A-Za-z]{12}$/);
  assert.match(key, /^mcpkey_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{54}$/);
  assert.ok(key.startsWith(`mcpkey_live_${keyId}_`));
  assert.ok(32 * Math.log2(62) >= 190);
  // \w+ is what a double-click selects in a terminal or a browser.
  assert.equal(/\w+/.exec(key)?.[0], key);
  assert.equal(format.keyIdOf(key), keyId);
  assert.equal(format.authenticKeyId(key), keyId);
});

test('keys and key_ids do not repeat', () => {
  const keyIds = new Set(Array.from({ length: 2000 }, () => format.newKeyId()));
  const secrets = new Set(Array.from({ length: 2000 }, () => format.issue('AAAAAAAAAAAA', 'live')));
  assert.equal(keyIds.size, 2000);
  assert.equal(secrets.size, 2000);
});

test('a mistyped, truncated, extended or foreign key is refused without I/O', () => {
  const key = format.issue(format.newKeyId(), 'live');
  const flip = (text: string, at: number) =>
    text.slice(0, at) + (text[at] === 'a' ? 'b' : 'a') + text.slice(at + 1);
  for (let at = 0; at < key.length; at++) {
    if (key[at] === '_') continue;
    assert.equal(format.keyIdOf(flip(key, at)), undefined, `a typo at ${at} must be caught`);
  }
  assert.equal(format.keyIdOf(key.slice(0, -1)), undefined);
  assert.equal(format.keyIdOf(`${key}x`), undefined);
  assert.equal(format.keyIdOf(''), undefined);
  // The tag covers the prefix: a live key relabelled as a test key is no key.
  assert.equal(format.keyIdOf(key.replace('mcpkey_live_', 'mcpkey_test_')), undefined);
  assert.equal(new KeyFormat({ live: 'other_', test: 'other_test_' }, tagKey).keyIdOf(key), undefined);
});

test('only a key issued under the same tag key is authentic, whatever its checksum says', () => {
  const keyId = format.newKeyId();
  const forged = strangerFormat().issue(keyId, 'live'); // right shape and checksum, tag under another key
  assert.equal(format.keyIdOf(forged), undefined);
  assert.equal(format.authenticKeyId(forged), undefined);
  // Every character of the random part and of the tag is covered by the tag.
  const key = format.issue(keyId, 'live');
  const random = 'mcpkey_live_'.length + 13;
  for (let at = random; at < key.length - 6; at++) {
    const changed = key.slice(0, at) + (key[at] === 'a' ? 'b' : 'a') + key.slice(at + 1);
    assert.equal(format.authenticKeyId(changed), undefined, `a change at ${at} must fail the tag`);
  }
  // A mistyped checksum leaves the tag right: still this key's traffic, though never valid.
  const misspelt = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
  assert.equal(format.keyIdOf(misspelt), undefined);
  assert.equal(format.authenticKeyId(misspelt), keyId);
  // Another instance on the same database has the same tag key, and so accepts the key.
  assert.equal(new KeyFormat(prefixes, Buffer.from(tagKey)).keyIdOf(key), keyId);
});

test('the stored hash covers the whole key, also past bcrypt\'s 72-byte limit', async () => {
  // A prefix long enough that the key_id and secret start after byte 72.
  const longFormat = new KeyFormat({ live: 'x'.repeat(80), test: 'y'.repeat(80) }, tagKey);
  const keyId = longFormat.newKeyId();
  const first = longFormat.issue(keyId, 'live');
  const second = longFormat.issue(keyId, 'live');
  assert.equal(first.slice(0, 72), second.slice(0, 72), 'the keys share their first 72 bytes');
  assert.notEqual(first, second);

  const hasher = testHasher();
  const hash = await hasher.hash(first);
  assert.match(hash, /^\$2[aby]\$10\$/);
  assert.equal(await hasher.matches(first, hash), true);
  assert.equal(await hasher.matches(second, hash), false);

  // The same holds for the default prefix, whose keys are longer than 72 bytes.
  const key = format.issue(format.newKeyId(), 'live');
  assert.ok(key.length > 72);
  const tail = key.slice(0, 72) + (key[72] === 'a' ? 'b' : 'a') + key.slice(73);
  assert.equal(await hasher.matches(tail, await hasher.hash(key)), false);
});

test('the HMAC scheme: a peppered hash named as such, matched at once in constant time', async () => {
  const hmac = testHasher({ scheme: 'hmac-sha256' });
  const key = format.issue(format.newKeyId(), 'live');
  const hash = await hmac.hash(key);
  assert.match(hash, /^hmac-sha256\$[A-Za-z0-9+/]{43}=$/);
  assert.ok(!hash.includes(key));
  assert.equal(hmac.matches(key, hash), true, 'a boolean, not a promise');
  assert.equal(hmac.matches(format.issue(format.newKeyId(), 'live'), hash), false);
  assert.equal(testHasher({ scheme: 'hmac-sha256', pepper: Buffer.from('another pepper of at least 32 bytes!!') }).matches(key, hash), false);
  // Each hasher verifies both schemes, and says which hashes a new hash would not match.
  const bcryptHash = await testHasher().hash(key);
  assert.equal(await hmac.matches(key, bcryptHash), true);
  assert.equal(hmac.isOutdated(bcryptHash), true);
  assert.equal(hmac.isOutdated(hash), false);
  assert.equal(testHasher().isOutdated(hash), true);
  assert.equal(testHasher().isOutdated(bcryptHash), false);
  assert.equal(testHasher({ bcryptCost: 11 }).isOutdated(bcryptHash), true, 'a changed cost asks for a rehash');
});

test('a test key has its own prefix and names its environment; both environments verify under one format', () => {
  const keyId = format.newKeyId();
  const live = format.issue(keyId, 'live');
  const sandbox = format.issue(keyId, 'test');
  assert.match(sandbox, /^mcpkey_test_[0-9A-Za-z]{12}_[0-9A-Za-z]{54}$/);
  assert.equal(format.environmentOf(live), 'live');
  assert.equal(format.environmentOf(sandbox), 'test');
  assert.equal(format.keyIdOf(sandbox), keyId);
  assert.equal(format.keyIdOf(sandbox.replace('mcpkey_test_', 'mcpkey_live_')), undefined);
  // Prefixes of different lengths: each environment's keys have their own length.
  const uneven = new KeyFormat({ live: 'sk_', test: 'sandbox_sk_' }, tagKey);
  const unevenTest = uneven.issue(keyId, 'test');
  assert.equal(uneven.hasKeyLength(unevenTest), true);
  assert.equal(uneven.hasKeyLength(uneven.issue(keyId, 'live')), true);
  assert.equal(uneven.keyIdOf(unevenTest), keyId);
  assert.equal(uneven.keyIdOf(unevenTest.slice(1)), undefined);
});
