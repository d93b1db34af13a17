/**
 * The fuzz harness's watchdog (a worker, see `fuzz.ts`): the test thread
 * bumps a heartbeat in shared memory at each case and copies the input
 * there; if the heartbeat stands still for `hangMs`, the case is hung
 * (nothing on the test thread can say so), and this prints the seed, the
 * case and its input, then kills the process.
 *
 * Shared layout (Int32 words): 0 heartbeat, 1 stop, 2 case index,
 * 3 input length, 4 bytes of it copied; the input from byte 32.
 *
 * @module
 */

/// <reference lib="deno.worker" />

interface Start {
  sab: SharedArrayBuffer;
  target: string;
  seed: number;
  hangMs: number;
}

self.onmessage = (e: MessageEvent<Start>) => {
  const { sab, target, seed, hangMs } = e.data;
  const ctrl = new Int32Array(sab, 0, 8);
  let beat = Atomics.load(ctrl, 0);
  let since = Date.now();
  while (Atomics.load(ctrl, 1) === 0) {
    Atomics.wait(ctrl, 1, 0, 200);
    const now = Date.now(), b = Atomics.load(ctrl, 0);
    if (b !== beat) {
      beat = b;
      since = now;
      continue;
    }
    if (now - since < hangMs || Atomics.load(ctrl, 1) !== 0) continue;
    const index = Atomics.load(ctrl, 2);
    const total = Atomics.load(ctrl, 3), copied = Atomics.load(ctrl, 4);
    const input = new Uint8Array(sab, 32, copied);
    const hex = Array.from(input, (x) => x.toString(16).padStart(2, "0")).join("");
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `\nfuzz ${target}: seed ${seed}, case ${index} has not finished after ${hangMs} ms: ` +
          `hung (replay: RPCPLUGIN_FUZZ_SEED=${seed} RPCPLUGIN_FUZZ_CASE=${index})\n` +
          `input (${total} bytes${copied < total ? `, first ${copied}` : ""}): ${hex}\n`,
      ),
    );
    try {
      Deno.kill(Deno.pid, "SIGKILL");
    } catch {
      Deno.exit(1); // no --allow-run: at least stop watching
    }
  }
  self.close();
};
