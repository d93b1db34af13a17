/**
 * `plugin.GRPCBroker`: the stream on which host and plugin tell each other
 * where extra gRPC servers listen (callbacks). The host opens it right after
 * connecting, as go-plugin's does; brokered connections themselves are a
 * later piece of work, so this side only keeps the stream open and ignores
 * what arrives. Plugins without the service are fine.
 *
 * @module
 */

import { type ConnInfo, GRPCBrokerDefinition } from "../gen/plugin/grpc_broker_pb.ts";
import type { Logger } from "../log/logger.ts";
import type { Channel } from "../rpc/client_call.ts";
import { fromTsProto } from "../rpc/service.ts";

/** Requests that never come: the host sends no ConnInfo yet, and ends when `signal` aborts. */
function nothingUntil(signal: AbortSignal): AsyncIterable<ConnInfo> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise<IteratorResult<ConnInfo>>((resolve) => {
          const done = () => resolve({ done: true, value: undefined });
          if (signal.aborted) return done();
          signal.addEventListener("abort", done, { once: true });
        }),
    }),
  };
}

/**
 * The host's half: opens `GRPCBroker/StartStream` and keeps it open until
 * `signal` aborts. Errors (a plugin without a broker) are logged at DEBUG,
 * as go-plugin does.
 *
 * @param channel The connection to the plugin.
 * @param logger Where the stream's end is logged.
 * @param signal Closes the stream.
 */
export async function openBrokerStream(
  channel: Channel,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const startStream = fromTsProto(GRPCBrokerDefinition).methods.startStream;
  try {
    for await (const item of channel.bidiStream(startStream, nothingUntil(signal), { signal })) {
      const info = item as ConnInfo;
      logger.debug("broker connection info ignored: brokered connections are not supported yet", {
        service_id: info.serviceId,
      });
    }
  } catch (err) {
    if (!signal.aborted) {
      logger.debug("plugin broker stream ended", { error: (err as Error).message });
    }
  }
}
