// Where a finished sign-in sends the browser: a path on keygate itself, never another site.
// Sign-in ends in a redirect the browser follows without asking, so a return_to that could name
// another origin would make keygate's own sign-in link a phishing link (an open redirect).

export const DEFAULT_RETURN_TO = '/';

const MAX_RETURN_TO_LENGTH = 2048;

/**
 * `raw` when it is a same-origin path, else undefined. Refused: anything not starting with one
 * `/` (`https://evil`, `evil`), a second slash or a backslash at the start (`//evil`, `/\evil`:
 * browsers read both as another host), backslashes anywhere (browsers turn them into slashes),
 * control characters (`/\t/evil` loses its tab in a browser's parser). Then, as a last
 * guard, the path resolved against a placeholder origin must stay on it.
 */
export function sameOriginPath(raw: string): string | undefined {
  if (raw.length > MAX_RETURN_TO_LENGTH || !raw.startsWith('/') || raw.startsWith('//')) return undefined;
  if (raw.includes('\\') || /[\u0000-\u001f\u007f]/.test(raw)) return undefined;
  const placeholder = 'http://keygate.invalid';
  return URL.canParse(raw, placeholder) && new URL(raw, placeholder).origin === placeholder ? raw : undefined;
}
