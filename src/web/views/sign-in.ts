import { request } from '../api.js';
import { h } from '../dom.js';
import { failureText, loadInto } from '../feedback.js';
import { field } from '../fields.js';
import { signInWith } from '../session.js';
import type { AuthConfig, SignInFailureText } from '../types.js';

// The sign-in page: what /auth/config says this server offers (a password, the OIDC provider,
// sign-up), each error as the API's detail says it; after a failed provider sign-in
// (#/signin?error=<code>), the sentence keygate's failure page said, asked of the server so
// that the one table of them (src/oidc/sign-in-failure.ts) is the only copy.

const PASSWORD_MIN_LENGTH = 12;

function passwordForm(path: '/auth/session' | '/auth/signup', submitLabel: string, onSignedIn: () => void): HTMLFormElement {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', {
    name: 'password',
    type: 'password',
    required: true,
    autocomplete: path === '/auth/signup' ? 'new-password' : 'current-password',
    minlength: path === '/auth/signup' ? PASSWORD_MIN_LENGTH : undefined,
  });
  const error = h('div', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const form = h(
    'form',
    { class: 'stacked' },
    field('Username', username),
    field('Password', password, path === '/auth/signup' ? `At least ${PASSWORD_MIN_LENGTH} characters.` : undefined),
    error,
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.replaceChildren();
    submit.disabled = true;
    signInWith(path, username.value, password.value).then(onSignedIn, (failure: unknown) => {
      submit.disabled = false;
      error.replaceChildren(h('p', {}, failureText(failure)));
      password.select();
    });
  });
  return form;
}

function options(config: AuthConfig, onSignedIn: () => void): HTMLElement {
  return h(
    'div',
    { class: 'sign-in-options' },
    config.local_accounts ? passwordForm('/auth/session', 'Sign in', onSignedIn) : null,
    config.oidc ? h('p', {}, h('a', { class: 'button', href: '/auth/oidc/start?return_to=/' }, 'Sign in with your provider')) : null,
    config.signup
      ? h('section', { 'aria-labelledby': 'signup-heading' }, h('h2', { id: 'signup-heading' }, 'New here? Create an account'), passwordForm('/auth/signup', 'Create account', onSignedIn))
      : null,
    !config.local_accounts && !config.oidc ? h('p', { class: 'notice error', role: 'alert' }, 'This server offers no way to sign in: ask its operator.') : null,
  );
}

/** What the sign-in page says first: a sentence of the page's own, or why a provider sign-in failed. */
export type SignInNotice = string | { failureCode: string };

/** A code as keygate makes them; anything else in the address is not shown (anyone can craft it). */
const FAILURE_CODE = /^[a-z_]{1,40}$/;

async function failureSentence(code: string): Promise<string> {
  const failed = 'Signing in with your provider failed';
  if (!FAILURE_CODE.test(code)) return `${failed}.`;
  try {
    const { message } = await request<SignInFailureText>('GET', `/auth/oidc/failures/${code}`, { signedIn: false });
    return `${failed}. ${message} Error code: ${code}.`;
  } catch {
    // An unknown code (a newer server's, or a crafted one), or keygate out of reach: the code alone.
    return `${failed}. Error code: ${code}.`;
  }
}

export function signInView(main: HTMLElement, notice: SignInNotice | undefined, onSignedIn: () => void): void {
  const body = h('div');
  const said = h('div');
  const say = (text: string) => said.replaceChildren(h('p', { class: 'notice warning', role: 'alert' }, text));
  main.replaceChildren(h('div', { class: 'narrow' }, h('h1', { tabindex: -1 }, 'Sign in to keygate'), said, body));
  if (typeof notice === 'string') say(notice);
  else if (notice !== undefined) void failureSentence(notice.failureCode).then(say);
  void loadInto(body, 'the sign-in options', () => request<AuthConfig>('GET', '/auth/config', { signedIn: false }), (config) => options(config, onSignedIn));
}
