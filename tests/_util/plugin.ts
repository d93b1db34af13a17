/**
 * The `deno run` command line of a plugin, with exactly the permission flags
 * the README documents, for tests, the demo and the benchmarks.
 *
 * @module
 */

import { shebangLine } from "../../scripts/start_flags.ts";

/** Absolute path of the repository root, with a trailing slash. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/** The deno binary running us, so children use the same version. */
export const DENO: string = Deno.execPath();

/**
 * The permission flags a plugin needs: env (PLUGIN_* and grpc-js's GRPC_*),
 * net (its listener), and read/write on the socket directory plus the
 * directories it keeps its own files in.
 *
 * @param dirs Socket directory first, then the plugin's own directories.
 * @returns The flags.
 */
export function pluginFlags(dirs: readonly string[]): string[] {
  const list = dirs.join(",");
  return [
    "--no-prompt",
    "--allow-env",
    "--allow-net",
    `--allow-read=${list}`,
    `--allow-write=${list}`,
  ];
}

/** Quotes one word for `sh -c`. */
export function shQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell command line go-plugin hosts run (`sh -c <line>`).
 *
 * @param script Path of the plugin script, relative to the repo root or absolute.
 * @param dirs See {@linkcode pluginFlags}.
 * @param args Arguments for the script.
 * @returns The command line.
 */
export function denoRunLine(
  script: string,
  dirs: readonly string[],
  args: readonly string[] = [],
): string {
  const path = script.startsWith("/") ? script : ROOT + script;
  return [DENO, "run", ...pluginFlags(dirs), path, ...args].map(shQuote).join(" ");
}

/**
 * Bundles `examples/kv/plugin.ts` into one file and makes it an executable
 * with a shebang line carrying the plugin's flags (and the start flags of
 * scripts/start_flags.ts that fit): the stand-in for
 * `deno compile` (which needs a runtime download our machines cannot make).
 *
 * @param dir Where the bundle and the executable go.
 * @param dirs The directories the plugin may read and write (its socket directory among them).
 * @returns The executable's path and the bundle's text.
 */
export async function bundleKvPlugin(
  dir: string,
  dirs: readonly string[],
): Promise<{ exe: string; js: string }> {
  const bundle = `${dir}/kv-bundle.js`;
  const res = await new Deno.Command(DENO, {
    args: ["bundle", "--platform=deno", "-o", bundle, ROOT + "examples/kv/plugin.ts"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
  const js = await Deno.readTextFile(bundle);
  const exe = `${dir}/kv-plugin`;
  // With the start flags that fit (a full deno path leaves room for fewer).
  const { line } = shebangLine(DENO, pluginFlags(dirs));
  await Deno.writeTextFile(exe, `${line}\n${js}`);
  await Deno.chmod(exe, 0o755);
  return { exe, js };
}
