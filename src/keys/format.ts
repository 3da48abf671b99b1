import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { FastHmac } from './fast-hmac.js';

// A key reads `<prefix><key_id>_<random><tag><checksum>`, for example
// mcpkey_live_3xZ9kQ2mB7aV_<32 random><16 tag><6 checksum>.
// - key_id: 12 base62 characters (71 bits), the row's primary key, so a key is found without a scan;
// - random: 32 base62 characters drawn from crypto.randomBytes (190 bits);
// - tag: an HMAC-SHA256 under the server's tag key over everything before it, 16 base62
//   characters (95 bits). Only keygate can compute it, so text it did not issue is refused in
//   microseconds, before any database read or bcrypt, alike for known and unknown key_ids:
//   knowing a key_id (it is in list answers and logs) gives no way to make keygate work for it;
// - checksum: CRC32 of everything before it, so a scanner or a person can tell a mistyped or
//   truncated key without any secret.
// Letters, digits and underscores only: URL- and shell-safe, selected whole by a double-click.
// Each environment has its own prefix (mcpkey_live_, mcpkey_test_), and the tag covers it: a
// live key cannot be relabelled a test key, or the other way round, without the tag key.

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_ID_LENGTH = 12;
const RANDOM_LENGTH = 32;
const TAG_LENGTH = 16;
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32
const BODY_LENGTH = KEY_ID_LENGTH + 1 + RANDOM_LENGTH + TAG_LENGTH + CHECKSUM_LENGTH;
const CHECKSUMMED_LENGTH = BODY_LENGTH - CHECKSUM_LENGTH;
const TAGGED_LENGTH = CHECKSUMMED_LENGTH - TAG_LENGTH;
const KEY_ID = new RegExp(`^[0-9A-Za-z]{${KEY_ID_LENGTH}}$`);
const CHECKSUM = new RegExp(`^[0-9A-Za-z]{${CHECKSUM_LENGTH}}$`);

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

export const ENVIRONMENTS = ['live', 'test'] as const;
/** live keys for production; test keys for a sandbox, which verification reports so an API can tell. */
export type Environment = (typeof ENVIRONMENTS)[number];

export type KeyPrefixes = Readonly<Record<Environment, string>>;

export class KeyFormat {
  private readonly tagger: FastHmac;
  private readonly lengths: ReadonlySet<number>;

  /**
   * `prefixes`: one per environment, neither a prefix of the other (config.ts checks), so that
   * a text names one environment. `tagKey`: the server's tag key (FastHmac.newKey()), the same
   * in every process on one database.
   */
  constructor(
    readonly prefixes: KeyPrefixes,
    tagKey: Buffer,
  ) {
    this.tagger = new FastHmac(tagKey);
    this.lengths = new Set(ENVIRONMENTS.map((environment) => prefixes[environment].length + BODY_LENGTH));
  }

  /** The environment whose prefix `text` starts with, or undefined. No I/O. */
  environmentOf(text: string): Environment | undefined {
    if (text.startsWith(this.prefixes.live)) return 'live';
    return text.startsWith(this.prefixes.test) ? 'test' : undefined;
  }

  newKeyId(): string {
    return randomBase62(KEY_ID_LENGTH);
  }

  /** Whether `text` could be a key_id at all; anything else names no key, without a lookup. */
  isKeyId(text: string): boolean {
    return KEY_ID.test(text);
  }

  /** A fresh key for `keyId` in `environment`, with new random characters. */
  issue(keyId: string, environment: Environment): string {
    const untagged = `${this.prefixes[environment]}${keyId}_${randomBase62(RANDOM_LENGTH)}`;
    const tagged = untagged + this.tagOf(untagged);
    return tagged + checksumOf(tagged);
  }

  /** Whether `text` is as long as a key: a cheap first sieve, before anything else is done with it. */
  hasKeyLength(text: string): boolean {
    return this.lengths.has(text.length);
  }

  /**
   * The key_id of text that keygate issued (prefix, key_id and a tag only keygate can compute),
   * or undefined for anything else; the checksum is not looked at. What requests are counted
   * by, per key: text that fails here is no key's traffic. No I/O.
   */
  authenticKeyId(presented: string): string | undefined {
    const environment = this.environmentOf(presented);
    if (environment === undefined) return undefined;
    const prefixLength = this.prefixes[environment].length;
    if (presented.length !== prefixLength + BODY_LENGTH) return undefined;
    const keyId = presented.slice(prefixLength, prefixLength + KEY_ID_LENGTH);
    if (!this.isKeyId(keyId) || presented[prefixLength + KEY_ID_LENGTH] !== '_') return undefined;
    const taggedEnd = prefixLength + TAGGED_LENGTH;
    const expected = this.tagOf(presented.slice(0, taggedEnd));
    // Constant time: an early exit would let timing tell how much of a forged tag is right.
    let difference = 0;
    for (let i = 0; i < TAG_LENGTH; i++) difference |= expected.charCodeAt(i) ^ presented.charCodeAt(taggedEnd + i);
    return difference === 0 ? keyId : undefined;
  }

  /** The key_id a well-formed, authentic key names (checksum included), or undefined. No I/O. */
  keyIdOf(presented: string): string | undefined {
    const checksumAt = presented.length - CHECKSUM_LENGTH;
    const checksum = presented.slice(checksumAt);
    if (!CHECKSUM.test(checksum) || checksumOf(presented.slice(0, checksumAt)) !== checksum) return undefined;
    return this.authenticKeyId(presented);
  }

  private tagOf(untagged: string): string {
    const digest = this.tagger.digestBytes(untagged);
    let tag = '';
    // One character per digest byte: the slight bias of `% 62` costs under 0.1 bit of the 95.
    for (let i = 0; i < TAG_LENGTH; i++) tag += ALPHABET[digest.charCodeAt(i) % 62];
    return tag;
  }
}
