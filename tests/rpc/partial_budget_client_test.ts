/**
 * The client role of `maxPartialMessageBytes`: `launch()` with a 256 KiB
 * budget runs a plugin that is a raw HTTP/2 server
 * (tests/fixtures/raw_partial_plugin.ts). Two calls: the plugin leaves half
 * of a 3 MiB response on the first stream (its whole buffer, far past the
 * budget: one alone is allowed) and 1 KiB of another on the second, then a
 * PING. The second call fails locally with RESOURCE_EXHAUSTED naming the
 * option, its stream reset with CANCEL before the host answers the PING
 * (the plugin reports which reset it saw in the first call's trailers); the
 * first response then completes and is delivered whole. Without the budget
 * the second call fails with INTERNAL instead (the plugin ends it inside
 * its message). The server role: partial_budget_server_test.ts.
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import { H2Error } from "../../h2/frame.ts";
import { EchoDefinition } from "../fixtures/echo.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { LARGE } from "./_partial_budget.ts";
import { withRawPlugin } from "./_budget_peers.ts";

Deno.test("client: calls of one connection together hold at most maxPartialMessageBytes of responses still arriving; one alone may hold a large one; the refused stream is reset", () =>
  withRawPlugin([], async (plugin) => {
    const echo = plugin.client(EchoDefinition);
    let trailers: Record<string, (string | Uint8Array)[]> = {};
    const first = echo.later("first", { onTrailers: (md) => (trailers = md) })
      .then((v) => v, (e) => e);
    const second = echo.later("second").then(() => null, (e) => e);
    const err = await second;
    assert(err instanceof RpcError, `the second call gave ${err}`);
    assertEquals(err.code, Status.RESOURCE_EXHAUSTED, err.message);
    assert(
      /maxPartialMessageBytes \(262144 bytes\).*raise/.test(err.message),
      `the refusal's message does not name the option and its fix: ${err.message}`,
    );
    const answer = await first;
    assertEquals(typeof answer === "string" ? answer.length : answer, LARGE);
    assertEquals(trailers["x-second-reset"], [String(H2Error.CANCEL)]);
  }));
