/**
 * Running one of our Go hosts against the test plugin (tests/fixtures/plugin.ts),
 * and checking that nothing is left behind afterwards.
 *
 * @module
 */

import { buildGo, type GO_PROGRAMS } from "./go.ts";
import {
  assertEquals,
  type HostResult,
  type HostRun,
  runHost,
  socketFiles,
  waitNoProcesses,
} from "./host.ts";
import { denoRunLine } from "./plugin.ts";

/** The gRPC engines the test plugin can run on. */
const FIXTURES = {
  native: "tests/fixtures/plugin.ts",
  "grpc-js": "tests/fixtures/plugin_grpcjs.ts",
} as const;

/**
 * The engine the interop tests run the plugin on: `RPCPLUGIN_TEST_ENGINE`
 * (`native`, the default, or `grpc-js`). `deno task test` runs them on both.
 */
export const TEST_ENGINE: keyof typeof FIXTURES = (() => {
  const name = Deno.env.get("RPCPLUGIN_TEST_ENGINE") ?? "native";
  if (!(name in FIXTURES)) {
    throw new Error(
      `RPCPLUGIN_TEST_ENGINE="${name}" is no engine: use ${Object.keys(FIXTURES).join(" or ")}`,
    );
  }
  return name as keyof typeof FIXTURES;
})();

/** The test plugin on {@linkcode TEST_ENGINE}, relative to the repository root. */
export const FIXTURE: string = FIXTURES[TEST_ENGINE];

/**
 * Runs a Go host (`host` by default) against the test plugin, in `dir`, with
 * the plugin's sockets in `dir` too.
 *
 * @param dir Working and socket directory.
 * @param hostArgs Host flags, then the op and its arguments.
 * @param pluginArgs Arguments of the test plugin.
 * @param hostName Which host binary.
 * @returns The run and the host's JSON result.
 */
export async function hostFixture(
  dir: string,
  hostArgs: string[],
  pluginArgs: string[] = [],
  hostName: keyof typeof GO_PROGRAMS = "host",
): Promise<HostRun & { result: HostResult }> {
  const bin = await buildGo(hostName);
  const cmd = denoRunLine(FIXTURE, [dir], pluginArgs);
  return await runHost(bin, ["-cmd", cmd, ...hostArgs], { cwd: dir, env: { TMPDIR: dir } });
}

/**
 * Asserts that no process mentioning `dir` is alive and no socket file is in it.
 *
 * @param dir The test's directory.
 */
export async function assertNothingLeft(dir: string): Promise<void> {
  assertEquals(await waitNoProcesses(dir), [], "plugin processes left behind");
  assertEquals(socketFiles(dir), [], "socket files left behind");
}
