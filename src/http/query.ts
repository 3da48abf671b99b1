import { closedObject } from '../keys/key-settings.js';

/**
 * The query string's parameters, refusing any but `allowed` (422 naming it): a misspelt filter
 * must not widen a listing to everything. Fastify's parsed query is not a plain object, so it is
 * copied into one.
 */
export function closedQuery<Name extends string>(query: unknown, allowed: readonly Name[]): Partial<Record<Name, unknown>> {
  // Checked just above to hold no other name.
  return closedObject({ ...(query as object) }, [], allowed, 'the query string') as Partial<Record<Name, unknown>>;
}
