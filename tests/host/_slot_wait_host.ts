/**
 * Child process of slot_wait_test.ts (run with `--v8-flags=--expose-gc`, so
 * that its heap is its own and can be collected on demand): launches the
 * hostile plugin with SETTINGS_MAX_CONCURRENT_STREAMS 2, which launch()'s
 * stdio and broker streams fill, so every call waits for a stream slot; makes
 * `N` calls that give up at their deadline while waiting, each with a signal
 * watched by a FinalizationRegistry, then collects garbage and prints, as
 * JSON, how many of the calls' signals were collected and how they failed.
 *
 * @module
 */

import { launch } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { READY } from "../fixtures/hostile_plugin.ts";

const N = Number(Deno.args[0] ?? 100);
const gc = (globalThis as unknown as { gc: () => void }).gc;

const ready = Promise.withResolvers<void>();
const plugin = await launch({
  cmd: [
    Deno.execPath(),
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-net",
    new URL("../fixtures/hostile_plugin.ts", import.meta.url).pathname,
    "--mode=max-streams=2",
  ],
  handshake: { magicCookieKey: "HOSTILE", magicCookieValue: "yes" },
  autoMtls: false,
  logger: createLogger({
    level: "debug",
    write: (line) => {
      if (line.includes(READY)) ready.resolve();
    },
  }),
});
await ready.promise;

let collected = 0;
const registry = new FinalizationRegistry<void>(() => collected++);
const codes = new Set<number>();
const calls: Promise<void>[] = [];
for (let i = 0; i < N; i++) {
  const signal = new AbortController().signal;
  registry.register(signal, undefined);
  calls.push(
    plugin.ping({ timeoutMs: 5, signal }).then(
      () => void codes.add(Status.OK),
      (err) => void codes.add(err instanceof RpcError ? err.code : -1),
    ),
  );
}
await Promise.all(calls);
calls.length = 0;
// Finalizers run after a collection, in a later task: a bounded number of rounds.
for (let round = 0; round < 50 && collected < N; round++) {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await plugin.kill();
console.log(JSON.stringify({ collected, total: N, codes: [...codes] }));
