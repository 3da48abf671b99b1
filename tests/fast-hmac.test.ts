import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { FastHmac } from '../src/keys/fast-hmac.js';

test('tags are HMAC-SHA256 under the key, exactly as createHmac computes them', () => {
  const key = FastHmac.newKey();
  assert.equal(key.length, 64);
  assert.ok(key.every((byte) => byte < 0x80));
  const hmac = new FastHmac(key);
  const texts = ['', 'mcpkey_live_3xZ9kQ2mB7aV_' + 'a'.repeat(49), 'x'.repeat(1000), 'naïve ünïcode ✓'];
  for (const text of texts) {
    const expected = createHmac('sha256', key).update(text).digest();
    assert.equal(hmac.tag(text), expected.toString('base64'), JSON.stringify(text));
    assert.equal(hmac.tag(text), expected.toString('base64'), 'the remembered answer is the same');
    assert.equal(hmac.digestBytes(text), expected.toString('latin1'), JSON.stringify(text));
    assert.equal(hmac.digestBytes(text), expected.toString('latin1'), 'the remembered answer is the same');
  }
});

test('a remembered answer is only ever given for the very text it was computed for', () => {
  const key = FastHmac.newKey();
  const hmac = new FastHmac(key);
  const expected = (text: string) => createHmac('sha256', key).update(text).digest();
  // Alternating texts, and the two forms interleaved, as a hook and a verification may ask.
  for (const text of ['a', 'b', 'a', 'a', 'b']) {
    assert.equal(hmac.tag(text), expected(text).toString('base64'));
    assert.equal(hmac.digestBytes(`${text}!`), expected(`${text}!`).toString('latin1'));
  }
});

test('each key gives other tags', () => {
  const text = 'mcpkey_live_3xZ9kQ2mB7aV_' + 'b'.repeat(49);
  assert.notEqual(new FastHmac().tag(text), new FastHmac().tag(text));
});

test('a key with a byte of 0x80 or more, or of another length, is refused', () => {
  const high = FastHmac.newKey();
  high[3] = 0x80;
  assert.throws(() => new FastHmac(high), /64 bytes below 0x80/);
  assert.throws(() => new FastHmac(Buffer.alloc(32)), /64 bytes below 0x80/);
});
