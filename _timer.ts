/**
 * A cheap one-shot timer for the library's own use.
 *
 * Deno 2.9's global `setTimeout` loads Node's timers module on first use,
 * about 10 ms that a plugin would pay during start-up or on its first call
 * with a deadline. `Atomics.waitAsync` with a timeout is V8's own timer:
 * it costs microseconds, can be cancelled, and, like an unref'd timer, does
 * not keep the process alive by itself (a plugin's listener does).
 *
 * @module
 */

/**
 * Calls `fn` once after `ms` milliseconds unless cancelled first.
 *
 * @param ms Delay in milliseconds (0 or less: on the next microtask).
 * @param fn What to call.
 * @returns Cancels the timer; calling it after `fn` ran does nothing.
 */
export function after(ms: number, fn: () => void): () => void {
  let live = true;
  if (!(ms > 0)) {
    queueMicrotask(() => live && fn());
    return () => (live = false);
  }
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const due = performance.now() + ms;
  const arm = (left: number) => {
    // Longer waits than 2^31-1 ms (24.8 days) go in steps.
    const wait = Atomics.waitAsync(cell, 0, 0, Math.min(left, 0x7fff_ffff));
    Promise.resolve(wait.value).then((outcome) => {
      if (!live || outcome !== "timed-out") return;
      const rest = due - performance.now();
      if (rest > 1) return arm(rest);
      live = false;
      fn();
    });
  };
  arm(ms);
  return () => {
    if (!live) return;
    live = false;
    Atomics.notify(cell, 0);
  };
}
