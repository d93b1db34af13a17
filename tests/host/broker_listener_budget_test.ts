/**
 * The host's broker listeners (`plugin.broker.acceptAndServe()` serves on
 * them) bound what the messages still arriving hold, as the plugin's do:
 * `hostBrokerListen()` with a 256 KiB `maxPartialMessageBytes` and the Echo
 * service, a raw HTTP/2 client on its socket. One stream alone (a bidi call)
 * sends half of a 3 MiB request, far past the budget: allowed; a second
 * stream's first 1 KiB of another is refused with RESOURCE_EXHAUSTED naming
 * the option, its value and the fix. The server role in full:
 * tests/rpc/partial_budget_server_test.ts.
 *
 * @module
 */

import { hostBrokerListen } from "../../host/broker_listener.ts";
import { createLogger } from "../../log/logger.ts";
import { echoService } from "../fixtures/echo.ts";
import { assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";
import * as raw from "../rpc/_partial_budget.ts";
import { withRawConnection } from "../rpc/_budget_peers.ts";

Deno.test("host broker listener: maxPartialMessageBytes bounds the requests still arriving", () =>
  withTempDir(async (dir) => {
    const listen = hostBrokerListen({
      dir,
      maxMessageBytes: 4 << 20,
      maxPartialMessageBytes: raw.BUDGET,
      logger: createLogger({ level: "off" }),
    });
    const listener = await listen([echoService()]);
    try {
      await withRawConnection(listener.address, raw.refusedBesideALargeOne);
    } finally {
      await listener.close();
    }
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [], "the socket was left behind");
  }));
