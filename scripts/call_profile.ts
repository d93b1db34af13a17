/**
 * The functions a bundle compiles lazily from its launch through the calls a
 * host makes to it: our host (`launch()`) runs the bundle under
 * `--log-function-events`, a driver makes the calls, `kill()` stops it as a
 * go-plugin host does (GRPCController/Shutdown). What it finds is the rest of
 * a profile that scripts/eager_compile.ts makes eager: its own launches reach
 * only the handshake line and the stop, not the first connection, TLS, HTTP/2,
 * the handlers (bench/README.md, Start-up, tenth round).
 *
 * ```ts ignore
 * import { lazyFunctionsThroughCalls } from "./scripts/call_profile.ts";
 * const names = await lazyFunctionsThroughCalls("out/plugin.js", {
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
 *   autoMtls: [false, true],
 * }, async (plugin) => void await plugin.client(kv).get({ key: "k" }));
 * ```
 *
 * @module
 */

import { launch } from "../host/mod.ts";
import type { PluginClient } from "../host/mod.ts";
import type { HandshakeConfig } from "../mod.ts";
import { createLogger } from "../log/logger.ts";
import { lazyFunctionsInLog, v8ProfileFlag } from "./eager_compile.ts";

/** Options of {@linkcode lazyFunctionsThroughCalls}. */
export interface CallProfileOptions {
  /** The plugin's handshake. */
  handshake: HandshakeConfig;
  /** The protocol versions the host offers. @default {[handshake.protocolVersion]} */
  versions?: readonly number[];
  /** One profiled launch per mode (AutoMTLS off and on take different paths). */
  autoMtls: readonly boolean[];
  /** The deno that runs the bundle. @default {Deno.execPath()} */
  deno?: string;
  /** Fills the plugin's working directory (an empty temp directory) before the launches. */
  prepare?: (dir: string) => Promise<void>;
}

/**
 * Launches the bundle twice per AutoMTLS mode (the first launch makes Deno's
 * code cache, as a user's first run does), runs `drive` on each, and reads the
 * second launch's V8 log.
 *
 * @param bundle The bundle's path.
 * @param options The launches.
 * @param drive The calls, made on the launched plugin (which is killed after).
 * @returns The names of the functions compiled lazily.
 */
export async function lazyFunctionsThroughCalls(
  bundle: string,
  options: CallProfileOptions,
  drive: (plugin: PluginClient, dir: string) => Promise<void>,
): Promise<Set<string>> {
  const path = await Deno.realPath(bundle);
  const names = new Set<string>();
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-profile-" });
  try {
    await options.prepare?.(dir);
    for (const autoMtls of options.autoMtls) {
      for (const measured of [false, true]) {
        const log = `${dir}/.v8-${autoMtls}-${measured}.log`;
        const plugin = await launch({
          cmd: [
            options.deno ?? Deno.execPath(),
            "run",
            "--no-config",
            "-A",
            v8ProfileFlag(log),
            bundle,
          ],
          cwd: dir,
          handshake: options.handshake,
          versions: options.versions,
          autoMtls,
          logger: createLogger({ level: "error", module: "profile" }),
        });
        try {
          await drive(plugin, dir);
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
