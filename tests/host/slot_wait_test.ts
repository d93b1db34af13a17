/**
 * A host call that gives up while it waits for a stream slot (the plugin's
 * SETTINGS_MAX_CONCURRENT_STREAMS reached) leaves nothing behind in the
 * connection: before, each one's wake-up stayed in the connection's list of
 * slot waiters, holding the whole call (its options, its request), until a
 * slot freed, which a plugin that never answers never does.
 *
 * The calls are made by a child Deno (`_slot_wait_host.ts`, with
 * `--expose-gc`) through `launch()` against the hostile plugin; it counts
 * the calls' signals a FinalizationRegistry saw collected.
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { Status } from "../../rpc/status.ts";

const N = 100;

Deno.test("launch(): calls past their deadline while waiting for a stream slot are not retained", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      new URL("./_slot_wait_host.ts", import.meta.url).pathname,
      String(N),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, `the host script failed:\n${stderr}`);
  const { collected, total, codes } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    collected: number;
    total: number;
    codes: number[];
  };
  assertEquals(codes, [Status.DEADLINE_EXCEEDED], "every call fails at its deadline");
  // A few may still be referenced from the last turns' frames; before the fix none was collected.
  assert(
    collected >= total * 0.9,
    `only ${collected} of ${total} calls that gave up waiting for a stream slot were collected: ` +
      "the connection keeps their slot waiters",
  );
});
