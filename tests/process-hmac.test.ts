import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { ProcessHmac } from '../src/keys/process-hmac.js';

test('tags are HMAC-SHA256 under the process key, exactly as createHmac computes them', () => {
  const key = ProcessHmac.newKey();
  assert.equal(key.length, 64);
  assert.ok(key.every((byte) => byte < 0x80));
  const hmac = new ProcessHmac(key);
  const texts = ['', 'mcpkey_live_3xZ9kQ2mB7aV_' + 'a'.repeat(49), 'x'.repeat(1000), 'naïve ünïcode ✓'];
  for (const text of texts) {
    assert.equal(hmac.tag(text), createHmac('sha256', key).update(text).digest('base64'), JSON.stringify(text));
  }
});

test('each process key gives other tags', () => {
  const text = 'mcpkey_live_3xZ9kQ2mB7aV_' + 'b'.repeat(49);
  assert.notEqual(new ProcessHmac().tag(text), new ProcessHmac().tag(text));
});

test('a key with a byte of 0x80 or more, or of another length, is refused', () => {
  const high = ProcessHmac.newKey();
  high[3] = 0x80;
  assert.throws(() => new ProcessHmac(high), /64 bytes below 0x80/);
  assert.throws(() => new ProcessHmac(Buffer.alloc(32)), /64 bytes below 0x80/);
});
