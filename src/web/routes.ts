// The dashboard's addresses: hash routes (#/keys/abc), so that the server serves one page and
// a reload or a bookmark lands where it was. Only key_ids and filters are ever in them, never a key.

/** What the admin pages search by: an owner, or one key. */
export interface KeyFilters {
  userId?: string;
  keyId?: string;
}

export type Route =
  | { page: 'signin'; error?: string }
  | { page: 'keys' }
  | { page: 'create' }
  | { page: 'key'; keyId: string; admin: boolean }
  | ({ page: 'admin-keys' } & KeyFilters)
  | ({ page: 'audit' } & KeyFilters)
  | { page: 'not-found' };

export function routeOf(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?');
  const parameters = new URLSearchParams(search);
  const filter = (name: string) => parameters.get(name) || undefined;
  const parts = path.split('/').filter((part) => part !== '').map(decodeURIComponent);
  const [first, second, third] = parts;
  if (parts.length === 0 || (first === 'keys' && parts.length === 1)) return { page: 'keys' };
  if (first === 'signin' && parts.length === 1) return { page: 'signin', error: filter('error') };
  if (first === 'keys' && second === 'new' && parts.length === 2) return { page: 'create' };
  if (first === 'keys' && second !== undefined && parts.length === 2) return { page: 'key', keyId: second, admin: false };
  if (first === 'admin' && second === 'keys' && parts.length === 2) return { page: 'admin-keys', userId: filter('user_id'), keyId: filter('key_id') };
  if (first === 'admin' && second === 'keys' && third !== undefined && parts.length === 3) return { page: 'key', keyId: third, admin: true };
  if (first === 'admin' && second === 'audit' && parts.length === 2) return { page: 'audit', userId: filter('user_id'), keyId: filter('key_id') };
  return { page: 'not-found' };
}

export function keyHref(keyId: string, admin: boolean): string {
  return `${admin ? '#/admin/keys/' : '#/keys/'}${encodeURIComponent(keyId)}`;
}

/** A route with filters, as #/admin/keys?user_id=alice. */
export function filteredHref(path: string, filters: Record<string, string>): string {
  const search = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== '')).toString();
  return search === '' ? path : `${path}?${search}`;
}
