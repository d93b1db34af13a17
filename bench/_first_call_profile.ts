/**
 * The functions a KV bundle compiles lazily from its launch through its first
 * `KV.Get` under our host (`launch()`), AutoMTLS off and on: the rest of the
 * profile `bundlePlugin` makes eager (scripts/eager_compile.ts profiles only
 * up to the handshake line and the stop).
 *
 * @module
 */

import { fromTsProto } from "../mod.ts";
import { KVDefinition } from "../examples/kv/gen/kv_pb.ts";
import { lazyFunctionsThroughCalls } from "../scripts/call_profile.ts";

/** The KV example's handshake (examples/kv/plugin.ts). */
const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };

/**
 * Profiles the bundle through one `Get`, AutoMTLS off and on.
 *
 * @param bundle The KV plugin's bundle.
 * @param deno The deno to run it with.
 * @returns The names of the functions compiled lazily.
 */
export function firstCallFunctions(bundle: string, deno: string): Promise<Set<string>> {
  const kv = fromTsProto(KVDefinition);
  return lazyFunctionsThroughCalls(bundle, {
    handshake: HANDSHAKE,
    autoMtls: [false, true],
    deno,
    prepare: (dir) => Deno.writeTextFile(`${dir}/kv_profile`, "v"),
  }, async (plugin) => {
    await plugin.client(kv).get({ key: "profile" });
  });
}
