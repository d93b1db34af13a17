/**
 * The client role of gzip_budget_server_test.ts: a gzip-compressed response
 * counts toward `maxPartialMessageBytes` by what it decompresses to, until the
 * caller takes it. `launch()` with a 256 KiB budget runs a raw HTTP/2 plugin
 * (tests/fixtures/raw_partial_plugin.ts `--gzip`) that answers two Echo/Chat
 * calls with a 1 MiB response each, sent as 1 KiB of gzip, and leaves both
 * streams open; nothing reads them yet. The one decompressed first is held
 * (one alone may: four times the budget); the other call fails with
 * RESOURCE_EXHAUSTED naming the option, its stream reset with CANCEL, which
 * the plugin reports in the other call's trailers once it sees the reset.
 * Then the held call gives its 1 MiB message and ends well.
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import { H2Error } from "../../h2/frame.ts";
import { EchoDefinition } from "../fixtures/echo.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withRawPlugin } from "./_budget_peers.ts";

Deno.test("client: gzip responses count toward maxPartialMessageBytes by their decompressed size until the caller takes them", () =>
  withRawPlugin(["--gzip"], async (plugin) => {
    const echo = plugin.client(EchoDefinition);
    const said = Promise.withResolvers<string>();
    const onTrailers = (md: Record<string, (string | Uint8Array)[]>) =>
      said.resolve(String(md["x-reset"]?.[0]));
    const calls = [echo.chat([], { onTrailers }), echo.chat([], { onTrailers })];
    // The plugin ends the call it did not see reset, saying which it saw.
    const reset = await said.promise;
    const m = /^(first|second) (\d+)$/.exec(reset);
    assert(m, `the plugin saw no reset of either call (${reset}): neither was refused`);
    assertEquals(Number(m[2]), H2Error.CANCEL);
    const refused = m[1] === "first" ? 0 : 1;
    const got: (string[] | unknown)[] = [];
    for (const call of calls) {
      const out: string[] = [];
      try {
        for await (const msg of call) out.push(msg);
        got.push(out);
      } catch (err) {
        got.push(err);
      }
    }
    const err = got[refused];
    assert(err instanceof RpcError, `the refused call gave ${err}`);
    assertEquals(err.code, Status.RESOURCE_EXHAUSTED, err.message);
    assert(
      /maxPartialMessageBytes \(262144 bytes\).*raise/.test(err.message),
      `the refusal's message does not name the option and its fix: ${err.message}`,
    );
    const held = got[1 - refused] as string[];
    assertEquals(held.map((s) => s.length), [1 << 20]);
  }));
