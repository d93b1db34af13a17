/**
 * `plugin.GRPCController`: the host's Shutdown call. We answer at once and
 * then stop, so the host never waits its 2 s kill timeout.
 *
 * @module
 */

import { after } from "../_timer.ts";
import { GRPCControllerDefinition } from "../gen/plugin/grpc_controller_pb.ts";
import { fromTsProto, implement, type ServiceImplementation } from "../rpc/service.ts";

/**
 * Builds the controller service.
 *
 * @param beforeReply Awaited before answering: lets calls in flight finish
 * (bounded, so the host's 2 s kill timer, which starts after the answer,
 * is never reached).
 * @param onShutdown Called after the reply is queued.
 * @returns The service implementation.
 */
export function controllerService(
  beforeReply: () => Promise<unknown>,
  onShutdown: () => void,
): ServiceImplementation {
  return implement(fromTsProto(GRPCControllerDefinition), {
    shutdown: async () => {
      await beforeReply();
      after(1, onShutdown);
      return {};
    },
  });
}
