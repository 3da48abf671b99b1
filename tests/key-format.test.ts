import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyFormat } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hashing.js';

const format = new KeyFormat('mcpkey_live_');

test('a key carries prefix, key_id, 256 bits of secret and a checksum, in word characters only', () => {
  const keyId = format.newKeyId();
  const key = format.issue(keyId);
  assert.match(keyId, /^[0-9A-Za-z]{12}$/);
  assert.match(key, /^mcpkey_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}$/);
  assert.ok(key.startsWith(`mcpkey_live_${keyId}_`));
  // 43 base62 characters of secret: 43 * log2(62) >= 256 bits.
  assert.ok(43 * Math.log2(62) >= 256);
  // \w+ is what a double-click selects in a terminal or a browser.
  assert.equal(/\w+/.exec(key)?.[0], key);
  assert.equal(format.keyIdOf(key), keyId);
});

test('keys and key_ids do not repeat', () => {
  const keyIds = new Set(Array.from({ length: 2000 }, () => format.newKeyId()));
  const secrets = new Set(Array.from({ length: 2000 }, () => format.issue('AAAAAAAAAAAA')));
  assert.equal(keyIds.size, 2000);
  assert.equal(secrets.size, 2000);
});

test('a mistyped, truncated, extended or foreign key is refused without I/O', () => {
  const key = format.issue(format.newKeyId());
  const flip = (text: string, at: number) =>
    text.slice(0, at) + (text[at] === 'a' ? 'b' : 'a') + text.slice(at + 1);
  for (let at = 0; at < key.length; at++) {
    if (key[at] === '_') continue;
    assert.equal(format.keyIdOf(flip(key, at)), undefined, `a typo at ${at} must be caught`);
  }
  assert.equal(format.keyIdOf(key.slice(0, -1)), undefined);
  assert.equal(format.keyIdOf(`${key}x`), undefined);
  assert.equal(format.keyIdOf(''), undefined);
  assert.equal(format.keyIdOf(key.replace('mcpkey_live_', 'mcpkey_test_')), undefined);
  assert.equal(new KeyFormat('other_').keyIdOf(key), undefined);
});

test('the claimed key_id (what rate limits count by) needs a key\'s shape, not its checksum', () => {
  const keyId = format.newKeyId();
  const key = format.issue(keyId);
  const misspelt = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
  assert.equal(format.keyIdOf(misspelt), undefined);
  assert.equal(format.claimedKeyId(misspelt), keyId);
  assert.equal(format.claimedKeyId(key), keyId);
  assert.equal(format.claimedKeyId(key.slice(0, -1)), undefined);
  assert.equal(format.claimedKeyId(key.replace('mcpkey_live_', 'mcpkey_test_')), undefined);
  // A key_id with a character no key_id has (here the colon of "ip:") names no key.
  assert.equal(format.claimedKeyId(`mcpkey_live_ip:127.0.0.1${key.slice(24)}`), undefined);
});

test('the stored hash covers the whole key, also past bcrypt\'s 72-byte limit', async () => {
  // A prefix long enough that the key_id and secret start after byte 72.
  const longFormat = new KeyFormat('x'.repeat(80));
  const keyId = longFormat.newKeyId();
  const first = longFormat.issue(keyId);
  const second = longFormat.issue(keyId);
  assert.equal(first.slice(0, 72), second.slice(0, 72), 'the keys share their first 72 bytes');
  assert.notEqual(first, second);

  const hasher = new KeyHasher(10);
  const hash = await hasher.hash(first);
  assert.match(hash, /^\$2[aby]\$10\$/);
  assert.equal(await hasher.matches(first, hash), true);
  assert.equal(await hasher.matches(second, hash), false);

  // The same holds for the default prefix, whose keys are 74 bytes long.
  const key = format.issue(format.newKeyId());
  assert.ok(key.length > 72);
  const tail = key.slice(0, 72) + (key[72] === 'a' ? 'b' : 'a') + key.slice(73);
  assert.equal(await hasher.matches(tail, await hasher.hash(key)), false);
});
