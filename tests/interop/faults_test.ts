/**
 * Faults on the wire, with the real Go host: misbehaving handlers, messages
 * at and over the size limit.
 */

import { assertNothingLeft, FIXTURE, hostFixture } from "../_util/fixture.ts";
import { buildGo } from "../_util/go.ts";
import { denoRunLine } from "../_util/plugin.ts";
import { assert, assertEquals, OutputWatch, socketFiles, withTempDir } from "../_util/host.ts";
import { IN_HANDLER } from "../fixtures/signals.ts";

const host = (dir: string, pluginArgs: string[], op: string[]) => hostFixture(dir, op, pluginArgs);

Deno.test("a handler that throws or returns the wrong shape: useful status, the plugin keeps serving", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_ok`, "fine");
    const r = await host(dir, ["--faulty"], [
      "gets",
      "!throw",
      "ok",
      "!rpcerror",
      "!shape",
      "missing",
      "ok",
    ]);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    const errs = r.result.gets!.map((g) => g.error);
    assertEquals(r.result.gets!.map((g) => g.value), ["", "fine", "", "", "", "fine"]);
    assert(/code = Unknown desc = the handler exploded/.test(errs[0]), errs[0]);
    assertEquals(errs[1], "");
    assert(/code = FailedPrecondition desc = not ready yet/.test(errs[2]), errs[2]);
    assert(
      /code = Internal desc = The handler of \/proto.KV\/Get returned a value that is not a valid response message/
        .test(errs[3]),
      errs[3],
    );
    assert(/code = NotFound desc = no value stored for key "missing"/.test(errs[4]), errs[4]);
    assertEquals(errs[5], "");
    // One ERROR line, re-logged by go-plugin at ERROR with the method, and
    // the stack as hclog's block of "  | " lines under it.
    assertEquals(r.stderr.split("handler failed").length, 2, r.stderr);
    const from = r.stderr.lastIndexOf("\n", r.stderr.indexOf("handler failed")) + 1;
    const failed = r.stderr.slice(from).split(/\n(?=\d{4}-)/)[0];
    assert(/\[ERROR\] +host\.sh: handler failed:/.test(failed), failed);
    assert(failed.includes('error="the handler exploded"'), failed);
    assert(failed.includes("method=/proto.KV/Get"), failed);
    assert(/\n +\| Error: the handler exploded\n +\| +at .*plugin\.ts/.test(failed), failed);
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    await assertNothingLeft(dir);
  });
});

Deno.test("messages far above grpc-js's 4 MiB default pass both ways (16 MiB put and get)", async () => {
  await withTempDir(async (dir) => {
    const r = await host(dir, [], ["roundtrip", "big", `${16 << 20}`]);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    assert(Number(r.result.value) > 16 << 20, r.result.value);
  });
});

Deno.test("a message over the configured limit is a clean RESOURCE_EXHAUSTED; the plugin stays healthy", async () => {
  await withTempDir(async (dir) => {
    const limit = 1 << 20;
    const ok = await host(dir, [`--max-message-bytes=${limit}`], [
      "roundtrip",
      "fits",
      `${limit - 64}`,
    ]);
    assert(ok.result.ok, `${ok.result.error}\n${ok.stderr}`);
    const over = await host(dir, [`--max-message-bytes=${limit}`], [
      "roundtrip",
      "big",
      `${limit + 1}`,
    ]);
    assert(!over.result.ok, "a message over the limit was accepted");
    assert(/code = ResourceExhausted/.test(over.result.error), over.result.error);
    assert(!over.stderr.includes("plugin failed to exit gracefully"), over.stderr);
    await assertNothingLeft(dir);
  });
});

Deno.test("clients that connect and leave, send garbage, or speak HTTP/1 do not disturb the others", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    const bin = await buildGo("host");
    const child = new Deno.Command(bin, {
      args: ["-cmd", denoRunLine(FIXTURE, [dir], ["--delay-ms=5"]), "calls", "600", "2", "k"],
      cwd: dir,
      env: { TMPDIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new OutputWatch(child.stderr);
    let hostDone = false;
    const status = child.status.finally(() => (hostDone = true));
    // The pokes go in while the host's calls run: once the first is in the handler.
    await stderr.until((t) => t.includes(IN_HANDLER), "a call in the handler");
    const [name] = socketFiles(dir);
    assert(name, "the plugin serves calls but has no socket file");
    const path = `${dir}/${name}`;
    const poke = async (bytes?: Uint8Array) => {
      const conn = await Deno.connect({ transport: "unix", path });
      try {
        if (bytes) {
          await conn.write(bytes);
          await conn.read(new Uint8Array(4096)).catch(() => null);
        }
      } finally {
        conn.close();
      }
    };
    // go-plugin's reattach probe: connect and close at once.
    for (let i = 0; i < 5; i++) await poke();
    await poke(crypto.getRandomValues(new Uint8Array(512)));
    await poke(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await poke(new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\xff".repeat(64)));
    // Else the pokes proved nothing about the calls (600 of 5 ms, 2 at a time, last >= 1.5 s).
    assert(!hostDone, "the host's calls were over before the pokes were: make them last longer");
    const [stdout, err] = await Promise.all([new Response(child.stdout).text(), stderr.done]);
    await status;
    const result = JSON.parse(stdout);
    assert(result.ok, `${result.error} ${result.first_error}\n${err}`);
    assertEquals([result.calls, result.errors], [600, 0]);
    await assertNothingLeft(dir);
  });
});

Deno.test("rate limit: calls over the burst get RESOURCE_EXHAUSTED, health and Shutdown still work", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    const r = await host(dir, ["--rate=0.01", "--burst=3"], ["gets", "k", "k", "k", "k", "k"]);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    const errs = r.result.gets!.map((g) => g.error);
    assertEquals(errs.slice(0, 3), ["", "", ""]);
    for (const e of errs.slice(3)) {
      assert(/code = ResourceExhausted desc = rate limit exceeded for \/proto.KV\/Get/.test(e), e);
    }
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    const ping = await host(dir, ["--rate=0.01", "--burst=1"], ["ping"]);
    assert(ping.result.ok, ping.result.error);
    await assertNothingLeft(dir);
  });
});
