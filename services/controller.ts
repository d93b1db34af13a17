/**
 * `plugin.GRPCController`: the host's Shutdown call. We answer at once and
 * then stop, so the host never waits its 2 s kill timeout.
 *
 * @module
 */

import { GRPCControllerDefinition } from "../gen/plugin/grpc_controller_pb.ts";
import { fromTsProto, implement, type ServiceImplementation } from "../rpc/service.ts";
import type { Channel } from "../rpc/client_call.ts";
import { type RpcError, Status } from "../rpc/status.ts";

/**
 * Builds the controller service.
 *
 * @param beforeReply Awaited before answering: lets calls in flight finish
 * (bounded, so the host's 2 s kill timer, which starts after the answer,
 * is never reached).
 * @param onShutdown Called as soon as the reply is out (handed to the transport).
 * @returns The service implementation.
 */
export function controllerService(
  beforeReply: () => Promise<unknown>,
  onShutdown: () => void,
): ServiceImplementation {
  return implement(fromTsProto(GRPCControllerDefinition), {
    shutdown: async (_req, call) => {
      await beforeReply();
      // At once when the answer is out: no timer stands between the reply and the stop.
      void call.ended.then(onShutdown);
      return {};
    },
  });
}

/**
 * The host's half: asks the plugin to shut down. A Go plugin stops its
 * server before it answers, so the connection closing (UNAVAILABLE or
 * CANCELLED) counts as success too.
 *
 * @param channel The connection to the plugin.
 * @param timeoutMs How long to wait for the answer.
 * @returns Whether the plugin accepted (answered, or hung up).
 */
export async function requestShutdown(channel: Channel, timeoutMs: number): Promise<boolean> {
  const shutdown = fromTsProto(GRPCControllerDefinition).methods.shutdown;
  try {
    await channel.unary(shutdown, {}, { timeoutMs });
    return true;
  } catch (err) {
    const code = (err as RpcError).code;
    return code === Status.UNAVAILABLE || code === Status.CANCELLED;
  }
}
