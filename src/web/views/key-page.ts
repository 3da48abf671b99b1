import { request } from '../api.js';
import { auditTable } from '../audit-table.js';
import { openDialog } from '../dialog.js';
import { h, type Child } from '../dom.js';
import { announce, failureBox, failureText, loadInto } from '../feedback.js';
import { field, scopesFrom, select } from '../fields.js';
import { issuedKeyPanel } from '../issued-key.js';
import { mergePatchBetween } from '../merge-patch.js';
import { timeElement } from '../time.js';
import type { KeyDetails, KeyUsage, RotatedKey } from '../types.js';
import { usageView } from '../usage-chart.js';

// One key: what it is, its use over time and its audit events, and what can be done to it
// (rotate, disable or enable, edit scopes and metadata, revoke). A user reaches their own keys
// through /api/v1/api-keys, an admin anyone's through /api/v1/admin/api-keys.

interface KeyPageContext {
  keyId: string;
  admin: boolean;
  /** The key's API address. */
  path: string;
  /** Where revoking leaves the reader. */
  listHref: string;
}

function quotaText(key: KeyDetails): Child {
  if (key.quota === null) return 'unlimited';
  const refill = key.quota.refill === null ? '' : `, refilled to ${key.quota.refill.amount} every ${key.quota.refill.interval}`;
  return `${key.quota.remaining} left${refill}`;
}

function summary(key: KeyDetails): HTMLElement {
  const row = (term: string, value: Child | Child[]) => [h('dt', {}, term), h('dd', {}, value)];
  return h(
    'dl',
    { class: 'summary' },
    row('Key ID', h('code', {}, key.key_id)),
    row('Owner', key.user_id),
    row('Environment', key.environment),
    row('Status', h('span', { class: `status ${key.status}`, 'data-testid': 'key-status' }, key.status)),
    row('Scopes', key.scopes.length === 0 ? h('span', { class: 'muted' }, 'none') : key.scopes.map((scope) => h('span', { class: 'tag' }, scope))),
    row('Created', timeElement(key.created)),
    row('Expires', timeElement(key.expires_at)),
    row('Last used', timeElement(key.last_used)),
    row('Quota', quotaText(key)),
    row('Rate limit', key.rate_limit === null ? 'the server\'s default' : `${key.rate_limit} per minute`),
    key.previous_key_expires_at === null ? null : row('Previous key works until', timeElement(key.previous_key_expires_at)),
  );
}

async function confirmRevoke(context: KeyPageContext, key: KeyDetails): Promise<void> {
  const choice = await openDialog(
    `Revoke "${key.name}"?`,
    [h('p', {}, 'Every program using this key loses access at once. This cannot be undone.')],
    [{ label: 'Revoke key', value: 'revoke', kind: 'danger' }],
  );
  if (choice !== 'revoke') return;
  await request<void>('DELETE', context.path);
  announce(`Key "${key.name}" revoked.`);
  location.hash = context.listHref;
}

async function rotate(context: KeyPageContext, key: KeyDetails, resultSlot: HTMLElement, refresh: () => void): Promise<void> {
  const grace = h('input', { name: 'grace_seconds', type: 'number', min: 0, step: 1, value: 0, required: true });
  const choice = await openDialog(
    `Rotate "${key.name}"?`,
    [
      h('p', {}, 'A new key replaces this one under the same key ID.'),
      field('Keep the old key working for (seconds)', grace, '0: the old key stops working at once. More gives your programs time to switch.'),
    ],
    [{ label: 'Rotate key', value: 'rotate', kind: 'primary' }],
  );
  if (choice !== 'rotate') return;
  const graceSeconds = Number(grace.value);
  const rotated = await request<RotatedKey>('POST', `${context.path}/rotate`, { body: graceSeconds > 0 ? { grace_seconds: graceSeconds } : {} });
  const panel = issuedKeyPanel({ keyId: rotated.key_id, name: key.name, apiKey: rotated.new_api_key, heading: `Key "${key.name}" rotated: the new key` }, () => {
    resultSlot.replaceChildren();
    announce('The new key is no longer shown.');
  });
  resultSlot.replaceChildren(panel);
  panel.querySelector<HTMLElement>('h2')?.focus();
  refresh();
}

function editForm(context: KeyPageContext, key: KeyDetails, refresh: () => void): HTMLElement {
  const scopes = h('input', { name: 'scopes', value: key.scopes.join(' '), autocomplete: 'off', spellcheck: 'false' });
  const metadata = h('textarea', { name: 'metadata', rows: 5, spellcheck: 'false' }, JSON.stringify(key.metadata, null, 2));
  const error = h('div', { class: 'form-error', role: 'alert' });
  const form = h(
    'form',
    { class: 'stacked' },
    field('Scopes', scopes, 'Separated by spaces.'),
    field('Metadata (a JSON object)', metadata, 'Returned by verification as given. Remove a member to delete it.'),
    error,
    h('button', { type: 'submit' }, 'Save changes'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.replaceChildren();
    let edited: unknown;
    try {
      edited = JSON.parse(metadata.value);
    } catch {
      edited = undefined;
    }
    if (typeof edited !== 'object' || edited === null || Array.isArray(edited)) {
      error.replaceChildren(h('p', {}, 'Metadata must be a JSON object, e.g. {"team": "search"}.'));
      metadata.focus();
      return;
    }
    const patch: Record<string, unknown> = {};
    const newScopes = scopesFrom(scopes.value);
    if (newScopes.join(' ') !== key.scopes.join(' ')) patch.scopes = newScopes;
    const metadataPatch = mergePatchBetween(key.metadata, edited as Record<string, unknown>);
    if (Object.keys(metadataPatch).length > 0) patch.metadata = metadataPatch;
    if (Object.keys(patch).length === 0) {
      announce('Nothing changed.');
      return;
    }
    request<KeyDetails>('PATCH', context.path, { body: patch, contentType: 'application/merge-patch+json' }).then(
      () => {
        announce('Changes saved.');
        refresh();
      },
      (failure: unknown) => error.replaceChildren(h('p', {}, failureText(failure))),
    );
  });
  return form;
}

function usageSection(context: KeyPageContext): HTMLElement {
  const granularity = select('granularity', ['hour', 'day'], 'hour');
  const chart = h('div');
  const load = () =>
    void loadInto(chart, 'usage', () => request<KeyUsage>('GET', `${context.path}/usage?granularity=${granularity.value}`), usageView);
  granularity.addEventListener('change', load);
  load();
  return h(
    'section',
    { 'aria-labelledby': 'usage-heading' },
    h('div', { class: 'title-row' }, h('h2', { id: 'usage-heading' }, 'Usage'), field('Per', granularity)),
    chart,
  );
}

export function keyPageView(main: HTMLElement, context: KeyPageContext): void {
  const heading = h('h1', { tabindex: -1 }, 'Key ', h('code', {}, context.keyId));
  const resultSlot = h('div');
  const details = h('div');
  const events = h('section', { 'aria-labelledby': 'events-heading' });
  const showEvents = () => events.replaceChildren(h('h2', { id: 'events-heading' }, 'Audit events'), auditTable('Changes to this key, newest first', { key_id: context.keyId }));
  const refresh = () => {
    void loadDetails();
    showEvents();
  };
  const act = (action: () => Promise<void>) => () =>
    action().catch((failure: unknown) => resultSlot.replaceChildren(failureBox(failure)));

  const show = (key: KeyDetails) => {
    heading.replaceChildren(key.name);
    const toggle = key.status === 'active' ? { label: 'Disable', status: 'disabled', done: 'disabled' } : { label: 'Enable', status: 'active', done: 'enabled' };
    const setStatus = async () => {
      await request<KeyDetails>('PATCH', context.path, { body: { status: toggle.status }, contentType: 'application/merge-patch+json' });
      announce(`Key "${key.name}" ${toggle.done}.`);
      refresh();
    };
    return h(
      'div',
      {},
      summary(key),
      h(
        'div',
        { class: 'actions', role: 'group', 'aria-label': 'Key actions' },
        h('button', { type: 'button', on: { click: act(() => rotate(context, key, resultSlot, refresh)) } }, 'Rotate…'),
        h('button', { type: 'button', on: { click: act(setStatus) } }, toggle.label),
        h('button', { type: 'button', class: 'danger', on: { click: act(() => confirmRevoke(context, key)) } }, 'Revoke…'),
      ),
      h('section', { 'aria-labelledby': 'edit-heading' }, h('h2', { id: 'edit-heading' }, 'Scopes and metadata'), editForm(context, key, refresh)),
    );
  };
  const loadDetails = () => loadInto(details, 'the key', () => request<KeyDetails>('GET', context.path), show);

  main.replaceChildren(
    h('p', { class: 'breadcrumb' }, h('a', { href: context.listHref }, context.admin ? '← All keys' : '← Your keys')),
    heading,
    resultSlot,
    details,
    usageSection(context),
    events,
  );
  refresh();
}

export function keyContext(keyId: string, admin: boolean): KeyPageContext {
  const base = admin ? '/api/v1/admin/api-keys' : '/api/v1/api-keys';
  return { keyId, admin, path: `${base}/${encodeURIComponent(keyId)}`, listHref: admin ? '#/admin/keys' : '#/keys' };
}
