/**
 * The README's quick start, as a new user meets it: `deno task demo` in a
 * fresh copy of the repository (a directory Deno has not seen, so its
 * first-run messages show) stores, reads and pings through the KV plugin,
 * stops it with Shutdown, prints no warning, and leaves nothing in TMPDIR.
 *
 * @module
 */

import { DENO, ROOT } from "../_util/plugin.ts";
import { assert, withTempDir } from "../_util/host.ts";

/** Copies the repository's tracked files (as they are in the work tree) into `dir`. */
async function copyTracked(dir: string): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z"],
    cwd: ROOT,
    stdout: "piped",
  })
    .output();
  assert(out.success, "git ls-files failed: the test needs git and a clone of the repository");
  const files = new TextDecoder().decode(out.stdout).split("\0").filter((f) => f !== "");
  for (const file of files) {
    const to = `${dir}/${file}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${ROOT}${file}`, to);
  }
}

Deno.test("quick start: deno task demo in a fresh copy runs clean", async () => {
  await withTempDir(async (work) => {
    const repo = `${work}/repo`;
    const tmp = `${work}/tmp`;
    await Deno.mkdir(tmp);
    await copyTracked(repo);
    const out = await new Deno.Command(DENO, {
      args: ["task", "demo"],
      cwd: repo,
      env: { TMPDIR: tmp, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert(out.success, `deno task demo failed:\n${text}`);
    assert(text.includes("stopped with Shutdown: exit code 0, forced: false"), text);
    assert(!/warning/i.test(text), `deno task demo printed a warning:\n${text}`);
    const left = [...Deno.readDirSync(tmp)].map((e) => e.name);
    assert(left.length === 0, `the demo left ${left.join(", ")} in TMPDIR`);
  });
});
