import { request } from '../api.js';
import { h } from '../dom.js';
import { failureText } from '../feedback.js';
import { field, optionalInteger, scopesFrom, select } from '../fields.js';
import { issuedKeyPanel } from '../issued-key.js';
import { keyHref } from '../routes.js';
import type { CreatedKey } from '../types.js';

// Create a key (POST /api/v1/api-keys/, the flat body): name, expiry, environment, scopes and an
// optional quota; then the key, shown this once.

const DEFAULT_EXPIRES_DAYS = 90;
const REFILLS = [
  ['none', 'never'],
  ['hour', 'every hour'],
  ['day', 'every day'],
  ['month', 'every month'],
] as const;

function quotaOf(remaining: number | undefined, refillInterval: string): Record<string, unknown> | undefined {
  if (remaining === undefined) return undefined;
  return { remaining, refill: refillInterval === 'none' ? null : { amount: remaining, interval: refillInterval } };
}

export function createKeyView(main: HTMLElement): void {
  const name = h('input', { name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const expiresDays = h('input', { name: 'expires_days', type: 'number', min: 1, step: 1, required: true, value: DEFAULT_EXPIRES_DAYS });
  const environment = select('environment', ['live', 'test'], 'live');
  const scopes = h('input', { name: 'scopes', autocomplete: 'off', spellcheck: 'false' });
  const quota = h('input', { name: 'quota', type: 'number', min: 0, step: 1 });
  const refill = select('refill', REFILLS, 'none');
  const error = h('div', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create key');
  const form = h(
    'form',
    { class: 'stacked' },
    field('Name', name, 'What the key is for, e.g. "CI deploy" or "Claude Desktop".'),
    field('Expires after (days)', expiresDays),
    field('Environment', environment, 'test keys have their own prefix, for an API\'s sandbox.'),
    field('Scopes', scopes, 'What the key may do, separated by spaces, e.g. tools:read tools:call. Empty: none.'),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Quota (optional)'),
      field('Verifications allowed', quota, 'Empty: unlimited.'),
      field('Refilled to that number', refill),
    ),
    error,
    h('div', { class: 'actions' }, h('a', { href: '#/keys' }, 'Cancel'), submit),
  );
  const container = h('div', { class: 'narrow' }, h('h1', { tabindex: -1 }, 'Create a key'), form);
  main.replaceChildren(container);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.replaceChildren();
    submit.disabled = true;
    const body = {
      name: name.value,
      expires_days: Number(expiresDays.value),
      environment: environment.value,
      scopes: scopesFrom(scopes.value),
      quota: quotaOf(optionalInteger(quota), refill.value),
    };
    request<CreatedKey>('POST', '/api/v1/api-keys/', { body }).then(
      (created) => {
        const panel = issuedKeyPanel({ keyId: created.key_id, name: created.name, apiKey: created.api_key, heading: `Key "${created.name}" created` }, () => {
          location.hash = keyHref(created.key_id, false);
        });
        form.replaceWith(panel);
        panel.querySelector<HTMLElement>('h2')?.focus();
      },
      (failure: unknown) => {
        submit.disabled = false;
        error.replaceChildren(h('p', {}, failureText(failure)));
      },
    );
  });
}
