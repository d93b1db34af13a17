/**
 * Compile-readiness: `deno bundle` makes one file of the KV example plugin
 * (no dynamic imports, nothing read from disk at run time), which runs by a
 * shebang line from a directory without the repository or node_modules, under
 * go-plugin's own example host. `deno compile` needs a runtime download that
 * our machines cannot make; this is its stand-in.
 */

import { buildGo } from "../_util/go.ts";
import { bundleKvPlugin } from "../_util/plugin.ts";
import {
  assert,
  assertEquals,
  run,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";

Deno.test("bundled plugin (one file, shebang line) under go-plugin's example host", async () => {
  await withTempDir(async (dir) => {
    const { exe, js } = await bundleKvPlugin(dir, [dir]);
    assert(!/\bimport\(/.test(js), "the bundle has a dynamic import");
    const work = `${dir}/work`;
    await Deno.mkdir(work);
    const kv = await buildGo("kv");
    const env = { KV_PROTO: "grpc", KV_PLUGIN: exe, TMPDIR: dir };
    const put = await run(kv, ["put", "b", "bundled"], { cwd: work, env });
    assertEquals(put.code, 0, `${put.stdout}\n${put.stderr}`);
    const get = await run(kv, ["get", "b"], { cwd: work, env });
    assertEquals(get.stdout, "bundled\n\nWritten from plugin-deno\n", get.stderr);
    for (const r of [put, get]) {
      assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    }
    assertEquals(await waitNoProcesses(exe), []);
    assertEquals(socketFiles(dir), []);
  });
});
