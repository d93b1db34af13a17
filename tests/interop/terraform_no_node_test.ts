/**
 * The example Terraform provider starts without Deno's Node layer: launched
 * by our host (`launch()`, Terraform's cookie, protocol 6, with AutoMTLS and
 * without) from source behind tests/fixtures/node_trap.ts, it answers a ping
 * and stops, and nothing touched `globalThis.process` on the way. Importing
 * `@msgpack/msgpack` by its package name would load its CommonJS build
 * (the package has no "exports", so Deno takes "main"), and loading CommonJS
 * boots the Node layer: ~20 ms more on every launch of the launcher form
 * (bench/README.md, "Start-up", eighth round).
 *
 * @module
 */

import { launch } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { TF_MAGIC_COOKIE } from "../_util/peers.ts";
import { assert, withTempDir } from "../_util/host.ts";

for (const autoMtls of [false, true]) {
  Deno.test(`terraform provider from source, ${autoMtls ? "AutoMTLS" : "plain"}: the Node layer never loaded`, async () => {
    await withTempDir(async (dir) => {
      const plugin = await launch({
        cmd: [DENO, "run", ...pluginFlags([dir]), `${ROOT}tests/fixtures/no_node_provider.ts`],
        cwd: dir,
        env: { TMPDIR: dir },
        unixSocket: { dir },
        handshake: { magicCookieKey: TF_MAGIC_COOKIE.key, magicCookieValue: TF_MAGIC_COOKIE.value },
        versions: [6],
        autoMtls,
        logger: createLogger({ level: "off", write: () => {} }),
      });
      try {
        await plugin.ping();
      } finally {
        await plugin.kill();
      }
      const trap = Deno.readTextFileSync(`${dir}/node-trap.txt`);
      assert(trap === "untouched", `the Node layer was touched:\n${trap}`);
    });
  });
}
