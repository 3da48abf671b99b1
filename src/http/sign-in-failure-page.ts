import type { FastifyReply } from 'fastify';
import type { SignInFailure } from '../oidc/sign-in-failure.js';
import { PROVIDER_COOLDOWN_MS } from '../tokens/user-tokens.js';

// A failed sign-in ends in the browser, which was sent here by a redirect: a small page that
// says what went wrong and leads back to the sign-in page, whose address carries the code too
// (`/#/signin?error=<code>`) for the dashboard to show in its own words. No script, nothing
// from outside, and no Referer: the address of this page can hold the provider's code.

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]!);
}

/** `retryAfterSeconds`: a rate limit's wait; a provider that is down is asked again after its cooldown. */
export function sendSignInFailure(reply: FastifyReply, failure: SignInFailure, retryAfterSeconds?: number): FastifyReply {
  const retry = `/#/signin?error=${encodeURIComponent(failure.code)}`;
  const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign-in failed - keygate</title></head>
<body>
<main>
<h1>Sign-in failed</h1>
<p id="message">${escapeHtml(failure.message)}</p>
<p>Error code: <code id="error-code">${escapeHtml(failure.code)}</code></p>
<p><a href="${escapeHtml(retry)}">Back to sign-in</a></p>
</main>
</body>
</html>
`;
  const retryAfter = retryAfterSeconds ?? (failure.status === 503 ? PROVIDER_COOLDOWN_MS / 1000 : undefined);
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  return reply
    .code(failure.status)
    .headers({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    })
    .send(page);
}
