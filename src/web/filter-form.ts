import { h } from './dom.js';
import { field } from './fields.js';
import { filteredHref, type KeyFilters } from './routes.js';

// The admin pages' search: an owner and a key ID, kept in the address (#/admin/keys?user_id=bob)
// so that a search can be bookmarked, shared and reloaded.

export function filterForm(path: string, filters: KeyFilters, labels: { userId: string; keyId: string }, submitLabel: string): HTMLFormElement {
  const text = (name: string, value: string | undefined) => h('input', { name, value: value ?? '', autocomplete: 'off', spellcheck: 'false' });
  const userId = text('user_id', filters.userId);
  const keyId = text('key_id', filters.keyId);
  const form = h('form', { class: 'search', role: 'search' }, field(labels.userId, userId), field(labels.keyId, keyId), h('button', { type: 'submit' }, submitLabel));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = filteredHref(path, { user_id: userId.value.trim(), key_id: keyId.value.trim() });
  });
  return form;
}
