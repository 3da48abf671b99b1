import { auditTable } from '../audit-table.js';
import { h } from '../dom.js';
import { field } from '../fields.js';
import { filteredHref } from '../routes.js';

// The whole audit trail, for admins (a user reads their keys' events on each key's page).

export interface AuditFiltersInRoute {
  userId?: string;
  keyId?: string;
}

export function auditTrailView(main: HTMLElement, filters: AuditFiltersInRoute): void {
  const userId = h('input', { name: 'user_id', value: filters.userId ?? '', autocomplete: 'off', spellcheck: 'false' });
  const keyId = h('input', { name: 'key_id', value: filters.keyId ?? '', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'search', role: 'search' }, field('Owner (user ID)', userId), field('Key ID', keyId), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = filteredHref('#/admin/audit', { user_id: userId.value.trim(), key_id: keyId.value.trim() });
  });
  main.replaceChildren(
    h('h1', { tabindex: -1 }, 'Audit trail'),
    form,
    auditTable('Every change to a key, and every refused attempt, newest first', { user_id: filters.userId, key_id: filters.keyId }),
  );
}

/** What a non-admin sees on an admin page reached by its address. */
export function adminOnlyView(main: HTMLElement, title: string): void {
  main.replaceChildren(
    h('h1', { tabindex: -1 }, title),
    h('div', { class: 'notice error', role: 'alert' }, h('p', {}, 'This page is for admins only: your account is not an admin.'), h('p', {}, h('a', { href: '#/keys' }, 'Go to your keys'))),
  );
}
