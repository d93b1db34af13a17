/**
 * AutoMTLS under go-plugin v1.8's Go host on our own TLS 1.3 server only:
 * the plugin (examples/kv behind tests/fixtures/node_trap.ts) serves a
 * put and a get without ever touching `globalThis.process`, so `node:tls`
 * (and the Node layer it boots) is never loaded; and the plugin's log
 * names our handshake. (The fallback to node:tls for a host limited to TLS
 * 1.2 is tls_refusal_test's `-tls12` case.)
 *
 * @module
 */

import { buildGo } from "../_util/go.ts";
import { denoRunLine } from "../_util/plugin.ts";
import { assertNothingLeft } from "../_util/fixture.ts";
import { assert, runHost, withTempDir } from "../_util/host.ts";

async function putGet(dir: string, flags: string[] = []) {
  const bin = await buildGo("host");
  const cmd = denoRunLine("tests/fixtures/no_node_plugin.ts", [dir]);
  const runs = [];
  for (const args of [["put", "k", "v1"], ["get", "k"]]) {
    const r = await runHost(bin, ["-cmd", cmd, "-automtls", ...flags, ...args], {
      cwd: dir,
      env: { TMPDIR: dir },
    });
    assert(r.result.ok, `${args[0]}: ${r.result.error}\n${r.stderr}`);
    runs.push({ ...r, trap: Deno.readTextFileSync(`${dir}/node-trap.txt`) });
    Deno.removeSync(`${dir}/node-trap.txt`);
  }
  await assertNothingLeft(dir);
  return runs;
}

Deno.test("tls13 fast path: go-plugin's host, AutoMTLS put/get, the Node layer never loaded", async () => {
  await withTempDir(async (dir) => {
    for (const r of await putGet(dir)) {
      assert(r.stderr.includes("TLS 1.3 handshake (rpcplugin)"), r.stderr);
      assert(r.trap === "untouched", `the Node layer was touched:\n${r.trap}\n${r.stderr}`);
    }
  });
});
