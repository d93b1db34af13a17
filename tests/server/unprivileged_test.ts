/**
 * What only fails without root: ports below 1024 (EACCES) in the host's TCP
 * range, and a PLUGIN_UNIX_SOCKET_GROUP the plugin's user is not in. As
 * root, the plugin runs as nobody through setpriv (tests/_util/nobody.ts).
 */

import { hostEnv, startDirect } from "../_util/direct.ts";
import { unprivileged } from "../_util/nobody.ts";
import { pluginFlags } from "../_util/plugin.ts";
import { assert, assertEquals, socketFiles, withTempDir } from "../_util/host.ts";
import { embeddedResult } from "../_util/embedded.ts";

Deno.test("non-root TCP scan: ports below 1024 (EACCES) are skipped, the first port that binds is served", async () => {
  await withTempDir(async (dir) => {
    const run = await unprivileged(dir, "tests/fixtures/plugin.ts");
    const p = startDirect(run.deno(["run", ...pluginFlags([dir]), run.script, "--transport=tcp"]), {
      cwd: dir,
      env: hostEnv(dir, { PLUGIN_MIN_PORT: "1020", PLUGIN_MAX_PORT: "1200" }),
    });
    const info = await p.handshake;
    const port = Number(info.address.split(":")[1]);
    assert(info.network === "tcp" && port >= 1024 && port <= 1200, info.address);
    p.child.kill("SIGTERM");
    assertEquals((await p.status).code, 0, p.stderrLines.join("\n"));
  });
});

Deno.test("non-root TCP scan: a range wholly below 1024 is a StartupError naming the range and the last error", async () => {
  await withTempDir(async (dir) => {
    const run = await unprivileged(dir, "tests/fixtures/plugin.ts");
    const p = startDirect(run.deno(["run", ...pluginFlags([dir]), run.script, "--transport=tcp"]), {
      cwd: dir,
      env: hostEnv(dir, { PLUGIN_MIN_PORT: "1000", PLUGIN_MAX_PORT: "1010" }),
    });
    const status = await p.status;
    const stderr = p.stderrLines.join("\n");
    assertEquals([status.code, p.stdoutLines], [1, []], stderr);
    assert(
      stderr.includes(
        "No TCP port on 127.0.0.1 between 1000 and 1010 could be bound (last error, port 1010: ",
      ) && stderr.includes("ports below 1024 need privileges the plugin lacks"),
      stderr,
    );
  });
});

Deno.test("non-root PLUGIN_UNIX_SOCKET_GROUP of a group the user is not in: exit 1 with the fix, no socket left", async () => {
  await withTempDir(async (dir) => {
    const run = await unprivileged(dir, "tests/fixtures/plugin.ts");
    const p = startDirect(run.deno(["run", ...pluginFlags([dir]), run.script]), {
      cwd: dir,
      env: hostEnv(dir, { PLUGIN_UNIX_SOCKET_GROUP: "0" }),
    });
    const status = await p.status;
    const stderr = p.stderrLines.join("\n");
    assertEquals([status.code, p.stdoutLines], [1, []], stderr);
    assert(
      /Cannot give the socket ".*" to group 0 .*: the plugin's user must be a member of that group/
        .test(stderr),
      stderr,
    );
    assertEquals(socketFiles(dir), []);
  });
});

Deno.test("non-root serve({ exit: false }) failing after the bind (PLUGIN_UNIX_SOCKET_GROUP): the engine's listener is closed", async () => {
  await withTempDir(async (dir) => {
    const run = await unprivileged(dir, "tests/fixtures/serve_embedded.ts");
    const { result, stderr } = await embeddedResult(
      run.deno(["run", ...pluginFlags([dir]), "--allow-run", run.script, "startup"]),
      dir,
      { PLUGIN_UNIX_SOCKET_GROUP: "0" },
    );
    assertEquals(result.resolved, false, stderr);
    assertEquals(result.errorName, "StartupError", result.error);
    assert(/^Cannot give the socket ".*" to group 0 /.test(result.error), result.error);
    assertEquals(result.binds.length, 1, "the bind went through");
    assertEquals(result.shutdowns, 1, "the engine's listener was left open");
    assertEquals([result.socketLeft, result.consoleRestored], [false, true]);
  });
});
