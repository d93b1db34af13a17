/**
 * The client role of unread_budget_server_test.ts: a response counts toward
 * `maxPartialMessageBytes` until the caller takes it, a gzip-compressed one
 * by what it decompresses to. `launch()` with a 256 KiB budget runs a raw
 * HTTP/2 plugin (tests/fixtures/raw_partial_plugin.ts `--unread=`) that
 * answers two Echo/Chat calls with a response each (gzip: 1 MiB sent as
 * 1 KiB; whole: 192 KiB uncompressed) and leaves both streams open; nothing
 * reads them yet. The one received first is held (one alone may, past the
 * budget); the other call fails with RESOURCE_EXHAUSTED naming the option,
 * its stream reset with CANCEL, which the plugin reports in the other
 * call's trailers once it sees the reset. Then the held call gives its
 * message and ends well. And a streaming call's responses nobody reads hold
 * the plugin's window back once 1 MiB of them waits, and give it back once
 * read (`--unread=window`: the plugin reports the window it got back for
 * three of 1 MiB, on a second call before they are read and on theirs
 * after).
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import { H2Error } from "../../h2/frame.ts";
import { STREAM_WINDOW, STREAM_WINDOW_STEP } from "../../h2/connection.ts";
import { EchoDefinition } from "../fixtures/echo.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withRawPlugin } from "./_budget_peers.ts";

/** The raw plugin's two unread responses, `form` gzip or whole, and the held one's length. */
const heldUntilTaken = (form: string, length: number) =>
  withRawPlugin([`--unread=${form}`], async (plugin) => {
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
    assertEquals(held.map((s) => s.length), [length]);
  });

Deno.test("client: gzip responses count toward maxPartialMessageBytes by their decompressed size until the caller takes them", () =>
  heldUntilTaken("gzip", 1 << 20));

Deno.test("client: whole uncompressed responses count toward maxPartialMessageBytes until the caller takes them", () =>
  heldUntilTaken("whole", 192 << 10));

Deno.test("client: a streaming call's unread responses hold the server's window back past 1 MiB, and give it back once read", () =>
  withRawPlugin(["--unread=window"], async (plugin) => {
    // What the check needs of the h2 layer: the three responses fit the window the host
    // grants at the start, and it gives consumed bytes back in steps of at most one.
    assert(3 * (5 + (1 << 20)) <= STREAM_WINDOW, `a stream window of ${STREAM_WINDOW} bytes`);
    assert(STREAM_WINDOW_STEP <= 1 << 20, `a window step of ${STREAM_WINDOW_STEP} bytes`);
    const echo = plugin.client(EchoDefinition);
    const granted = (said: PromiseWithResolvers<number>) => ({
      onTrailers: (md: Record<string, (string | Uint8Array)[]>) =>
        said.resolve(Number(md["x-granted"]?.[0])),
    });
    const before = Promise.withResolvers<number>();
    const after = Promise.withResolvers<number>();
    const call = echo.chat([], granted(after));
    const told = echo.chat([], { ...granted(before), metadata: { "x-told": "1" } });
    // The plugin has sent three 1 MiB responses on the first call, and says on the
    // other (x-told) what window came back for them.
    for await (const _ of told) throw new Error("the second call answered with a message");
    const held = await before.promise;
    assert(
      held < 2 << 20,
      `the host gave back ${held} bytes of window for three 1 MiB responses nobody read`,
    );
    const got: number[] = [];
    for await (const msg of call) got.push(msg.length);
    assertEquals(got, [1 << 20, 1 << 20, 1 << 20]);
    // Read, they gave the window back: all of it, before the plugin's 20 s fail-safe.
    const sent = 3 * (5 + (1 << 20));
    const back = await after.promise;
    assert(back >= sent, `the host gave back ${back} of the ${sent} bytes once it read them`);
  }));
