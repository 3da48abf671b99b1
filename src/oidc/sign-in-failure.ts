// Why a sign-in did not happen, in words the person in front of the browser can act on. The
// code goes into the page (and the log); nothing the provider or the callback URL said is
// repeated, since anyone can craft a callback URL and put text of their choosing in it.

export const SIGN_IN_FAILURES = {
  invalid_return_to: [400, 'The address to return to after signing in must be a path on this server.'],
  no_flow: [400, 'No sign-in was in progress in this browser: start again from the sign-in page. (Cookies must be allowed for this site.)'],
  flow_expired: [400, 'The sign-in took longer than 10 minutes: start again from the sign-in page.'],
  invalid_state: [400, 'The answer from the identity provider does not belong to the sign-in this browser started: start again from the sign-in page.'],
  access_denied: [403, 'The identity provider did not let you sign in (access denied).'],
  provider_refused: [400, 'The identity provider refused the sign-in: start again, or ask the administrator of the identity provider.'],
  invalid_response: [400, 'The answer from the identity provider did not check out (a code used twice, or meant for another sign-in): start again from the sign-in page.'],
  invalid_identity: [400, 'The identity provider named no usable user (its "sub" must be 1 to 255 printable characters).'],
  missing_scope: [403, 'Your account at the identity provider lacks the scope or role this server requires.'],
  provider_unavailable: [503, 'The identity provider cannot be reached right now: try again in a minute.'],
  rate_limited: [429, 'Too many sign-in attempts from this address: wait a minute, then start again from the sign-in page.'],
} as const satisfies Record<string, readonly [number, string]>;

export type SignInFailureCode = keyof typeof SIGN_IN_FAILURES;

export class SignInFailure extends Error {
  readonly status: number;

  /** `reason`: for the log only, never shown (no secret: no code, token or cookie value in it). */
  constructor(
    readonly code: SignInFailureCode,
    readonly reason?: string,
  ) {
    super(SIGN_IN_FAILURES[code][1]);
    this.status = SIGN_IN_FAILURES[code][0];
  }
}
