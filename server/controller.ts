/**
 * `plugin.GRPCController`: the host's Shutdown call. We answer at once and
 * then stop, so the host never waits its 2 s kill timeout.
 *
 * @module
 */

import { GRPCControllerDefinition } from "../gen/plugin/grpc_controller_pb.ts";
import { fromTsProto, implement, type ServiceImplementation } from "./service.ts";

/**
 * Builds the controller service.
 *
 * @param onShutdown Called after the reply is queued.
 * @returns The service implementation.
 */
export function controllerService(onShutdown: () => void): ServiceImplementation {
  return implement(fromTsProto(GRPCControllerDefinition), {
    shutdown: () => {
      setTimeout(onShutdown, 0);
      return {};
    },
  });
}
