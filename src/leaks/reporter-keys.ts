import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError, type LeakKeysSource } from '../config.js';
import { Unavailable } from '../errors.js';

// The public keys a leak reporter signs its reports with, as GitHub publishes them
// (https://api.github.com/meta/public_keys/secret_scanning):
//   {"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----...", "is_current": true}]}
// read from a URL or a file of the same JSON. Read once and kept; read again only for an
// identifier the kept list lacks (the reporter rotated its key), and then at most once per
// cooldown, so that reports signed with made-up identifiers cannot make keygate fetch per request.
// The first read starts no cooldown: a key rotated in just after it is found at once.
// Every listed key verifies, current or not: a report signed just before a rotation is still good.

/**
 * After a read, how long before another: between two reads for unknown identifiers, and after a
 * failed one. As long as the Retry-After of the 503 a failure answers, so that a reporter
 * retrying then finds a new read.
 */
export const REPORTER_KEYS_COOLDOWN_MS = 30_000;
/** How long a fetch of the key list may take before it counts as failed. */
const FETCH_TIMEOUT_MS = 5000;

const LIST_SHAPE = '{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----..."}]}';

export class ReporterKeys {
  private keys: ReadonlyMap<string, KeyObject> | undefined;
  /** No read before this: set by a failed read, and by a read for an unknown identifier. */
  private quietUntil = -Infinity;
  /** Whether the last read failed: keys it may have brought cannot be judged until the next. */
  private lastReadFailed = false;
  /** The read under way, which concurrent reports share. */
  private reading: Promise<void> | undefined;

  /** `read` gives the list's JSON text, or throws why it cannot (its message names the source). */
  constructor(
    private readonly read: () => Promise<string>,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The P-256 public key named `identifier`; undefined when the reporter does not publish it.
   * Throws Unavailable when the list cannot be read and the key is not among those kept.
   */
  async keyFor(identifier: string): Promise<KeyObject | undefined> {
    await this.reading?.catch(() => {});
    const kept = this.keys?.get(identifier);
    if (kept !== undefined) return kept;
    if (this.now() < this.quietUntil) {
      if (this.lastReadFailed) throw unavailable();
      return undefined;
    }
    if (this.keys !== undefined) this.quietUntil = this.now() + REPORTER_KEYS_COOLDOWN_MS;
    await this.reload();
    return this.keys?.get(identifier);
  }

  /** Reads the list now (sharing a read under way); throws Unavailable when that fails. */
  async reload(): Promise<void> {
    this.reading ??= this.readList().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readList(): Promise<void> {
    try {
      this.keys = parseKeyList(await this.read());
      this.lastReadFailed = false;
    } catch (error) {
      this.lastReadFailed = true;
      this.quietUntil = this.now() + REPORTER_KEYS_COOLDOWN_MS;
      throw unavailable(error);
    }
  }
}

function unavailable(cause?: unknown): Unavailable {
  return new Unavailable('The public keys that verify leak reports cannot be read now: try again later', {
    cause,
    retryAfterSeconds: REPORTER_KEYS_COOLDOWN_MS / 1000,
  });
}

/**
 * The reporter keys of the configured source. A file is read now, so that one keygate cannot
 * read fails its start (ConfigError); a URL is fetched at the first report, so that keygate
 * starts while the reporter does not answer.
 */
export async function openReporterKeys(source: LeakKeysSource): Promise<ReporterKeys> {
  if (source.kind === 'url') return new ReporterKeys(() => fetchText(source.url));
  const keys = new ReporterKeys(() => readFile(source.path, 'utf8'));
  await keys.reload().catch((error: unknown) => {
    const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new ConfigError(`KEYGATE_LEAK_KEYS_FILE ${source.path}: ${reason}`, { cause: error });
  });
  return keys;
}

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`KEYGATE_LEAK_KEYS_URL answered HTTP ${response.status}`);
  return response.text();
}

/**
 * The usable keys of a list, by identifier: P-256 only (ECDSA with SHA-256 is what reports are
 * signed with; any other key could only fail, or verify another algorithm). An entry that is
 * not one is passed over, so that one odd entry does not take the others down; a list with
 * none at all is refused, as is text of another shape.
 */
export function parseKeyList(text: string): ReadonlyMap<string, KeyObject> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new Error(`the key list is not JSON; expected ${LIST_SHAPE}`);
  }
  const entries = (document as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(entries)) throw new Error(`the key list has no "public_keys" array; expected ${LIST_SHAPE}`);
  const keys = new Map<string, KeyObject>();
  for (const entry of entries as { key_identifier?: unknown; key?: unknown }[]) {
    const key = typeof entry?.key === 'string' ? p256Key(entry.key) : undefined;
    if (typeof entry?.key_identifier === 'string' && key !== undefined) keys.set(entry.key_identifier, key);
  }
  if (keys.size === 0) throw new Error(`the key list holds no P-256 public key in PEM; expected ${LIST_SHAPE}`);
  return keys;
}

function p256Key(pem: string): KeyObject | undefined {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}
