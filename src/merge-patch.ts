// RFC 7396 JSON Merge Patch: how a PATCH changes a JSON document. A patch member set to null
// removes that member, an object merges into the member it names, anything else (an array too)
// replaces it whole.
//
// Written as a loop, not a recursion: a hostile patch may nest a hundred thousand levels deep, and
// merging it must not overflow the stack. Refusing what is too deep is the job of whoever
// validates the result.

/** A JSON object: not null, not an array, and plain (no class instance such as a Date). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

interface PendingMerge {
  /** A fresh object of the result, already in its place there. */
  into: Record<string, unknown>;
  patch: Record<string, unknown>;
}

/**
 * `target` with `patch` applied, as RFC 7396 says. Neither input is changed; members of `target`
 * that the patch does not reach, and arrays and values taken from `patch`, are shared with the
 * result rather than copied.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch;
  const result = ownMembers(target);
  const pending: PendingMerge[] = [{ into: result, patch }];
  for (let merge = pending.pop(); merge !== undefined; merge = pending.pop()) {
    const { into } = merge;
    for (const [key, value] of Object.entries(merge.patch)) {
      if (value === null) {
        delete into[key];
      } else if (isJsonObject(value)) {
        const member = ownMembers(Object.hasOwn(into, key) ? into[key] : undefined);
        setMember(into, key, member);
        pending.push({ into: member, patch: value });
      } else {
        setMember(into, key, value);
      }
    }
  }
  return result;
}

/** A new object with the own members of `value`, or an empty one when `value` is no object (RFC 7396 merges into {} then). */
function ownMembers(value: unknown): Record<string, unknown> {
  // Object.fromEntries defines its members: a "__proto__" member stays a member, not the prototype.
  return isJsonObject(value) ? Object.fromEntries(Object.entries(value)) : {};
}

/** Sets a member as data, never through a setter: `object.__proto__ = x` would change the prototype instead. */
function setMember(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}
