/**
 * A cheap one-shot timer for the library's own use.
 *
 * Deno 2.9's global `setTimeout` loads Node's timers module on first use,
 * about 10 ms that a plugin would pay during start-up or on its first call
 * with a deadline. `Atomics.waitAsync` with a timeout is V8's own timer: it
 * costs microseconds and, like an unref'd timer, does not keep the process
 * alive by itself (a plugin's listener does).
 *
 * Every timer shares one queue (a binary heap by due time) and one armed
 * wait for the earliest: a call's deadline costs a heap insertion, and
 * cancelling it only marks it dead. Dead entries are dropped when they come
 * to the top, or all at once when they outnumber the live ones.
 *
 * @module
 */

interface Entry {
  due: number;
  fn: (() => void) | null;
}

/** Longest single wait: 2^31-1 ms (24.8 days); longer ones go in steps. */
const MAX_WAIT_MS = 0x7fff_ffff;

const heap: Entry[] = [];
let dead = 0;
/** The cell of the armed wait and its due time (Infinity: none armed). */
let armedCell: Int32Array | null = null;
let armedDue = Infinity;

function less(a: Entry, b: Entry): boolean {
  return a.due < b.due;
}

function push(e: Entry): void {
  heap.push(e);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!less(heap[i], heap[parent])) break;
    [heap[i], heap[parent]] = [heap[parent], heap[i]];
    i = parent;
  }
}

function pop(): Entry {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length) {
    heap[0] = last;
    let i = 0;
    while (true) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
  return top;
}

/** Drops every dead entry and rebuilds the heap. */
function compact(): void {
  const live = heap.filter((e) => e.fn !== null);
  heap.length = 0;
  dead = 0;
  for (const e of live) push(e);
}

/** Runs what is due, then arms one wait for the earliest left. */
function run(): void {
  const now = performance.now();
  while (heap.length && (heap[0].fn === null || heap[0].due - now <= 1)) {
    const e = pop();
    const fn = e.fn;
    if (fn === null) {
      dead--;
      continue;
    }
    e.fn = null;
    try {
      fn();
    } catch (err) {
      reportError(err);
    }
  }
  arm();
}

function arm(): void {
  while (heap.length && heap[0].fn === null) {
    pop();
    dead--;
  }
  if (!heap.length) {
    armedDue = Infinity;
    return;
  }
  const due = heap[0].due;
  if (armedCell && armedDue <= due) return; // the armed wait comes first anyway
  if (armedCell) Atomics.notify(armedCell, 0); // an earlier one is needed: replace it
  const cell = new Int32Array(new SharedArrayBuffer(4));
  armedCell = cell;
  armedDue = due;
  const wait = Atomics.waitAsync(
    cell,
    0,
    0,
    Math.min(Math.max(0, due - performance.now()), MAX_WAIT_MS),
  );
  Promise.resolve(wait.value).then((outcome) => {
    if (armedCell !== cell) return; // replaced
    armedCell = null;
    armedDue = Infinity;
    if (outcome === "timed-out") run();
    else arm();
  });
}

/**
 * Calls `fn` once after `ms` milliseconds unless cancelled first.
 *
 * @param ms Delay in milliseconds (0 or less: on the next microtask).
 * @param fn What to call.
 * @param now `performance.now()` as the caller just read it (saves a second clock read).
 * @returns Cancels the timer; calling it after `fn` ran does nothing.
 */
export function after(ms: number, fn: () => void, now?: number): () => void {
  if (!(ms > 0)) {
    let live = true;
    queueMicrotask(() => live && fn());
    return () => (live = false);
  }
  const entry: Entry = { due: (now ?? performance.now()) + ms, fn };
  push(entry);
  if (entry.due < armedDue) arm();
  return () => {
    if (entry.fn === null) return;
    entry.fn = null;
    dead++;
    if (dead > 1024 && dead > heap.length / 2) compact();
  };
}

/**
 * How many timers are pending (not yet run, not cancelled): for tests that
 * check a finished call left none behind.
 */
export function liveTimers(): number {
  return heap.length - dead;
}

/**
 * Whether `promise` settles within `ms` milliseconds (a rejection counts as
 * settling; it is not thrown).
 *
 * @param promise What is waited for.
 * @param ms How long at most.
 * @returns `true` if it settled in time.
 */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let wake!: () => void;
  const timeout = new Promise<void>((resolve) => (wake = resolve));
  let timedOut = false;
  const cancel = after(ms, () => {
    timedOut = true;
    wake();
  });
  await Promise.race([promise.catch(() => {}), timeout]);
  cancel();
  return !timedOut;
}
