import { hash, randomBytes } from 'node:crypto';

// HMAC-SHA256 (RFC 2104) computed from two one-shot hashes, for the two HMACs on the hot path:
// - the warm cache's keys, under a random key that never leaves this process, so the cache
//   holds no key and nothing in it is useful elsewhere;
// - the authenticity tag inside every issued secret, under the server's tag key (kept in the
//   database like the other generated secrets), so text keygate did not issue is refused
//   before any read or bcrypt.
//
// Why not createHmac: it builds an OpenSSL MAC context per call, about twice the time of two
// crypto.hash calls over strings. crypto.hash takes strings as UTF-8, so the key's bytes are
// drawn below 0x80: the inner padded key (key XOR 0x36), kept as a string, is then ASCII and
// encodes to exactly its bytes. That leaves 7 random bits in each of the 64 key bytes (448).

const BLOCK_BYTES = 64; // SHA-256's block: a key of this length is used as it is, unpadded
const DIGEST_BYTES = 32;

export class FastHmac {
  private readonly innerPad: string;
  /** The outer pad, then room for the inner digest: reused by every call (one thread, synchronous). */
  private readonly outerMessage = Buffer.alloc(BLOCK_BYTES + DIGEST_BYTES);
  // One remembered answer per form: a request's rate-limit hook and its verification ask for the
  // same HMAC one after the other (of the header string, or of the part of it a key's tag covers),
  // and the second ask is then free.
  private lastText: string | undefined;
  private lastTag = '';
  private lastBytesText: string | undefined;
  private lastBytes = '';

  constructor(key: Buffer = FastHmac.newKey()) {
    if (!FastHmac.isKey(key)) throw new Error(`FastHmac: the key must be ${BLOCK_BYTES} bytes below 0x80`);
    this.innerPad = String.fromCharCode(...key.map((byte) => byte ^ 0x36));
    key.forEach((byte, i) => this.outerMessage.writeUInt8(byte ^ 0x5c, i));
  }

  static newKey(): Buffer {
    return Buffer.from(randomBytes(BLOCK_BYTES).map((byte) => byte & 0x7f));
  }

  static isKey(key: Buffer): boolean {
    return key.length === BLOCK_BYTES && key.every((byte) => byte < 0x80);
  }

  /** HMAC-SHA256(key, UTF-8 of `text`), base64. */
  tag(text: string): string {
    if (text === this.lastText) return this.lastTag;
    const tag = this.digest(text, 'base64');
    this.lastText = text;
    this.lastTag = tag;
    return tag;
  }

  /** HMAC-SHA256(key, UTF-8 of `text`), one character per byte (latin1). */
  digestBytes(text: string): string {
    if (text === this.lastBytesText) return this.lastBytes;
    const bytes = this.digest(text, 'binary'); // 'binary' is latin1
    this.lastBytesText = text;
    this.lastBytes = bytes;
    return bytes;
  }

  private digest(text: string, encoding: 'base64' | 'binary'): string {
    const inner = hash('sha256', this.innerPad + text, 'binary'); // 'binary' is latin1
    // The outer message is the outer pad and the inner digest's raw bytes, which are not ASCII:
    // written as latin1 (one byte per character) behind the pad, in a buffer made once.
    this.outerMessage.write(inner, BLOCK_BYTES, 'latin1');
    return hash('sha256', this.outerMessage, encoding);
  }
}
