import { h, labelledCell, type Child } from './dom.js';
import { timeElement } from './time.js';
import type { KeyDetails } from './types.js';

// A table of keys whose column headers sort it (a button each, aria-sort on the header), one
// table for a user's own keys and for an admin's view of everyone's (which adds the owner).

interface Column {
  label: string;
  /** The value compared when sorting; text compares by locale, times as ISO text. */
  sortValue: (key: KeyDetails) => string | number;
  cell: (key: KeyDetails, href: string) => Child | Child[];
}

const COLUMNS: Record<string, Column> = {
  name: { label: 'Name', sortValue: (key) => key.name.toLowerCase(), cell: (key, href) => h('a', { href }, key.name) },
  user: { label: 'User', sortValue: (key) => key.user_id, cell: (key) => key.user_id },
  keyId: { label: 'Key ID', sortValue: (key) => key.key_id, cell: (key) => h('code', {}, key.key_id) },
  environment: { label: 'Environment', sortValue: (key) => key.environment, cell: (key) => key.environment },
  scopes: {
    label: 'Scopes',
    sortValue: (key) => key.scopes.join(' '),
    cell: (key) => (key.scopes.length === 0 ? h('span', { class: 'muted' }, 'none') : key.scopes.map((scope) => h('span', { class: 'tag' }, scope))),
  },
  status: { label: 'Status', sortValue: (key) => key.status, cell: (key) => h('span', { class: `status ${key.status}` }, key.status) },
  created: { label: 'Created', sortValue: (key) => key.created, cell: (key) => timeElement(key.created) },
  expires: { label: 'Expires', sortValue: (key) => key.expires_at, cell: (key) => timeElement(key.expires_at) },
  lastUsed: { label: 'Last used', sortValue: (key) => key.last_used ?? '', cell: (key) => timeElement(key.last_used) },
};

export type ColumnName = keyof typeof COLUMNS;

export const OWN_KEY_COLUMNS: ColumnName[] = ['name', 'keyId', 'environment', 'scopes', 'status', 'created', 'expires', 'lastUsed'];
export const EVERY_KEY_COLUMNS: ColumnName[] = ['name', 'user', 'keyId', 'environment', 'scopes', 'status', 'created', 'expires', 'lastUsed'];

interface Sorting {
  column: ColumnName;
  ascending: boolean;
}

function sorted(keys: readonly KeyDetails[], sorting: Sorting | undefined): KeyDetails[] {
  if (sorting === undefined) return [...keys];
  const value = COLUMNS[sorting.column]!.sortValue;
  const direction = sorting.ascending ? 1 : -1;
  return [...keys].sort((a, b) => {
    const [left, right] = [value(a), value(b)];
    const order = typeof left === 'number' && typeof right === 'number' ? left - right : String(left).localeCompare(String(right));
    return order * direction;
  });
}

/**
 * The keys in the order the API gave (newest first) until a header is chosen; `hrefOf` is where
 * each key's name links to.
 */
export function keyTable(caption: string, keys: readonly KeyDetails[], columns: readonly ColumnName[], hrefOf: (key: KeyDetails) => string): HTMLElement {
  let sorting: Sorting | undefined;
  const body = h('tbody');
  const headers = columns.map((name) => {
    const column = COLUMNS[name]!;
    const button = h('button', { type: 'button', class: 'sort' }, column.label);
    const header = h('th', { scope: 'col' }, button);
    button.addEventListener('click', () => {
      sorting = { column: name, ascending: sorting?.column === name ? !sorting.ascending : true };
      render();
    });
    return { name, header };
  });
  const render = () => {
    for (const { name, header } of headers) {
      if (sorting?.column === name) header.setAttribute('aria-sort', sorting.ascending ? 'ascending' : 'descending');
      else header.removeAttribute('aria-sort');
    }
    body.replaceChildren(
      ...sorted(keys, sorting).map((key) =>
        h('tr', { 'data-key-id': key.key_id }, columns.map((name) => labelledCell(COLUMNS[name]!.label, COLUMNS[name]!.cell(key, hrefOf(key))))),
      ),
    );
  };
  render();
  return h(
    'table',
    { class: 'keys' },
    h('caption', {}, caption, h('span', { class: 'visually-hidden' }, ' (the column headers sort the table)')),
    h('thead', {}, h('tr', {}, headers.map(({ header }) => header))),
    body,
  );
}
