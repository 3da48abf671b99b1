import { query, request } from './api.js';
import { h, labelledCell } from './dom.js';
import { failureBox, loadingBox } from './feedback.js';
import { timeElement } from './time.js';
import type { AuditEvent, AuditPage } from './types.js';

// Audit events, newest first, a page at a time ("Older events" follows next_cursor): on a key's
// page (key_id) and in the whole trail (an admin's, with filters).

export interface AuditFilters {
  key_id?: string;
  user_id?: string;
}

function changesText(event: AuditEvent): string {
  // A revocation deletes the key: every field going to null says no more than the action does.
  const fieldChanges = event.action === 'key.revoked' ? [] : Object.entries(event.changes);
  const changes = fieldChanges.map(([field, change]) =>
    change.old === null ? `${field}: ${JSON.stringify(change.new)}` : `${field}: ${JSON.stringify(change.old)} → ${JSON.stringify(change.new)}`,
  );
  // The detail says what no field change does: a rotation's grace, a refusal's reason.
  const detail = Object.entries(event.detail).map(([name, value]) => `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [...changes, ...detail].join('; ');
}

function eventRow(event: AuditEvent, withKey: boolean): HTMLElement {
  return h(
    'tr',
    { 'data-action': event.action },
    labelledCell('When', timeElement(event.occurred_at)),
    labelledCell('Action', event.action),
    labelledCell('Outcome', h('span', { class: `outcome ${event.outcome}` }, event.outcome)),
    labelledCell('By', `${event.actor.type} ${event.actor.id}`),
    withKey ? labelledCell('Key', event.key_id === null ? h('span', { class: 'muted' }, 'none') : h('code', {}, event.key_id)) : null,
    withKey ? labelledCell('Owner', event.owner_id ?? '') : null,
    labelledCell('Changes', h('span', { class: 'long' }, changesText(event))),
  );
}

/** The events matching `filters`, in a table that grows by a page at each "Older events". */
export function auditTable(caption: string, filters: AuditFilters): HTMLElement {
  const withKey = filters.key_id === undefined;
  const labels = ['When', 'Action', 'Outcome', 'By', ...(withKey ? ['Key', 'Owner'] : []), 'Changes'];
  const body = h('tbody');
  const table = h('table', { class: 'events' }, h('caption', {}, caption), h('thead', {}, h('tr', {}, labels.map((label) => h('th', { scope: 'col' }, label)))), body);
  const footer = h('div', { class: 'pager' });
  const container = h('div', { class: 'audit' }, table, footer);

  const loadPage = async (cursor: string | undefined) => {
    footer.replaceChildren(loadingBox('events'));
    try {
      const page = await request<AuditPage>('GET', `/api/v1/audit${query({ ...filters, cursor })}`);
      body.append(...page.events.map((event) => eventRow(event, withKey)));
      if (body.childElementCount === 0) footer.replaceChildren(h('p', { class: 'muted' }, 'No events yet.'));
      else if (page.next_cursor === null) footer.replaceChildren();
      else {
        const next = page.next_cursor;
        footer.replaceChildren(h('button', { type: 'button', on: { click: () => void loadPage(next) } }, 'Older events'));
      }
    } catch (error) {
      footer.replaceChildren(failureBox(error, () => void loadPage(cursor)));
    }
  };
  void loadPage(undefined);
  return container;
}
