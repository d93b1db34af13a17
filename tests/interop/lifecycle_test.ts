/**
 * Signals and host death, with the real Go host driving the plugin.
 */

import { buildGo } from "../_util/go.ts";
import { denoRunLine } from "../_util/plugin.ts";
import { assertNothingLeft, FIXTURE } from "../_util/fixture.ts";
import { IN_HANDLER, SERVING } from "../fixtures/signals.ts";
import {
  assert,
  assertEquals,
  occurrences,
  OutputWatch,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";

/** Our Go host started in the background, its stderr watched. */
interface SpawnedHost {
  child: Deno.ChildProcess;
  stderr: OutputWatch;
}

/** Starts our Go host in the background. */
async function spawnHost(dir: string, pluginArgs: string[], op: string[]): Promise<SpawnedHost> {
  const bin = await buildGo("host");
  const cmd = denoRunLine(FIXTURE, [dir], pluginArgs);
  const child = new Deno.Command(bin, {
    args: ["-cmd", cmd, ...op],
    cwd: dir,
    env: { TMPDIR: dir },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { child, stderr: new OutputWatch(child.stderr) };
}

/** Waits for the plugin to log that it is serving (the host re-logs it) and returns its pid. */
async function pluginPid(host: SpawnedHost): Promise<number> {
  const pattern = new RegExp(`${SERVING}: .*pid=(\\d+)`);
  return Number(await host.stderr.until((t) => pattern.exec(t)?.[1], "plugin serving"));
}

/** Waits for `n` calls in the plugin's handler (they wait out its --delay-ms there). */
async function callsInHandler(host: SpawnedHost, n: number): Promise<void> {
  await host.stderr.until((t) => occurrences(t, IN_HANDLER) >= n, `${n} calls in the handler`);
}

async function finish({ child, stderr }: SpawnedHost) {
  const [status, stdout, err] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    stderr.done,
  ]);
  return {
    code: status.code,
    result: JSON.parse(stdout.trim() || "{}"),
    stderr: err,
  };
}

/** The host saw the plugin exit 0 without a SIGKILL, and nothing is left behind. */
async function assertCleanExit(dir: string, stderr: string) {
  assert(!stderr.includes("plugin failed to exit gracefully"), stderr);
  assert(/\[INFO\] +host: plugin process exited/.test(stderr), `plugin did not exit 0:\n${stderr}`);
  await assertNothingLeft(dir);
}

Deno.test("SIGTERM while 100 calls are in flight: all complete, then the plugin exits 0", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    const host = await spawnHost(dir, ["--delay-ms=800"], ["calls", "100", "100", "k"]);
    const pid = await pluginPid(host);
    await callsInHandler(host, 100);
    Deno.kill(pid, "SIGTERM");
    const r = await finish(host);
    assertEquals(
      [r.result.calls, r.result.errors],
      [100, 0],
      r.result.first_error + "\n" + r.stderr,
    );
    assert(
      r.stderr.includes("plugin stopping: reason=sigterm") || r.stderr.includes("reason=sigterm"),
      r.stderr,
    );
    await assertCleanExit(dir, r.stderr);
  });
});

Deno.test("SIGINT is ignored (logged at trace); the host still shuts the plugin down gracefully", async () => {
  await withTempDir(async (dir) => {
    // The host pings, then waits until the plugin logged the second SIGINT, then stops it.
    const host = await spawnHost(dir, [], ["waitfor", "20s", "count=2"]);
    const pid = await pluginPid(host);
    Deno.kill(pid, "SIGINT");
    // The plugin handled the first before the second is sent.
    await host.stderr.until(
      (t) => t.includes("interrupt signal, ignoring"),
      "the first SIGINT logged",
    );
    Deno.kill(pid, "SIGINT");
    const r = await finish(host);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    assert(r.stderr.includes("plugin received interrupt signal, ignoring"), r.stderr);
    assert(/interrupt signal, ignoring: .*count=2/.test(r.stderr), "the count was not logged");
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    assertEquals(await waitNoProcesses(dir), []);
    assertEquals(socketFiles(dir), []);
  });
});

Deno.test("host SIGKILLed: the plugin notices, exits and removes its socket", async () => {
  await withTempDir(async (dir) => {
    const host = await spawnHost(dir, [], ["wait", "60s"]);
    await pluginPid(host);
    assertEquals(socketFiles(dir).length, 1);
    host.child.kill("SIGKILL");
    await finish(host);
    const left = await waitNoProcesses(dir, 2000);
    assertEquals(left, [], "the plugin outlived its host by more than 2 s");
    assertEquals(socketFiles(dir), [], "the socket file was left behind");
  });
});

Deno.test("GRPCController/Shutdown with 100 calls in flight: they finish, and the host never waits its 2 s", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    // The host kills the plugin once its 100 calls are all in the handler.
    const host = await spawnHost(dir, ["--delay-ms=500"], ["killduring", "100", "20s", "k"]);
    const r = await finish(host);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    assertEquals([r.result.calls, r.result.errors], [100, 0], r.result.first_error);
    assert(r.stderr.includes("reason=GRPCController/Shutdown"), r.stderr);
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    await assertCleanExit(dir, r.stderr);
  });
});

Deno.test("GRPCController/Shutdown with calls that would run 30 s: answered within 1 s, never SIGKILLed", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    const host = await spawnHost(dir, ["--delay-ms=30000"], ["killduring", "20", "20s", "k"]);
    const r = await finish(host);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    assertEquals(r.result.errors, 20, "the hung calls should fail (cancelled), not hang");
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    await assertCleanExit(dir, r.stderr);
  });
});

// go-plugin's host answers nothing after Shutdown: it hangs up when it likes. The plugin
// must not wait for that (its broker stream would hold the graceful stop for its 1 s
// grace, then be cancelled with a warning), with or without our TLS 1.3 server.
for (const autoMtls of [false, true]) {
  Deno.test(`GRPCController/Shutdown, the host's connection kept open: the plugin exits without waiting for it (AutoMTLS ${autoMtls ? "on" : "off"})`, async () => {
    await withTempDir(async (dir) => {
      const flags = autoMtls ? ["-automtls"] : [];
      const child = await spawnHost(dir, [], [...flags, "shutdownhold", "20s"]);
      const r = await finish(child);
      assert(r.result.ok && r.result.exited, `${r.result.error}\n${r.stderr}`);
      assert(r.stderr.includes("reason=GRPCController/Shutdown"), r.stderr);
      assert(!r.stderr.includes("graceful stop timed out"), r.stderr);
      assert(!r.stderr.includes("closing its connections"), r.stderr);
      await assertCleanExit(dir, r.stderr);
    });
  });
}
