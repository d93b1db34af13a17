/**
 * The host's broker listeners (`plugin.broker.acceptAndServe()` serves on
 * them) bound what the messages still arriving hold, as the plugin's do:
 * `hostBrokerListen()` with a 256 KiB `maxPartialMessageBytes` and the Echo
 * service, a raw HTTP/2 client on its socket. One stream alone (a bidi call)
 * sends half of a 3 MiB request, far past the budget: allowed; a second
 * stream's first 1 KiB of another is refused with RESOURCE_EXHAUSTED naming
 * the option and its value. The server role in full:
 * tests/rpc/partial_budget_server_test.ts.
 *
 * @module
 */

import { hostBrokerListen } from "../../host/broker_listener.ts";
import { createLogger } from "../../log/logger.ts";
import { percentDecode } from "../../rpc/wire.ts";
import { Status } from "../../rpc/status.ts";
import { echoService } from "../fixtures/echo.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";
import * as raw from "../rpc/_partial_budget.ts";
import { withRawConnection } from "../rpc/_budget_peers.ts";

const { BUDGET, CHAT_PATH, FIRST_PART, LARGE, LATER_PATH, SMALL_PART } = raw;
const { concat, header, headersFrame, messageFrames, requestHeaders, statusOf, writeAll } = raw;

Deno.test("host broker listener: maxPartialMessageBytes bounds the requests still arriving", () =>
  withTempDir(async (dir) => {
    const listen = hostBrokerListen({
      dir,
      maxMessageBytes: 4 << 20,
      maxPartialMessageBytes: BUDGET,
      logger: createLogger({ level: "off" }),
    });
    const listener = await listen([echoService()]);
    try {
      await withRawConnection(listener.address, async (sock, reader) => {
        /** Sends `frames` and a PING; resolves once its ACK says they were all handled. */
        const step = async (what: string, ...frames: Uint8Array[]) => {
          reader.frames = [];
          await writeAll(sock, concat(...frames, raw.PING));
          await reader.until(raw.pingAcked, `the PING ACK after ${what}`);
        };
        await step(
          "stream 1's half",
          headersFrame(1, requestHeaders(CHAT_PATH)),
          messageFrames(1, LARGE, 0, 5 + FIRST_PART),
        );
        assertEquals(statusOf(reader.frames, 1), undefined, "stream 1 alone was refused");
        await step(
          "stream 3's start",
          headersFrame(3, requestHeaders(LATER_PATH)),
          messageFrames(3, LARGE, 0, 5 + SMALL_PART),
        );
        const refused = statusOf(reader.frames, 3);
        assert(refused, "stream 3 was not refused though stream 1 holds 12 times the budget");
        assertEquals(header(refused.headers, "grpc-status"), String(Status.RESOURCE_EXHAUSTED));
        const message = percentDecode(header(refused.headers, "grpc-message") ?? "");
        assert(/maxPartialMessageBytes \(262144 bytes\)/.test(message), message);
      });
    } finally {
      await listener.close();
    }
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [], "the socket was left behind");
  }));
