import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

// A key reads `<prefix><key_id>_<secret><checksum>`, for example
// mcpkey_live_3xZ9kQ2mB7aV_<43 characters of secret><6 characters of checksum>.
// - key_id: 12 base62 characters (71 bits), the row's primary key, so a key is found without a scan;
// - secret: 43 base62 characters drawn from crypto.randomBytes: 256 bits;
// - checksum: CRC32 of everything before it, so a mistyped or truncated key is refused
//   before any I/O.
// Letters, digits and underscores only: URL- and shell-safe, selected whole by a double-click.

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_ID_LENGTH = 12;
const SECRET_LENGTH = 43;
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32
const BODY_LENGTH = KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;
/** What follows the key_id: the separator, the secret, and (captured) the checksum. */
const SECRET_AND_CHECKSUM = new RegExp(`^_[0-9A-Za-z]{${SECRET_LENGTH}}([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`);

const KEY_ID = new RegExp(`^[0-9A-Za-z]{${KEY_ID_LENGTH}}$`);

/** Uniform random base62 text: bytes of 248 or more are dropped so that no character is favoured. */
function randomBase62(length: number): string {
  let text = '';
  while (text.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && text.length < length) text += ALPHABET[byte % 62];
    }
  }
  return text;
}

/** `value` in base62, left-padded with zeros to `width` characters. */
export function encodeBase62(value: number, width: number): string {
  let encoded = '';
  for (let i = 0; i < width; i++) {
    encoded = ALPHABET[value % 62] + encoded;
    value = Math.floor(value / 62);
  }
  return encoded;
}

function checksumOf(text: string): string {
  return encodeBase62(crc32(text), CHECKSUM_LENGTH);
}

export class KeyFormat {
  constructor(private readonly prefix: string) {}

  newKeyId(): string {
    return randomBase62(KEY_ID_LENGTH);
  }

  /** Whether `text` could be a key_id at all; anything else names no key, without a lookup. */
  isKeyId(text: string): boolean {
    return KEY_ID.test(text);
  }

  /** A fresh key for `keyId`, with a new secret. */
  issue(keyId: string): string {
    const unchecked = `${this.prefix}${keyId}_${randomBase62(SECRET_LENGTH)}`;
    return unchecked + checksumOf(unchecked);
  }

  /** Whether `text` is as long as a key: a cheap first sieve, before anything else is done with it. */
  hasKeyLength(text: string): boolean {
    return text.length === this.prefix.length + BODY_LENGTH;
  }

  /**
   * The key_id that text of a key's shape (prefix, length, key_id) names, without checking the
   * rest: what requests are counted by, per key. The checksum would add nothing there (anyone
   * can compute one), and skipping it keeps the count cheap on the hot path. No I/O.
   */
  claimedKeyId(presented: string): string | undefined {
    if (!this.hasKeyLength(presented) || !presented.startsWith(this.prefix)) return undefined;
    const keyId = presented.slice(this.prefix.length, this.prefix.length + KEY_ID_LENGTH);
    return this.isKeyId(keyId) ? keyId : undefined;
  }

  /** The key_id a well-formed key names, or undefined for anything else. No I/O. */
  keyIdOf(presented: string): string | undefined {
    const keyId = this.claimedKeyId(presented);
    if (keyId === undefined) return undefined;
    const match = SECRET_AND_CHECKSUM.exec(presented.slice(this.prefix.length + KEY_ID_LENGTH));
    if (!match) return undefined;
    const checked = presented.slice(0, presented.length - CHECKSUM_LENGTH);
    return checksumOf(checked) === match[1] ? keyId : undefined;
  }
}
