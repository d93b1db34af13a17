/**
 * Running a plugin as a non-root user, for what only fails without root
 * (the socket's group via PLUGIN_UNIX_SOCKET_GROUP, ports below 1024): as
 * root, `setpriv` runs it as nobody (uid and gid 65534, no other groups);
 * as any other user, it runs as that user. The script is bundled into one
 * file in the test's directory, so that neither the repository nor Deno's
 * cache (under /root) has to be readable by nobody. Anything missing is a
 * test failure saying what to fix, never a silent skip.
 *
 * @module
 */

import { DENO, ROOT } from "./plugin.ts";

/** The unprivileged user and group setpriv switches to. */
export const NOBODY = 65534;

/** How to run a bundled script without root. */
export interface Unprivileged {
  /** Whether the test process is root (then setpriv switches to nobody). */
  root: boolean;
  /** The uid the plugin runs as. */
  uid: number;
  /** The argv that runs `deno <args>` without root. */
  deno(args: readonly string[]): string[];
  /** The bundle of the script, readable by that user. */
  script: string;
}

async function runs(argv: readonly string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
  } catch (err) {
    return { ok: false, out: (err as Error).message };
  }
}

/**
 * Prepares `dir` (made writable by the unprivileged user) and a bundle of
 * `script` in it, and checks that the user can run Deno on it.
 *
 * @param dir The test's temp dir: the plugin's working and socket directory.
 * @param script The script, relative to the repository root.
 * @returns How to run it.
 * @throws {Error} Naming what is missing (setpriv, a Deno binary nobody may run, ...).
 */
export async function unprivileged(dir: string, script: string): Promise<Unprivileged> {
  // Not Deno.uid(): that wants --allow-sys, which the suite does not grant.
  const id = await runs(["id", "-u"]);
  if (!id.ok) throw new Error(`Cannot tell which user runs the tests (id -u): ${id.out.trim()}`);
  const me = Number(id.out.trim());
  const root = me === 0;
  const prefix = root
    ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"]
    : [];
  const uid = root ? NOBODY : me;
  if (root) {
    const setpriv = await runs(["setpriv", "--version"]);
    if (!setpriv.ok) {
      throw new Error(
        `This test must run the plugin as a non-root user, but setpriv (util-linux) cannot be run: ${setpriv.out.trim()}. ` +
          "Install util-linux, or run the suite as a non-root user",
      );
    }
    Deno.chownSync(dir, NOBODY, NOBODY);
  }
  const env = ["env", `DENO_DIR=${dir}/.deno`, "DENO_NO_UPDATE_CHECK=1"];
  const deno = (args: readonly string[]) => [...prefix, ...env, DENO, ...args];
  const version = await runs(deno(["--version"]));
  if (!version.ok) {
    throw new Error(
      `This test must run the plugin as uid ${uid}, who cannot run ${DENO}: ${version.out.trim()}. ` +
        "Make the deno binary and its directories readable and executable by others (chmod o+rx), " +
        "or run the suite as a non-root user",
    );
  }
  // Not "plugin*": socketFiles() counts those.
  const bundle = `${dir}/bundle-${script.replace(/^.*\//, "").replace(/\.ts$/, "")}.js`;
  const built = await new Deno.Command(DENO, {
    args: ["bundle", "--quiet", "--platform=deno", "-o", bundle, ROOT + script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!built.success) {
    throw new Error(`deno bundle ${script} failed:\n${new TextDecoder().decode(built.stderr)}`);
  }
  Deno.chmodSync(bundle, 0o644);
  const readable = await runs([...prefix, "head", "-c", "1", bundle]);
  if (!readable.ok) {
    throw new Error(`uid ${uid} cannot read the bundle ${bundle}: ${readable.out.trim()}`);
  }
  return { root, uid, deno, script: bundle };
}
