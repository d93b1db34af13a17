/**
 * Tiny assertions (JSR's @std/assert is not reachable from our machines).
 *
 * @module
 */

export { assert, assertEquals } from "./host.ts";

/**
 * Asserts that `fn` throws an instance of `type` whose message matches `pattern`.
 *
 * @returns The error.
 */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => E,
  pattern?: RegExp,
): E {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof type)) throw new Error(`expected ${type.name}, got ${err}`);
    if (pattern && !pattern.test(err.message)) {
      throw new Error(`message ${JSON.stringify(err.message)} does not match ${pattern}`);
    }
    return err;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}
