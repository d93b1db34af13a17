/**
 * Faults on the wire, with the real Go host: misbehaving handlers, messages
 * at and over the size limit.
 */

import { assertNothingLeft, hostFixture } from "../_util/fixture.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";

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
    assert(
      /\[WARN\] +host\.sh: handler failed: .*error="the handler exploded"/.test(r.stderr),
      "the failure was not logged",
    );
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
