/**
 * The example provider's shell launcher finds its directory with the shell
 * alone: it runs with nothing but `deno` on PATH (no `dirname`, no
 * `readlink`: two processes forked on every launch before); through a
 * symlink in another directory, the one case that needs `readlink -f`; and
 * through a symlinked directory whose name has a space (taken as it is on
 * disk with `cd -P`, since Deno resolves `../../deno.json` and the imports by
 * the path's text). It runs deno in the caller's directory with
 * `--v8-flags=--no-lazy` (all of a module's functions in Deno's code cache:
 * no function compiled on its first call at each launch). Launched by our
 * host with Terraform's cookie and AutoMTLS, each answers a ping.
 *
 * @module
 */

import { pingProvider } from "./provider_ping.ts";
import { assert, withTempDir } from "../_util/host.ts";

const LAUNCHER = new URL("../../examples/terraform/terraform-provider-example", import.meta.url)
  .pathname;

/** The path of a tool on PATH (`command -v`); fails naming the tool when there is none. */
async function which(tool: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "piped" })
    .output();
  const path = new TextDecoder().decode(out.stdout).trim();
  assert(out.success && path.startsWith("/"), `${tool} is not on PATH: install it`);
  return path;
}

/** Launches `cmd` with PATH set to `path` alone, pings it, and stops it. */
function pingThrough(
  cmd: string,
  path: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<void> {
  return pingProvider(cmd, cwd, { PATH: path, TMPDIR: cwd, ...env });
}

Deno.test("the provider's launcher runs with only deno on PATH: no dirname, no readlink", async () => {
  await withTempDir(async (work) => {
    const bin = `${work}/bin`;
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    await pingThrough(LAUNCHER, bin, work);
  });
});

Deno.test("the provider's launcher runs deno with --v8-flags=--no-lazy, in the caller's directory", async () => {
  await withTempDir(async (work) => {
    // DENO names a wrapper (shell built-ins only) that writes down its directory and arguments.
    const wrapper = `${work}/deno-args`;
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nprintf '%s\\n' "$PWD" "$@" > '${work}/args'\nexec '${Deno.execPath()}' "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
    await pingThrough(LAUNCHER, "/nonexistent", work, { DENO: wrapper });
    const [cwd, ...args] = (await Deno.readTextFile(`${work}/args`)).split("\n");
    assert(args[0] === "run" && args.includes("--v8-flags=--no-lazy"), `deno ${args.join(" ")}`);
    assert(cwd === work, `deno ran in ${cwd}, not in the caller's ${work}`);
  });
});

Deno.test("the provider's launcher runs through a symlinked directory with a space in its name", async () => {
  await withTempDir(async (work) => {
    const bin = `${work}/bin`;
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    const dir = `${work}/linked provider`;
    await Deno.symlink(LAUNCHER.slice(0, LAUNCHER.lastIndexOf("/")), dir);
    await pingThrough(`${dir}/terraform-provider-example`, bin, work);
  });
});

Deno.test("the provider's launcher runs through a symlink in another directory", async () => {
  await withTempDir(async (work) => {
    const bin = `${work}/bin`;
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    await Deno.symlink(await which("readlink"), `${bin}/readlink`);
    const link = `${work}/links/terraform-provider-example`;
    await Deno.mkdir(`${work}/links`);
    await Deno.symlink(LAUNCHER, link);
    await pingThrough(link, bin, work);
  });
});
