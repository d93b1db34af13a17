/**
 * A small harness for seeded, bounded fuzz tests.
 *
 * Each case gets its own {@linkcode Prng}, derived from the seed, the
 * target's name and the case's index, so a failing case replays alone:
 * `RPCPLUGIN_FUZZ_SEED=<seed> RPCPLUGIN_FUZZ_CASE=<index>`.
 * `RPCPLUGIN_FUZZ_ITERATIONS` sets the number of cases per target.
 *
 * A case that throws, or takes longer than its limit (1 s by default), fails
 * the test with the seed, the case and the input it was on, in hex. A case
 * that never returns (a synchronous endless loop cannot be interrupted) is
 * caught by a watchdog worker: after {@linkcode HANG_MS} without progress it
 * prints the same and kills the process, so that a hang is a failure with
 * its input rather than a stuck CI job.
 *
 * @module
 */

import { hashString, mixSeed, Prng } from "./prng.ts";

const DEFAULT_SEED = 20261201;
const DEFAULT_ITERATIONS = 1000;
/** A case running this long is hung: the watchdog reports it and kills the process. */
export const HANG_MS = 10_000;
/** Bytes of the current input the watchdog can print. */
const WATCHED_INPUT_BYTES = 64 << 10;

function envInt(name: string): number | undefined {
  let raw: string | undefined;
  try {
    raw = Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: the defaults
  }
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** The seed of every fuzz target: `RPCPLUGIN_FUZZ_SEED`, or a fixed default. */
export const FUZZ_SEED: number = (envInt("RPCPLUGIN_FUZZ_SEED") ?? DEFAULT_SEED) >>> 0;
/** Cases per target: `RPCPLUGIN_FUZZ_ITERATIONS`, or a default that runs in a few seconds. */
export const FUZZ_ITERATIONS: number = envInt("RPCPLUGIN_FUZZ_ITERATIONS") ?? DEFAULT_ITERATIONS;
/** Only this case (`RPCPLUGIN_FUZZ_CASE`), to replay a failure. */
const FUZZ_CASE: number | undefined = envInt("RPCPLUGIN_FUZZ_CASE");

/** Bytes as hex, cut after `max` bytes. */
export function toHex(bytes: Uint8Array, max = 4096): string {
  const shown = bytes.length > max ? bytes.subarray(0, max) : bytes;
  const hex = Array.from(shown, (b) => b.toString(16).padStart(2, "0")).join("");
  return bytes.length > max ? `${hex}... (${bytes.length} bytes)` : hex;
}

/** One case of a fuzz target. */
export interface FuzzCase {
  /** The case's index. */
  readonly index: number;
  /** The case's own generator. */
  readonly rand: Prng;
  /** Records the input being tried, for the failure report (and the watchdog). */
  input(bytes: Uint8Array, what?: string): void;
  /** Settles as `p` does, or rejects if it has not within `ms`. */
  within<T>(p: Promise<T>, ms: number, what: string): Promise<T>;
}

class Watchdog {
  readonly #ctrl: Int32Array;
  readonly #input: Uint8Array;
  readonly #worker: Worker;

  constructor(target: string, seed: number) {
    const sab = new SharedArrayBuffer(32 + WATCHED_INPUT_BYTES);
    this.#ctrl = new Int32Array(sab, 0, 8);
    this.#input = new Uint8Array(sab, 32);
    this.#worker = new Worker(new URL("./fuzz_watchdog.ts", import.meta.url), { type: "module" });
    this.#worker.postMessage({ sab, target, seed, hangMs: HANG_MS });
  }

  beat(index: number): void {
    Atomics.store(this.#ctrl, 2, index);
    Atomics.store(this.#ctrl, 3, 0);
    Atomics.add(this.#ctrl, 0, 1);
  }

  input(bytes: Uint8Array): void {
    const n = Math.min(bytes.length, WATCHED_INPUT_BYTES);
    this.#input.set(bytes.subarray(0, n));
    Atomics.store(this.#ctrl, 4, n);
    Atomics.store(this.#ctrl, 3, bytes.length);
  }

  stop(): void {
    Atomics.store(this.#ctrl, 1, 1);
    Atomics.notify(this.#ctrl, 1);
    this.#worker.terminate();
  }
}

/**
 * Runs `body` on {@linkcode FUZZ_ITERATIONS} cases of `target` (or only
 * `RPCPLUGIN_FUZZ_CASE`); prints the seed first and the time taken last.
 *
 * @returns How many cases ran.
 */
export async function fuzz(
  target: string,
  body: (c: FuzzCase) => void | Promise<void>,
  { caseLimitMs = 10_000, iterations = FUZZ_ITERATIONS }: {
    caseLimitMs?: number;
    iterations?: number;
  } = {},
): Promise<number> {
  const seed = FUZZ_SEED;
  const first = FUZZ_CASE ?? 0, end = FUZZ_CASE === undefined ? iterations : FUZZ_CASE + 1;
  console.log(
    `fuzz ${target}: seed ${seed} (RPCPLUGIN_FUZZ_SEED), cases ${first}-${end - 1}`,
  );
  const watchdog = new Watchdog(target, seed);
  const started = performance.now();
  try {
    for (let index = first; index < end; index++) {
      watchdog.beat(index);
      let current: Uint8Array = new Uint8Array(0), what = "input";
      const c: FuzzCase = {
        index,
        rand: new Prng(mixSeed(seed, hashString(target), index)),
        input(bytes, label = "input") {
          current = bytes;
          what = label;
          watchdog.input(bytes);
        },
        within: (p, ms, label) => within(p, ms, label),
      };
      const report = (problem: string) =>
        `fuzz ${target}: seed ${seed}, case ${index} ` +
        `(replay: RPCPLUGIN_FUZZ_SEED=${seed} RPCPLUGIN_FUZZ_CASE=${index}): ${problem}\n` +
        `${what} (${current.length} bytes): ${toHex(current, WATCHED_INPUT_BYTES)}`;
      const t0 = performance.now();
      try {
        await body(c);
      } catch (err) {
        throw new Error(report(err instanceof Error ? err.stack ?? err.message : String(err)), {
          cause: err,
        });
      }
      const took = performance.now() - t0;
      if (took > caseLimitMs) {
        throw new Error(report(`took ${took.toFixed(0)} ms, more than ${caseLimitMs} ms`));
      }
    }
  } finally {
    watchdog.stop();
  }
  const ms = performance.now() - started;
  console.log(`fuzz ${target}: ${end - first} cases in ${ms.toFixed(0)} ms`);
  return end - first;
}

/** `p`, or a rejection after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
