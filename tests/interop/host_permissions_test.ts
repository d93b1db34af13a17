/**
 * The exact Deno flags a host needs (README "Writing a host"): a host run
 * with just these launches go-plugin's Go KV plugin and calls it, plain and
 * AutoMTLS; with any one of them missing it fails with a PermissionError
 * that names the flag to add, and leaves no process and no socket directory; nor
 * does a host that exits without kill(), after the launch or during it.
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

/** go-plugin's Go KV plugin, copied into `tmp` so that its path marks this test's processes. */
async function pluginIn(tmp: string): Promise<string> {
  const exe = `${tmp}/kvgo`;
  await Deno.copyFile(await kvGoPlugin(), exe);
  await Deno.chmod(exe, 0o755);
  return exe;
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

/** The fixture host with the documented flags, made to exit without kill() (`how`). */
function runHostExiting(tmp: string, exe: string, how: "--exit-without-kill" | "--exit-mid-start") {
  return run(
    DENO,
    ["run", ...hostFlags(exe, tmp), ROOT + "tests/fixtures/host.ts", how, "--", exe],
    {
      cwd: tmp,
      env: { TMPDIR: tmp },
    },
  );
}

for (const plain of [true, false]) {
  const mode = plain ? "plain" : "AutoMTLS";
  Deno.test(`host permissions (${mode}): the documented flags are enough`, async () => {
    await withTempDir(async (tmp) => {
      const exe = await pluginIn(tmp);
      const r = await runHost(hostFlags(exe, tmp), tmp, exe, plain);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout.trim(), "perm");
      assertEquals(rpcpluginDirs(tmp), []);
    });
  });

  Deno.test(`host permissions (${mode}): each missing flag is named`, async () => {
    await withTempDir(async (tmp) => {
      const exe = await pluginIn(tmp);
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

Deno.test("host exit without kill(): the exit hook kills the plugin and removes its socket directory", async () => {
  await withTempDir(async (tmp) => {
    const exe = await pluginIn(tmp);
    const r = await runHostExiting(tmp, exe, "--exit-without-kill");
    assertEquals(r.code, 0, r.stderr);
    const [, pid, dir] = /pid (\d+) dir (\S+)/.exec(r.stdout) ?? [];
    assert(pid && dir, r.stdout);
    assertEquals(await waitNoProcesses(exe), [], `the plugin ${pid} outlived its host`);
    assertEquals(rpcpluginDirs(tmp), [], `${dir} was left behind`);
  });
});

Deno.test("host exit mid-launch (before the handshake line): the exit hook kills the plugin and removes its socket directory", async () => {
  await withTempDir(async (tmp) => {
    // A plugin that says something on stderr and never prints a handshake line; its sleep's
    // argument marks this test's process.
    const marker = `600.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    const exe = `${tmp}/silentplugin`;
    await Deno.writeTextFile(exe, `#!/bin/sh\necho starting >&2\nexec sleep ${marker}\n`);
    await Deno.chmod(exe, 0o755);
    const r = await runHostExiting(tmp, exe, "--exit-mid-start");
    assertEquals(r.code, 0, r.stderr);
    const left = await waitNoProcesses(marker);
    // A leftover (the hook broken) is this test's own sleep: ended here, by its pid.
    for (const line of left) Deno.kill(Number(line.split(" ")[0]), "SIGKILL");
    assertEquals(left, [], "the starting plugin outlived its host");
    assertEquals(rpcpluginDirs(tmp), [], "the launch's socket directory was left behind");
  });
});
