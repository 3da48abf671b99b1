import { ApiError, query, request } from '../api.js';
import { h } from '../dom.js';
import { failureBox, loadingBox } from '../feedback.js';
import { filterForm } from '../filter-form.js';
import { EVERY_KEY_COLUMNS, keyTable } from '../key-table.js';
import { keyHref, type KeyFilters } from '../routes.js';
import type { KeyDetails, KeyPage } from '../types.js';

// Every user's keys, for admins: by owner (GET /api/v1/admin/api-keys?user_id=, a page at a time)
// or one key by its key_id. Anyone else gets the API's 403, said plainly.

async function oneKey(keyId: string): Promise<KeyPage> {
  try {
    return { keys: [await request<KeyDetails>('GET', `/api/v1/admin/api-keys/${encodeURIComponent(keyId)}`)], next_cursor: null };
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { keys: [], next_cursor: null };
    throw error;
  }
}

export function adminKeysView(main: HTMLElement, filters: KeyFilters): void {
  const results = h('div');
  const pager = h('div', { class: 'pager' });
  main.replaceChildren(h('h1', { tabindex: -1 }, 'All keys'), filterForm('#/admin/keys', filters, { userId: 'User ID', keyId: 'or Key ID' }, 'Search'), results, pager);
  const caption = filters.keyId ? `The key ${filters.keyId}` : filters.userId ? `Keys of ${filters.userId}, newest first` : "Every user's keys, newest first";

  const loadPage = async (cursor: string | undefined, pageNumber: number) => {
    results.replaceChildren(loadingBox('keys'));
    pager.replaceChildren();
    try {
      const page = filters.keyId
        ? await oneKey(filters.keyId)
        : await request<KeyPage>('GET', `/api/v1/admin/api-keys${query({ user_id: filters.userId, cursor })}`);
      results.replaceChildren(
        page.keys.length === 0
          ? h('p', { class: 'empty' }, 'No key matches.')
          : keyTable(pageNumber > 1 ? `${caption} (page ${pageNumber})` : caption, page.keys, EVERY_KEY_COLUMNS, (key) => keyHref(key.key_id, true)),
      );
      const next = page.next_cursor;
      if (pageNumber > 1) pager.append(h('button', { type: 'button', on: { click: () => void loadPage(undefined, 1) } }, 'First page'));
      if (next !== null) pager.append(h('button', { type: 'button', on: { click: () => void loadPage(next, pageNumber + 1) } }, 'Next page'));
    } catch (error) {
      results.replaceChildren(failureBox(error, () => void loadPage(cursor, pageNumber)));
    }
  };
  void loadPage(undefined, 1);
}
