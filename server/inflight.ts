/**
 * Counts the plugin's own calls in flight, so that a Shutdown from the host
 * can let them finish before it answers (the host closes the connection, and
 * so cancels its calls, as soon as Shutdown returns).
 *
 * @module
 */

import { after } from "../_timer.ts";
import { mapHandlers, type ServiceImplementation } from "../rpc/service.ts";

/** A counter of calls in flight that can be waited on. */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  /** Calls in flight now. */
  get count(): number {
    return this.#count;
  }

  /** Marks a call as started; the returned function marks it done (once). */
  enter(): () => void {
    this.#count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#leave();
    };
  }

  /** One call is done. */
  #leave(): void {
    if (--this.#count === 0) { for (const w of this.#waiters.splice(0)) w(); }
  }

  /**
   * Runs a unary or client-streaming handler counted until its answer
   * settles, without an async frame or a closure per call: a value or a
   * synchronous throw ends the count at once (a throw comes back as a
   * rejected promise, as from an async wrapper), a thenable when it settles.
   */
  #countCall(fn: (...args: unknown[]) => unknown, req: unknown, call: unknown): unknown {
    this.#count++;
    let result: unknown;
    try {
      result = fn(req, call);
    } catch (err) {
      this.#leave();
      return Promise.reject(err);
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then !== "function") {
      this.#leave();
      return result;
    }
    return Promise.resolve(result).then(this.#settledValue, this.#settledError);
  }

  #settledValue = (value: unknown): unknown => {
    this.#leave();
    return value;
  };

  #settledError = (err: unknown): never => {
    this.#leave();
    throw err;
  };

  /**
   * Waits until no call is in flight, or `ms` have passed.
   *
   * @returns Whether the calls finished in time.
   */
  idle(ms: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = () => {
        cancel();
        resolve(true);
      };
      const cancel = after(ms, () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Wraps a service so each of its calls is counted until its handler ends
   * (for streams: until the response stream ends).
   *
   * @param service The service to count.
   * @returns The same service, counted.
   */
  track(service: ServiceImplementation): ServiceImplementation {
    return mapHandlers(
      service,
      (fn, method) =>
        method.kind === "serverStream" || method.kind === "bidiStream"
          ? (...args: unknown[]) => this.#countStream(fn(...args) as AsyncIterable<unknown>)
          : (req: unknown, call: unknown) => this.#countCall(fn, req, call),
    );
  }

  async *#countStream(out: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<unknown> {
    const leave = this.enter();
    try {
      yield* out;
    } finally {
      leave();
    }
  }
}
