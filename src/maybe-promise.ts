/** A value that may already be there, or may still be coming. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * `next(value)`: at once when `value` is already there, once it arrives when it is a promise.
 * The hot path (a warm key) then runs start to answer in one tick, with no promise to settle.
 * Native promises only (what async functions return): any other thenable counts as a value.
 */
export function andThen<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
