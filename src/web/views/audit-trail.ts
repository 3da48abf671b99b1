import { auditTable } from '../audit-table.js';
import { h } from '../dom.js';
import { filterForm } from '../filter-form.js';
import type { KeyFilters } from '../routes.js';

// The whole audit trail, for admins (a user reads their keys' events on each key's page).

export function auditTrailView(main: HTMLElement, filters: KeyFilters): void {
  main.replaceChildren(
    h('h1', { tabindex: -1 }, 'Audit trail'),
    filterForm('#/admin/audit', filters, { userId: 'Owner (user ID)', keyId: 'Key ID' }, 'Filter'),
    auditTable('Every change to a key, and every refused attempt, newest first', { user_id: filters.userId, key_id: filters.keyId }),
  );
}
