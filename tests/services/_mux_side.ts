/**
 * One side of the in-memory multiplexed broker tests: a {@linkcode Broker}
 * in multiplexed mode on a yamux session over one end of a pipe, serving
 * brokered ids on native engines; and the knock the other side would send.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { Broker, type BrokerConnInfo, multiplexBroker } from "../../services/broker.ts";
import { BrokerMux } from "../../services/broker_mux.ts";
import type { YamuxConn, YamuxSession } from "../../mux/yamux.ts";

/** A multiplexed broker on `conn`, as the host (`client`) or the plugin (`server`). */
export function muxSide(
  role: "client" | "server",
  conn: YamuxConn,
  logger: Logger,
): { broker: Broker; session: YamuxSession } {
  const program = role === "client" ? "the host" : "the plugin";
  const broker = new Broker({
    listen: () => Promise.reject(new Error("multiplexed: no listener")),
    maxMessageBytes: 4 << 20,
    logger,
    program,
  });
  const mux = new BrokerMux({
    engine: (services) => {
      const e = createNativeEngine({ maxMessageBytes: 4 << 20, logger });
      for (const s of services) e.addService(s);
      return e;
    },
    maxMessageBytes: 4 << 20,
    logger,
    program,
  });
  const session = mux.start(conn, role);
  multiplexBroker(broker, mux);
  return { broker, session };
}

/** The knock a multiplexed dial of `id` sends. */
export const knock = (id: number): BrokerConnInfo => ({
  serviceId: id,
  network: "",
  address: "",
  knock: { knock: true, ack: false, error: "" },
});
