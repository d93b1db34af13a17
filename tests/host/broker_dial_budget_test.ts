/**
 * The connections the host's broker dials (`plugin.broker.dial(id)`, to
 * what the plugin serves through the broker) count the responses their
 * callers have not read toward `launch()`'s `maxPartialMessageBytes`, as
 * the host's connection to the plugin does, in plain mode and multiplexed
 * (go-plugin's `GRPCBrokerMultiplex`, over the host's own connection).
 * `launch()` of the fixture plugin with a 256 KiB budget; its Echo/Serve serves a second Echo through the
 * broker, and the host dials it. Two Drain calls there each send a 192 KiB
 * request and keep their requests open; the plugin answers each with its
 * request, and the host reads neither answer yet. The two answers pass the
 * budget together, so the host refuses the one that would pass it while the
 * other holds its own (RESOURCE_EXHAUSTED naming the option), and resets its
 * stream: that Drain's handler sees the cancellation, which Drained on the
 * same connection reports. The other call's answer is then read whole.
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
          const calls = [0, 1].map(() => echo.drain(held(), { timeoutMs: CALL_MS }));
          // One Drain's handler sees its call cancelled: the host refused its answer.
          assertEquals(
            await echo.drained("", { timeoutMs: CALL_MS }),
            "threw: call cancelled by the client",
          );
          const got: (string | RpcError)[] = [];
          for (const call of calls) {
            try {
              for await (const answer of call) {
                got.push(answer);
                break;
              }
            } catch (err) {
              if (!(err instanceof RpcError)) throw err;
              got.push(err);
            }
          }
          const refused = got.filter((g) => g instanceof RpcError) as RpcError[];
          assertEquals(refused.length, 1, `the calls gave ${got.map(String)}`);
          assertEquals(refused[0].code, Status.RESOURCE_EXHAUSTED, refused[0].message);
          assert(
            /maxPartialMessageBytes \(262144 bytes\).*raise/.test(refused[0].message),
            `the refusal's message does not name the option and its fix: ${refused[0].message}`,
          );
          assertEquals(got.filter((g) => typeof g === "string"), [`read: ${request}`]);
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
