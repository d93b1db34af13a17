/**
 * Errors with details and trailers against grpc-go, both ways:
 *
 * - our plugin's handler (tests/fixtures/plugin.ts, Get of `!details`, on
 *   `RPCPLUGIN_TEST_ENGINE`'s engine) throws an RpcError with metadata and a
 *   google.rpc.ErrorInfo detail; our go-plugin v1.8 Go host reads them with
 *   `status.FromError(err).Details()` and `grpc.Trailer`, and shows the
 *   handler's `call.logger` line with its method field;
 * - our host role (`launch()`) calls a go-plugin Go plugin of ours
 *   (tests/interop/brokerpeer) whose handler returns a grpc-go status made
 *   with `WithDetails` and sets trailers; our RpcError has them in
 *   `.details` and `.metadata`;
 * - the handler's `call.signal` under grpc-go's host: aborted with
 *   DEADLINE_EXCEEDED when the Go call's deadline passes, CANCELLED when
 *   the Go side cancels it, and `call.ended` resolves after.
 */

import { fromTsProto } from "../../mod.ts";
import { launch } from "../../host/mod.ts";
import { CounterDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { decodeStatusDetails } from "../../rpc/status_details.ts";
import { assertNothingLeft, hostFixture, TEST_ENGINE } from "../_util/fixture.ts";
import { buildGo } from "../_util/go.ts";
import { decodeErrorInfo, ERROR_INFO_TYPE } from "../_util/error_info.ts";
import { assert, assertEquals, waitNoProcesses, withTempDir } from "../_util/host.ts";

Deno.test(`status details: grpc-go's host reads our handler's RpcError details and trailers (${TEST_ENGINE})`, async () => {
  await withTempDir(async (dir) => {
    const r = await hostFixture(dir, ["status", "!details"], ["--faulty"]);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    const st = r.result.status!;
    assertEquals([st.code, st.message], [Status.FAILED_PRECONDITION, "not ready"]);
    assertEquals(st.details, [{
      type: "google.rpc.ErrorInfo",
      reason: "COLD",
      domain: "rpcplugin.test",
      metadata: { k: "v" },
    }]);
    assertEquals(st.trailers["x-why"], ["warming up"]);
    assertEquals(st.trailers["x-why-bin"], [btoa("\x00\x01\xff")]);
    // The handler's call.logger line, re-logged by go-plugin with the method field.
    const line = r.stderr.split("\n").find((l) => l.includes("refusing the key"));
    assert(line && /\[WARN\] +host\.sh: refusing the key:/.test(line), r.stderr);
    assert(line.includes("method=/proto.KV/Get"), line);
    await assertNothingLeft(dir);
  });
});

Deno.test("status details: our host reads a grpc-go plugin's status details and trailers", async () => {
  await withTempDir(async (dir) => {
    const exe = `${dir}/brokerpeer`;
    await Deno.copyFile(await buildGo("brokerpeer"), exe);
    await Deno.chmod(exe, 0o755);
    const lines: string[] = [];
    const plugin = await launch({
      cmd: [exe, "plugin"],
      cwd: dir,
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
      unixSocket: { dir },
      logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    });
    let error: unknown;
    try {
      await plugin.client(fromTsProto(CounterDefinition)).get({ key: "!status" }, {
        timeoutMs: 10_000,
      });
    } catch (err) {
      error = err;
    } finally {
      await plugin.kill();
    }
    assert(error instanceof RpcError, `${error}\n${lines.join("")}`);
    assertEquals([error.code, error.message], [Status.FAILED_PRECONDITION, "not ready"]);
    assertEquals(error.metadata["x-why"], ["warming up"]);
    assertEquals(error.metadata["x-why-bin"], [new Uint8Array([0, 1, 255])]);
    assert(error.details, "no details");
    const status = decodeStatusDetails(error.details);
    assertEquals([status.code, status.message], [Status.FAILED_PRECONDITION, "not ready"]);
    assertEquals(status.details.map((d) => d.typeUrl), [ERROR_INFO_TYPE]);
    assertEquals(decodeErrorInfo(status.details[0].value), {
      reason: "COLD",
      domain: "brokerpeer.test",
      metadata: { k: "v" },
    });
    assertEquals(await waitNoProcesses(dir), []);
  });
});

for (
  const [what, flags, code] of [
    ["its deadline passes", ["-call-timeout", "300ms"], Status.DEADLINE_EXCEEDED],
    ["it cancels the call", ["-cancel-after", "300ms"], Status.CANCELLED],
  ] as const
) {
  Deno.test(`call.signal: grpc-go's host's call aborts it when ${what}, and ended follows (${TEST_ENGINE})`, async () => {
    await withTempDir(async (dir) => {
      const r = await hostFixture(dir, [...flags, "status", "!wait"], ["--faulty"]);
      assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
      assertEquals(r.result.status!.code, code, r.stderr);
      const aborted = r.stderr.split("\n").filter((l) => l.includes("call aborted"));
      assertEquals(aborted.length, 1, r.stderr);
      assert(aborted[0].includes(`code=${code}`), aborted[0]);
      assert(aborted[0].includes("method=/proto.KV/Get"), aborted[0]);
      assert(aborted[0].includes("had_deadline=true"), aborted[0]); // grpc-go always sends one
      assert(/host\.sh: call ended:/.test(r.stderr), r.stderr);
      await assertNothingLeft(dir);
    });
  });
}
