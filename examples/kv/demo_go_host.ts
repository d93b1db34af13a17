/**
 * The second demo: go-plugin's own example host (built from the Go module proxy)
 * launches our Deno KV plugin, stores a value and reads it back.
 *
 * ```sh
 * deno task demo:go-host
 * ```
 *
 * (`deno run --allow-run --allow-read --allow-write --allow-env examples/kv/demo_go_host.ts`)
 *
 * @module
 */

import { buildGo } from "../../tests/_util/go.ts";
import { denoRunLine } from "../../tests/_util/plugin.ts";

const decoder = new TextDecoder();
console.log("Building go-plugin's example host (examples/grpc) ...");
const kv = await buildGo("kv");
const work = await Deno.makeTempDir({ prefix: "rpcplugin-demo-" });
const plugin = denoRunLine("examples/kv/plugin.ts", [work]);
const env = { KV_PROTO: "grpc", KV_PLUGIN: plugin, PLUGIN_UNIX_SOCKET_DIR: work };

async function host(...args: string[]): Promise<string> {
  console.log(`\n$ kv ${args.join(" ")}`);
  const started = performance.now();
  const res = await new Deno.Command(kv, { args, cwd: work, env }).output();
  const ms = (performance.now() - started).toFixed(0);
  const log = decoder.decode(res.stderr).split("\n").filter((l) =>
    /plugin\.|using plugin|exited/.test(l)
  );
  for (const line of log) console.log(`  host log | ${line.replace(/^\S+ /, "")}`);
  const out = decoder.decode(res.stdout);
  console.log(`  exit code ${res.code} after ${ms} ms; stdout: ${JSON.stringify(out)}`);
  if (!res.success) throw new Error(`the host failed: ${out}`);
  return out;
}

try {
  console.log(`Plugin command: ${plugin}`);
  await host("put", "hello", "world");
  const value = await host("get", "hello");
  console.log(`\nThe Go host read back ${JSON.stringify(value.trim())} from the Deno plugin.`);
} finally {
  await Deno.remove(work, { recursive: true });
}
