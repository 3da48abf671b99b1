import { FastHmac } from '../../src/keys/fast-hmac.js';
import { KeyFormat } from '../../src/keys/format.js';
import { KeyHasher, type HashSettings } from '../../src/keys/hashing.js';

// Keys and hashers made outside a running keygate, for tests that need them by hand.

/** A key format with a tag key of its own: what it issues, no keygate accepts. */
export function strangerFormat(prefix = 'mcpkey_live_'): KeyFormat {
  return new KeyFormat({ live: prefix, test: 'mcpkey_test_' }, FastHmac.newKey());
}

/**
 * A key of the right shape and checksum for `keyId`, with a tag no keygate computed: what
 * anyone who knows a key_id can make.
 */
export function forgedKey(keyId: string, prefix = 'mcpkey_live_'): string {
  return strangerFormat(prefix).issue(keyId, 'live');
}

/** A well-formed key under a key_id no keygate issued. */
export function unknownKey(prefix = 'mcpkey_live_'): string {
  const format = strangerFormat(prefix);
  return format.issue(format.newKeyId(), 'live');
}

/** keygate's default hash settings, with a fixed pepper. */
export function testHashSettings(settings: Partial<HashSettings> = {}): HashSettings {
  return {
    scheme: 'bcrypt',
    bcryptCost: 10,
    pepper: Buffer.from('a pepper of at least thirty-two bytes!!'),
    concurrency: 4,
    maxWaiting: 1000,
    maxWaitMs: 30_000,
    ...settings,
  };
}

export function testHasher(settings: Partial<HashSettings> = {}): KeyHasher {
  return new KeyHasher(testHashSettings(settings));
}
