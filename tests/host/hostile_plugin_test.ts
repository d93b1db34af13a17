/**
 * `launch()` against plugins that misbehave on the connection itself
 * (tests/fixtures/hostile_plugin.ts speaks raw HTTP/2): whatever they do,
 * a call ends (none waits forever), and kill() leaves no process and no
 * socket directory behind.
 *
 * @module
 */

import { launch, type PluginClient } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { assert, assertEquals, waitNoProcesses, withTempDir } from "../_util/host.ts";

const HOSTILE = new URL("../fixtures/hostile_plugin.ts", import.meta.url).pathname;
const quiet = createLogger({ level: "off" });

/**
 * Launches the hostile plugin in `mode`, with TMPDIR (where launch() makes
 * the socket directory) in `dir`, runs `fn`, kills it, and checks that
 * nothing is left.
 */
async function withHostile(
  dir: string,
  mode: string,
  startTimeoutMs: number,
  fn: (plugin: PluginClient) => Promise<void>,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ dir, prefix: "tmpdir-" });
  const outer = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", tmp);
  let plugin: PluginClient;
  try {
    plugin = await launch({
      cmd: [Deno.execPath(), "run", "-A", HOSTILE, `--mode=${mode}`, `--marker=${dir}`],
      handshake: { magicCookieKey: "HOSTILE", magicCookieValue: "yes" },
      autoMtls: false,
      startTimeoutMs,
      logger: quiet,
    });
  } finally {
    if (outer === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", outer);
  }
  try {
    await fn(plugin);
  } finally {
    await plugin.kill();
  }
  assertEquals(await waitNoProcesses(dir), [], "a plugin process was left behind");
  assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name), [], "a socket directory was left");
}

Deno.test("launch(): a plugin that accepts and never sends SETTINGS fails calls with UNAVAILABLE within the start timeout", async () => {
  await withTempDir(async (dir) => {
    await withHostile(dir, "silent", 3000, async (plugin) => {
      // A deadline well past the start timeout (so that the test ends without the fix):
      // before, a call waited for its own deadline, and for ever without one.
      const err = await plugin.ping({ timeoutMs: 8000 }).then(() => null, (e) => e);
      assert(err instanceof RpcError, `expected an RpcError, got ${err}`);
      assertEquals(err.code, Status.UNAVAILABLE, err.message);
      assert(err.message.includes("no SETTINGS frame within 3000 ms"), err.message);
    });
  });
});
