import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyMergePatch, isJsonObject } from '../src/merge-patch.js';

// RFC 7396, Appendix A: original, patch, result.
const APPENDIX_A: [string, string, string][] = [
  ['{"a":"b"}', '{"a":"c"}', '{"a":"c"}'],
  ['{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'],
  ['{"a":"b"}', '{"a":null}', '{}'],
  ['{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'],
  ['{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'],
  ['{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'],
  ['{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'],
  ['{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'],
  ['["a","b"]', '["c","d"]', '["c","d"]'],
  ['{"a":"b"}', '["c"]', '["c"]'],
  ['{"a":"foo"}', 'null', 'null'],
  ['{"a":"foo"}', '"bar"', '"bar"'],
  ['{"e":null}', '{"a":1}', '{"e":null,"a":1}'],
  ['[1,2]', '{"a":"b","c":null}', '{"a":"b"}'],
  ['{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'],
];

/** Freezes every object and array in `value`, so that any write to it throws. */
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item === 'object' && item !== null) {
      Object.freeze(item);
      pending.push(...Object.values(item));
    }
  }
  return value;
}

test('every example of RFC 7396 Appendix A gives its result, and changes neither input', () => {
  for (const [original, patch, expected] of APPENDIX_A) {
    const target = deepFreeze(JSON.parse(original));
    const result = applyMergePatch(target, deepFreeze(JSON.parse(patch)));
    assert.deepEqual(result, JSON.parse(expected), `${original} patched with ${patch}`);
    assert.equal(JSON.stringify(result), JSON.stringify(JSON.parse(expected)), 'members keep their order');
    assert.equal(JSON.stringify(target), JSON.stringify(JSON.parse(original)));
  }
});

test('the example of RFC 7396 section 3', () => {
  const target = {
    title: 'Goodbye!',
    author: { givenName: 'John', familyName: 'Doe' },
    tags: ['example', 'sample'],
    content: 'This will be unchanged',
  };
  const patch = { title: 'Hello!', phoneNumber: '+01-123-456-7890', author: { familyName: null }, tags: ['example'] };
  const before = structuredClone({ target, patch });
  assert.deepEqual(applyMergePatch(deepFreeze(target), deepFreeze(patch)), {
    title: 'Hello!',
    author: { givenName: 'John' },
    tags: ['example'],
    content: 'This will be unchanged',
    phoneNumber: '+01-123-456-7890',
  });
  assert.deepEqual({ target, patch }, before);
});

test('the result is a new object even when the patch changes nothing', () => {
  const target = { a: { b: 1 } };
  const result = applyMergePatch(target, {}) as typeof target;
  assert.notEqual(result, target);
  assert.deepEqual(result, target);
  assert.deepEqual(applyMergePatch('not an object', {}), {});
  assert.deepEqual(applyMergePatch(null, { a: null }), {});
});

test('a "__proto__" member of a patch becomes a member, never the prototype', () => {
  const result = applyMergePatch({}, JSON.parse('{"__proto__":{"polluted":true},"a":1}')) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(result), Object.prototype);
  assert.ok(Object.hasOwn(result, '__proto__'));
  assert.equal(result.polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(JSON.stringify(result), '{"__proto__":{"polluted":true},"a":1}');

  // Merged into a "__proto__" member of the target, and removed by null like any member.
  const target = JSON.parse('{"__proto__":{"a":1}}');
  assert.equal(JSON.stringify(applyMergePatch(target, JSON.parse('{"__proto__":{"b":2}}'))), '{"__proto__":{"a":1,"b":2}}');
  assert.equal(JSON.stringify(applyMergePatch(target, JSON.parse('{"__proto__":"x"}'))), '{"__proto__":"x"}');
  const removed = applyMergePatch(target, JSON.parse('{"__proto__":null}')) as object;
  assert.equal(JSON.stringify(removed), '{}');
  assert.equal(Object.getPrototypeOf(removed), Object.prototype);
  assert.equal(JSON.stringify(target), '{"__proto__":{"a":1}}');
});

test('"constructor" and "prototype" members are data too, and Object.prototype is untouched', () => {
  const patch = JSON.parse('{"constructor":{"prototype":{"polluted":true}},"toString":"x"}');
  const result = applyMergePatch({}, patch) as Record<string, unknown>;
  assert.deepEqual(Object.keys(result), ['constructor', 'toString']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(typeof Object.prototype.toString, 'function');
  // A null for a member the target does not have leaves the inherited one alone.
  const cleared = applyMergePatch({}, { constructor: null, hasOwnProperty: null }) as object;
  assert.deepEqual(Object.keys(cleared), []);
  assert.equal(typeof Object.prototype.hasOwnProperty, 'function');
});

test('only own enumerable members of the target are kept', () => {
  const target = Object.create({ inherited: 1 }) as Record<string, unknown>;
  target.own = 2;
  Object.defineProperty(target, 'hidden', { value: 3, enumerable: false });
  // Not a plain object (its prototype is another object): merged into as {} would be.
  assert.deepEqual(applyMergePatch(target, { b: 1 }), { b: 1 });
  const plain = { own: 2 };
  Object.defineProperty(plain, 'hidden', { value: 3, enumerable: false });
  assert.deepEqual(applyMergePatch(plain, { b: 1 }), { own: 2, b: 1 });
});

test('a patch nested 100,000 levels deep merges without overflowing the stack', () => {
  const depth = 100_000;
  const patch = JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
  let level: unknown = applyMergePatch({ keep: true }, patch);
  assert.equal((level as Record<string, unknown>).keep, true);
  for (let walked = 0; walked < depth; walked++) level = (level as Record<string, unknown>).a;
  assert.equal(level, 1);
});

test('isJsonObject: plain objects only', () => {
  assert.equal(isJsonObject({}), true);
  assert.equal(isJsonObject(JSON.parse('{"a":1}')), true);
  assert.equal(isJsonObject(Object.create(null)), true);
  assert.equal(isJsonObject(JSON.parse('{"__proto__":[]}')), true);
  for (const value of [null, undefined, [], 'text', 1, true, new Date(), new Map(), new (class Thing {})()]) {
    assert.equal(isJsonObject(value), false, String(value));
  }
});
