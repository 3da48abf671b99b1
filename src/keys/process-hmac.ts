import { hash, randomBytes } from 'node:crypto';

// HMAC-SHA256 (RFC 2104) under a random key that never leaves this process: what the warm
// cache is keyed by, so that it holds no key and nothing in it is useful elsewhere.
//
// Why not createHmac: it builds an OpenSSL MAC context per call, about 4 µs in a loop and three
// times that on a loaded server, once per verification. Two one-shot crypto.hash calls over
// strings compute the same HMAC in about 2 µs. crypto.hash takes strings as UTF-8, so the key's
// bytes are drawn below 0x80: the inner padded key (key XOR 0x36), kept as a string, is then
// ASCII and encodes to exactly its bytes. That leaves 7 random bits in each of the 64 key bytes
// (448).

const BLOCK_BYTES = 64; // SHA-256's block: a key of this length is used as it is, unpadded
const DIGEST_BYTES = 32;

export class ProcessHmac {
  private readonly innerPad: string;
  /** The outer pad, then room for the inner digest: reused by every tag() (one thread, synchronous). */
  private readonly outerMessage = Buffer.alloc(BLOCK_BYTES + DIGEST_BYTES);

  constructor(key: Buffer = ProcessHmac.newKey()) {
    if (key.length !== BLOCK_BYTES || key.some((byte) => byte >= 0x80)) {
      throw new Error(`ProcessHmac: the key must be ${BLOCK_BYTES} bytes below 0x80`);
    }
    this.innerPad = String.fromCharCode(...key.map((byte) => byte ^ 0x36));
    key.forEach((byte, i) => this.outerMessage.writeUInt8(byte ^ 0x5c, i));
  }

  static newKey(): Buffer {
    return Buffer.from(randomBytes(BLOCK_BYTES).map((byte) => byte & 0x7f));
  }

  /** HMAC-SHA256(key, UTF-8 of `text`), base64. */
  tag(text: string): string {
    const inner = hash('sha256', this.innerPad + text, 'binary'); // 'binary' is latin1
    // The outer message is the outer pad and the inner digest's raw bytes, which are not ASCII:
    // written as latin1 (one byte per character) behind the pad, in a buffer made once.
    this.outerMessage.write(inner, BLOCK_BYTES, 'latin1');
    return hash('sha256', this.outerMessage, 'base64');
  }
}
