/**
 * Signals and host death, with the real Go host driving the plugin.
 */

import { buildGo } from "../_util/go.ts";
import { denoRunLine } from "../_util/plugin.ts";
import { assertNothingLeft, FIXTURE } from "../_util/fixture.ts";
import {
  assert,
  assertEquals,
  processesMatching,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";

const decoder = new TextDecoder();

/** Starts our Go host in the background. */
async function spawnHost(dir: string, pluginArgs: string[], op: string[]) {
  const bin = await buildGo("host");
  const cmd = denoRunLine(FIXTURE, [dir], pluginArgs);
  return new Deno.Command(bin, {
    args: ["-cmd", cmd, ...op],
    cwd: dir,
    env: { TMPDIR: dir },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for the plugin (a process whose command line names `dir`) and returns its pid. */
async function pluginPid(dir: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const found = (await processesMatching(FIXTURE)).filter((l) =>
      l.includes(dir) && /^\d+ \S*deno run /.test(l)
    );
    if (found.length && socketFiles(dir).length) return Number(found[0].split(" ")[0]);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the plugin did not start");
}

async function finish(child: Deno.ChildProcess) {
  const out = await child.output();
  return {
    code: out.code,
    result: JSON.parse(decoder.decode(out.stdout).trim() || "{}"),
    stderr: decoder.decode(out.stderr),
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
    const child = await spawnHost(dir, ["--delay-ms=800"], ["calls", "100", "100", "k"]);
    const pid = await pluginPid(dir);
    await new Promise((r) => setTimeout(r, 300)); // the calls are now sleeping in the handler
    Deno.kill(pid, "SIGTERM");
    const r = await finish(child);
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
    const child = await spawnHost(dir, [], ["waitfor", "20s", "count=2"]);
    const pid = await pluginPid(dir);
    const stderr: string[] = [];
    let heard = Promise.withResolvers<void>();
    const reading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr.push(chunk);
        if (stderr.join("").includes("interrupt signal, ignoring")) heard.resolve();
      }
    })();
    Deno.kill(pid, "SIGINT");
    await heard.promise; // the plugin handled the first before the second is sent
    heard = Promise.withResolvers<void>();
    Deno.kill(pid, "SIGINT");
    const [status, stdout] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      reading,
    ]);
    const r = {
      code: status.code,
      result: JSON.parse(stdout.trim() || "{}"),
      stderr: stderr.join(""),
    };
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
    const child = await spawnHost(dir, [], ["wait", "60s"]);
    await pluginPid(dir);
    assertEquals(socketFiles(dir).length, 1);
    child.kill("SIGKILL");
    await child.output();
    const left = await waitNoProcesses(dir, 2000);
    assertEquals(left, [], "the plugin outlived its host by more than 2 s");
    assertEquals(socketFiles(dir), [], "the socket file was left behind");
  });
});

Deno.test("GRPCController/Shutdown with 100 calls in flight: they finish, and the host never waits its 2 s", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    const child = await spawnHost(dir, ["--delay-ms=500"], ["killduring", "100", "200ms", "k"]);
    const r = await finish(child);
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
    const child = await spawnHost(dir, ["--delay-ms=30000"], ["killduring", "20", "200ms", "k"]);
    const r = await finish(child);
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
