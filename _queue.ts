/**
 * A first-in, first-out queue taken from by index, for queues a peer can
 * make long (an HTTP/2 stream's body pieces, a call's received messages).
 * `Array.prototype.shift()` costs the array's length once the array is in
 * V8's large-object space (from about 16,000 elements: 6 µs per item at
 * 100,000 items, against 48 ns at 10,000), so a peer sending many tiny
 * messages could make draining them quadratic. Here an item taken lets its
 * slot go at once (nothing kept alive), and the array is compacted when at
 * least half of it has been taken: linear in all.
 *
 * @module
 */

/** Items taken off the front before the array is compacted (small queues never are). */
const COMPACT_AT = 1024;

/**
 * A first-in, first-out queue: `push()` at the back, `shift()` at the front,
 * each in constant amortized time however long the queue grows.
 *
 * @example
 * ```ts
 * import { Queue } from "./_queue.ts";
 *
 * const q = new Queue<string>();
 * q.push("a");
 * q.push("b");
 * console.log(q.shift(), q.length); // "a" 1
 * ```
 */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  /** Where the first item not yet taken is in `#items`. */
  #head = 0;

  /** The items not yet taken. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds `item` at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The first item, left in the queue (`undefined` when it is empty). */
  first(): T | undefined {
    return this.#items[this.#head];
  }

  /** Puts `item` in the first item's place (a queue that is not empty). */
  replaceFirst(item: T): void {
    this.#items[this.#head] = item;
  }

  /** Takes the first item off the queue (`undefined` when it is empty). */
  shift(): T | undefined {
    const items = this.#items;
    if (this.#head === items.length) return undefined;
    const item = items[this.#head];
    items[this.#head++] = undefined;
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= COMPACT_AT && 2 * this.#head >= items.length) {
      items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Empties the queue. */
  clear(): void {
    if (this.#items.length === 0) return;
    this.#items = [];
    this.#head = 0;
  }
}
