// Clients do put keys in URLs (`?api_key=...`, `/keys/<key>`), and a URL is what 404 answers
// and request logs repeat. What they get instead: the path with every segment that holds a key
// replaced, and never the query string, only the fact that there was one.

const REDACTED = '[redacted]';
/** Enough for any realistic layering of encodings; what is still encoded after that is left as is. */
const MAX_DECODING_ROUNDS = 5;

/** `%XX` escapes decoded one byte at a time, so that a broken escape elsewhere does not stop it. */
function percentDecoded(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * A redactor for URLs (path and query) that treats a segment as a key when it contains one
 * of `keyPrefixes`, compared without case and after percent-decoding, however often applied.
 */
export function urlRedactor(keyPrefixes: readonly string[]): (url: string) => string {
  const prefixes = keyPrefixes.map((prefix) => prefix.toLowerCase());
  const holdsKey = (segment: string): boolean => {
    let text = segment;
    for (let round = 0; round < MAX_DECODING_ROUNDS && text.includes('%'); round++) {
      const decoded = percentDecoded(text);
      if (decoded === text) break;
      text = decoded;
    }
    const lower = text.toLowerCase();
    return prefixes.some((prefix) => lower.includes(prefix));
  };
  return (url) => {
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const redacted = path
      .split('/')
      .map((segment) => (holdsKey(segment) ? REDACTED : segment))
      .join('/');
    return queryStart === -1 ? redacted : `${redacted}?${REDACTED}`;
  };
}
