/**
 * The functions a KV bundle compiles lazily from its launch through its first
 * `KV.Get` under our host (`launch()`), AutoMTLS off and on: the rest of the
 * profile `bundlePlugin` makes eager (scripts/eager_compile.ts profiles only
 * up to the handshake line and the stop).
 *
 * @module
 */

import { fromTsProto } from "../mod.ts";
import { launch } from "../host/mod.ts";
import { KVDefinition } from "../examples/kv/gen/kv_pb.ts";
import { createLogger } from "../log/logger.ts";
import { lazyFunctionsInLog, v8ProfileFlag } from "../scripts/eager_compile.ts";

/** The KV example's handshake (examples/kv/plugin.ts). */
const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };

/**
 * Launches the bundle twice per AutoMTLS mode (the first makes its code cache)
 * and answers one `Get` each; reads the second launch's V8 log.
 *
 * @param bundle The KV plugin's bundle.
 * @param deno The deno to run it with.
 * @returns The names of the functions compiled lazily.
 */
export async function firstCallFunctions(bundle: string, deno: string): Promise<Set<string>> {
  const kv = fromTsProto(KVDefinition);
  const path = await Deno.realPath(bundle);
  const names = new Set<string>();
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-profile-" });
  try {
    await Deno.writeTextFile(`${dir}/kv_profile`, "v");
    for (const autoMtls of [false, true]) {
      for (const measured of [false, true]) {
        const log = `${dir}/v8-${autoMtls}-${measured}.log`;
        const plugin = await launch({
          cmd: [deno, "run", "-A", v8ProfileFlag(log), bundle],
          cwd: dir,
          handshake: HANDSHAKE,
          autoMtls,
          logger: createLogger({ level: "error", module: "profile" }),
        });
        try {
          await plugin.client(kv).get({ key: "profile" });
        } finally {
          await plugin.kill();
        }
        if (measured) {
          for (const n of lazyFunctionsInLog(await Deno.readTextFile(log), path)) names.add(n);
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return names;
}
