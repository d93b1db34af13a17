/**
 * Whether a drain is linear in the items drained, measured as a ratio, not
 * a threshold (the machine is shared and noisy): a small and a large count
 * timed side by side in interleaved rounds, the median ratio bounded well
 * above linear and well below what a cost per item proportional to the
 * queue's length (`Array.prototype.shift()` on an array in V8's
 * large-object space) gives.
 *
 * @module
 */

import { assert } from "./assert.ts";

/** The two counts: past ~16,000 elements an array is in V8's large-object space. */
export const SMALL = 8000;
/** See {@linkcode SMALL}. */
export const LARGE = 64_000;
/** Linear: 8x. Quadratic (shift on a large array): 60x to 1,000x, as measured. */
const MAX_RATIO = 32;
const ROUNDS = 5;

/**
 * Times `drain(SMALL)` and `drain(LARGE)` in interleaved rounds (the order
 * swapped each round); fails unless the median ratio is under 32x.
 *
 * @param what What drains (for the failure).
 * @param drain Drains `n` items; resolves with the milliseconds that took.
 */
export async function assertLinear(
  what: string,
  drain: (n: number) => Promise<number>,
): Promise<void> {
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round & 1 ? [LARGE, SMALL] : [SMALL, LARGE];
    const ms: Record<number, number> = {};
    for (const n of order) ms[n] = await drain(n);
    ratios.push(ms[LARGE] / Math.max(ms[SMALL], 0.05));
  }
  ratios.sort((a, b) => a - b);
  const median = ratios[ROUNDS >> 1];
  assert(
    median < MAX_RATIO,
    `${what}: ${LARGE} took ${median.toFixed(0)}x as long as ${SMALL} (bound ${MAX_RATIO}x; ` +
      `linear is ${LARGE / SMALL}x): taking one costs the queue's length`,
  );
}
