/**
 * The demo, pure Deno: our host launches the Deno KV plugin
 * (`examples/kv/plugin.ts`) as go-plugin's host would (cookie, versions,
 * AutoMTLS, handshake line), stores a value, reads it back, checks its
 * health and stops it with GRPCController/Shutdown.
 *
 * ```sh
 * deno task demo
 * ```
 *
 * (`deno run --allow-run=deno --allow-env --allow-net --allow-read --allow-write examples/kv/demo.ts`)
 *
 * @module
 */

import { fromTsProto } from "../../mod.ts";
import { launch } from "../../host/mod.ts";
import { KVDefinition } from "./gen/kv_pb.ts";

const here = new URL(".", import.meta.url).pathname;
const work = await Deno.makeTempDir({ prefix: "rpcplugin-demo-" });
const plugin = [
  "deno",
  "run",
  "--no-prompt",
  "--allow-env",
  "--allow-net",
  `--allow-read=${work},${Deno.env.get("TMPDIR") ?? "/tmp"}`,
  `--allow-write=${work},${Deno.env.get("TMPDIR") ?? "/tmp"}`,
  `${here}plugin.ts`,
];
console.log(`Plugin command: ${plugin.join(" ")}`);

const started = performance.now();
const ms = () => `${(performance.now() - started).toFixed(0)} ms`;
try {
  await using kvPlugin = await launch({
    cmd: plugin,
    cwd: work,
    handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
  });
  console.log(
    `launched: pid ${kvPlugin.pid}, ${kvPlugin.network} ${kvPlugin.address}, ` +
      `protocol version ${kvPlugin.protocolVersion}, AutoMTLS (${ms()})`,
  );
  const kv = kvPlugin.client(fromTsProto(KVDefinition));
  await kv.put({ key: "hello", value: new TextEncoder().encode("world") }, { timeoutMs: 5000 });
  console.log(`put hello=world (${ms()})`);
  const { value } = await kv.get({ key: "hello" }, { timeoutMs: 5000 });
  console.log(`get hello -> ${JSON.stringify(new TextDecoder().decode(value))} (${ms()})`);
  await kvPlugin.ping();
  console.log(`ping: SERVING (${ms()})`);
  await kvPlugin.kill();
  const exit = await kvPlugin.exited;
  console.log(`stopped with Shutdown: exit code ${exit.code}, forced: ${exit.forced} (${ms()})`);
} finally {
  await Deno.remove(work, { recursive: true });
}
