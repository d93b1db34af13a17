/**
 * Running tests/interop/tlsprobe (a go-plugin host's TLS client, see its
 * main.go) against the test plugin, for tls_refusal_test.ts and
 * tls_probe_test.ts.
 *
 * @module
 */

import { FIXTURE } from "./fixture.ts";
import { buildGo } from "./go.ts";
import { type HostRun, run } from "./host.ts";
import { denoRunLine } from "./plugin.ts";

/**
 * Runs tlsprobe with `flags` against the test plugin (with `pluginArgs`),
 * in `dir` (its socket directory and working directory).
 *
 * @param dir Working and socket directory.
 * @param pluginArgs Arguments of the test plugin.
 * @param flags tlsprobe's flags, before `-cmd`.
 * @param env More environment for tlsprobe (and so for the plugin).
 * @returns The run and the JSON object tlsprobe printed last.
 */
export async function runTlsprobe<T>(
  dir: string,
  pluginArgs: string[],
  flags: string[] = [],
  env: Record<string, string> = {},
): Promise<HostRun & { result: T }> {
  const bin = await buildGo("tlsprobe");
  const cmd = denoRunLine(FIXTURE, [dir], pluginArgs);
  const r = await run(bin, [...flags, "-cmd", cmd], { cwd: dir, env: { TMPDIR: dir, ...env } });
  try {
    return { ...r, result: JSON.parse(r.stdout.trim().split("\n").pop()!) as T };
  } catch {
    throw new Error(`tlsprobe printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}
