/**
 * The connections the host's broker dials (`plugin.broker.dial(id)`, to
 * what the plugin serves through the broker) count the responses their
 * callers have not read toward `launch()`'s `maxPartialMessageBytes`, as
 * the host's connection to the plugin does, in plain mode and multiplexed
 * (go-plugin's `GRPCBrokerMultiplex`, over the host's own connection).
 * `launch()` of the fixture plugin with a 256 KiB budget; its Echo/Serve serves a second Echo through the
 * broker, and the host dials it. A Drain call there sends a 192 KiB request
 * and keeps its requests open; the plugin answers with its request, which
 * the host does not read yet. Once that answer is whole, a second Drain does
 * the same: the two answers pass the budget together, so the host refuses
 * the second (RESOURCE_EXHAUSTED naming the cause, the option and the fix),
 * and resets its stream: its handler sees the cancellation, which Drained
 * on the same connection reports. The first call's answer is then read
 * whole.
 * The host's own connection: tests/rpc/unread_budget_client_test.ts.
 *
 * @module
 */

import { launch } from "../../host/launch.ts";
import { createLogger } from "../../log/logger.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { EchoDefinition } from "../fixtures/echo.ts";
import { BUDGET } from "../rpc/_partial_budget.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { socketFiles, waitNoProcesses, withTempDir } from "../_util/host.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";

/** Each Drain's request, and so its answer: two pass the 256 KiB budget, one does not. */
const REQUEST = 192 << 10;
const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
/** Far off: only so that a missing refusal fails the test instead of hanging it. */
const CALL_MS = 20_000;
/** Drained waits for a refusal: it gives up first, so that the test says what is missing. */
const DRAINED_MS = 10_000;

for (const mux of [false, true]) {
  Deno.test(`host broker dial${mux ? ", multiplexed" : ""}: maxPartialMessageBytes bounds the responses not yet read on a dialled connection`, () =>
    withTempDir(async (dir) => {
      const plugin = await launch({
        cmd: [DENO, "run", ...pluginFlags([dir]), ROOT + "tests/fixtures/plugin.ts"],
        handshake: HANDSHAKE,
        ...{ cwd: dir, unixSocket: { dir }, autoMtls: false, brokerMultiplex: mux },
        maxPartialMessageBytes: BUDGET,
        logger: createLogger({ level: "off" }),
      });
      const done = Promise.withResolvers<void>();
      try {
        assertEquals(plugin.broker.multiplexed, mux);
        const id = Number(await plugin.client(EchoDefinition).serve("", { timeoutMs: CALL_MS }));
        const conn = await plugin.broker.dial(id);
        try {
          const echo = conn.client(EchoDefinition);
          const request = "a".repeat(REQUEST);
          const held = async function* () {
            yield request;
            await done.promise;
          };
          // The second call starts once the first one's answer is whole and unread: what
          // holds the budget then is a message not yet read, not one still arriving.
          const firstWhole = Promise.withResolvers<void>();
          const first = echo.drain(held(), {
            timeoutMs: CALL_MS,
            onResponseMessage: () => firstWhole.resolve(),
          });
          await firstWhole.promise;
          const second = echo.drain(held(), { timeoutMs: CALL_MS });
          // Its handler sees its call cancelled: the host refused its answer.
          const said = await echo.drained("", { timeoutMs: DRAINED_MS }).catch((err) => {
            throw new Error(
              `no Drain call was refused (${err}): does the dialled connection count the ` +
                "first answer, unread, toward maxPartialMessageBytes?",
            );
          });
          assertEquals(said, "threw: call cancelled by the client");
          let refused: unknown;
          try {
            for await (const _ of second) throw new Error("the second call gave its answer");
          } catch (err) {
            refused = err;
          }
          assert(refused instanceof RpcError, `the second call gave ${refused}`);
          assertEquals(refused.code, Status.RESOURCE_EXHAUSTED, refused.message);
          assert(
            /not yet read.*maxPartialMessageBytes \(262144 bytes\).*raise/.test(refused.message),
            `the refusal's message does not name the cause, the option and its fix: ${refused.message}`,
          );
          // The first one's answer, held past the refusal, is read whole.
          for await (const answer of first) {
            assertEquals(answer, `read: ${request}`);
            break;
          }
        } finally {
          done.resolve();
          conn.close();
        }
      } finally {
        await plugin.kill();
      }
      assertEquals((await plugin.exited).forced, false);
      assertEquals(await waitNoProcesses(dir), []);
      assertEquals(socketFiles(dir), []);
    }));
}
