/**
 * The exact Deno flags a host needs (README "Writing a host"): a host run
 * with just these launches go-plugin's Go KV plugin and calls it, plain and
 * AutoMTLS; with any one of them missing it fails with a PermissionError
 * that names the flag to add, and leaves no process and no socket directory.
 */

import { kvGoPlugin } from "../_util/peers.ts";
import { DENO, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, run, waitNoProcesses, withTempDir } from "../_util/host.ts";

/** The host's flags, as the README documents them, for a plugin at `exe` and temp dir `tmp`. */
function hostFlags(exe: string, tmp: string): string[] {
  return [
    "--no-prompt",
    `--allow-run=${exe}`,
    "--allow-env",
    "--allow-net",
    `--allow-read=${tmp}`,
    `--allow-write=${tmp}`,
  ];
}

function rpcpluginDirs(tmp: string): string[] {
  return [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("rpcplugin-")).map((e) =>
    e.name
  );
}

async function runHost(flags: string[], tmp: string, exe: string, plain: boolean) {
  return await run(DENO, [
    "run",
    ...flags,
    ROOT + "tests/fixtures/host.ts",
    ...(plain ? ["--plain"] : []),
    "--",
    exe,
  ], { cwd: tmp, env: { TMPDIR: tmp } });
}

for (const plain of [true, false]) {
  const mode = plain ? "plain" : "AutoMTLS";
  Deno.test(`host permissions (${mode}): the documented flags are enough`, async () => {
    const exe = await kvGoPlugin();
    await withTempDir(async (tmp) => {
      const r = await runHost(hostFlags(exe, tmp), tmp, exe, plain);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "perm");
      assertEquals(rpcpluginDirs(tmp), []);
    });
  });

  Deno.test(`host permissions (${mode}): each missing flag is named`, async () => {
    const exe = await kvGoPlugin();
    await withTempDir(async (tmp) => {
      const all = hostFlags(exe, tmp);
      for (const flag of all.slice(1)) {
        const name = flag.split("=")[0];
        const r = await runHost(all.filter((f) => f !== flag), tmp, exe, plain);
        assertEquals(r.code, 1, `without ${name}: ${r.stdout}`);
        assert(
          r.stderr.includes("PermissionError") && r.stderr.includes(`run the host with ${name}`),
          `without ${name}, the error does not name it:\n${r.stderr}`,
        );
        assertEquals(await waitNoProcesses(exe), [], `without ${name}: a plugin was left`);
        assertEquals(rpcpluginDirs(tmp), [], `without ${name}: a socket directory was left`);
      }
    });
  });
}
