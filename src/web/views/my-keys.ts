import { request } from '../api.js';
import { h } from '../dom.js';
import { loadInto } from '../feedback.js';
import { keyTable, OWN_KEY_COLUMNS } from '../key-table.js';
import { keyHref } from '../routes.js';
import type { KeyDetails, KeySummary } from '../types.js';

// The signed-in user's keys. The list endpoint answers the seed's summary shape only (clients
// generated from the seed refuse more fields), so each key's details (environment, scopes,
// status) come from its own GET: a user holds a handful of keys (KEYGATE_MAX_KEYS_PER_USER).

async function ownKeys(): Promise<KeyDetails[]> {
  const summaries = await request<KeySummary[]>('GET', '/api/v1/api-keys/');
  return Promise.all(summaries.map((key) => request<KeyDetails>('GET', `/api/v1/api-keys/${encodeURIComponent(key.key_id)}`)));
}

function emptyState(): HTMLElement {
  return h(
    'div',
    { class: 'empty' },
    h('h2', {}, 'No keys yet'),
    h('p', {}, 'An API key lets a program (an MCP client, a script, a gateway) act for you. Create one, copy it into the program, and its use shows up here.'),
    h('p', {}, h('a', { class: 'button primary', href: '#/keys/new' }, 'Create your first key')),
  );
}

export function myKeysView(main: HTMLElement): void {
  const list = h('div');
  main.replaceChildren(
    h('div', { class: 'title-row' }, h('h1', { tabindex: -1 }, 'Your API keys'), h('a', { class: 'button primary', href: '#/keys/new' }, 'Create a key')),
    list,
  );
  void loadInto(list, 'your keys', ownKeys, (keys) =>
    keys.length === 0 ? emptyState() : keyTable('Your keys, newest first', keys, OWN_KEY_COLUMNS, (key) => keyHref(key.key_id, false)),
  );
}
