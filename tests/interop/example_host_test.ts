/**
 * go-plugin's own example host (examples/grpc, built from the Go module
 * proxy) launches the Deno KV example plugin.
 */

import { buildGo } from "../_util/go.ts";
import { denoRunLine } from "../_util/plugin.ts";
import {
  assert,
  assertEquals,
  run,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";

async function putGet(dir: string, env: Record<string, string>) {
  const kv = await buildGo("kv");
  const base = { KV_PROTO: "grpc", KV_PLUGIN: denoRunLine("examples/kv/plugin.ts", [dir]), ...env };
  const put = await run(kv, ["put", "hello", "world"], { cwd: dir, env: base });
  assertEquals(put.code, 0, `put failed:\n${put.stdout}\n${put.stderr}`);
  const get = await run(kv, ["get", "hello"], { cwd: dir, env: base });
  assertEquals(get.code, 0, `get failed:\n${get.stdout}\n${get.stderr}`);
  assertEquals(get.stdout, "world\n\nWritten from plugin-deno\n");
  for (const r of [put, get]) {
    assert(!r.stderr.includes("plugin failed to exit gracefully"), `ungraceful exit:\n${r.stderr}`);
    assert(r.stderr.includes("using plugin: version=1"), `no version line:\n${r.stderr}`);
    assert(/plugin process exited: .*id=\d+/.test(r.stderr), `no exit line:\n${r.stderr}`);
    assert(!r.stderr.includes("stdio service not available"), `stdio missing:\n${r.stderr}`);
  }
  assertEquals(await waitNoProcesses(dir), [], "plugin processes left behind");
  assertEquals(socketFiles(dir), [], "socket files left behind");
}

Deno.test("example host: kv put then get, socket in TMPDIR", async () => {
  await withTempDir((dir) => putGet(dir, { TMPDIR: dir }));
});

Deno.test("example host: kv put then get, socket in PLUGIN_UNIX_SOCKET_DIR", async () => {
  await withTempDir(async (dir) => {
    const sockets = `${dir}/sockets`;
    await Deno.mkdir(sockets);
    await putGet(dir, { PLUGIN_UNIX_SOCKET_DIR: sockets });
    assertEquals(socketFiles(sockets), [], "socket files left behind");
  });
});

Deno.test("example host: get of a missing key is a clean error, plugin still exits gracefully", async () => {
  await withTempDir(async (dir) => {
    const kv = await buildGo("kv");
    const env = {
      KV_PROTO: "grpc",
      KV_PLUGIN: denoRunLine("examples/kv/plugin.ts", [dir]),
      TMPDIR: dir,
    };
    const get = await run(kv, ["get", "nothing"], { cwd: dir, env });
    assertEquals(get.code, 1);
    assert(
      get.stdout.includes("NotFound") && get.stdout.includes('no value stored for key "nothing"'),
      get.stdout,
    );
    assert(!get.stderr.includes("plugin failed to exit gracefully"), get.stderr);
    assertEquals(await waitNoProcesses(dir), []);
  });
});
