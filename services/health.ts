/**
 * `grpc.health.v1.Health`: SERVING for `plugin` (what go-plugin's
 * `Client.Ping()` asks), for `""`, and for every service the plugin serves.
 *
 * @module
 */

import { HEALTH_SERVICE_NAME } from "../constants.ts";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthDefinition,
} from "../gen/grpc/health/v1/health_pb.ts";
import { fromTsProto, implement, type ServiceImplementation } from "../rpc/service.ts";
import { RpcError, Status } from "../rpc/status.ts";
import type { CallOptions, Channel } from "../rpc/client_call.ts";

/**
 * Builds the health service. `Check` answers SERVING for known services (NOT_FOUND for
 * others), NOT_SERVING once the server stops. `Watch` follows the gRPC
 * health-checking spec: the current status at once (SERVICE_UNKNOWN for a
 * service it does not know, without ending the call), then NOT_SERVING when
 * the server stops, which also ends the stream.
 *
 * @param serviceNames Full names of the app services (also reported SERVING).
 * @param stopping Aborted when the server stops: ends `Watch` streams.
 * @returns The service implementation.
 */
export function healthService(
  serviceNames: readonly string[],
  stopping: AbortSignal,
): ServiceImplementation {
  const serving = new Set(["", HEALTH_SERVICE_NAME, ...serviceNames]);
  const NOT_SERVING = { status: ServingStatus.NOT_SERVING };
  return implement(fromTsProto(HealthDefinition), {
    check: (req) => {
      if (!serving.has(req.service)) {
        throw new RpcError(Status.NOT_FOUND, `unknown service "${req.service}"`);
      }
      return stopping.aborted ? NOT_SERVING : { status: ServingStatus.SERVING };
    },
    watch: async function* (req, call) {
      if (stopping.aborted) return yield NOT_SERVING;
      const known = serving.has(req.service);
      yield { status: known ? ServingStatus.SERVING : ServingStatus.SERVICE_UNKNOWN };
      const { signal } = call;
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      signal.addEventListener("abort", wake);
      stopping.addEventListener("abort", wake);
      try {
        if (!signal.aborted && !stopping.aborted) await woken;
      } finally {
        signal.removeEventListener("abort", wake);
        stopping.removeEventListener("abort", wake);
      }
      if (!signal.aborted) yield NOT_SERVING;
    },
  });
}

/**
 * The host's half: asks the plugin's health service about `plugin`, as
 * go-plugin's `Client.Ping()` does.
 *
 * @param channel The connection to the plugin.
 * @param options Deadline and cancellation of the call.
 * @throws {RpcError} When the call fails, or NOT_SERVING/UNKNOWN is answered (as UNAVAILABLE).
 */
export async function checkHealth(channel: Channel, options: CallOptions = {}): Promise<void> {
  const check = fromTsProto(HealthDefinition).methods.check;
  const res = await channel.unary(check, { service: HEALTH_SERVICE_NAME }, options) as {
    status: ServingStatus;
  };
  if (res.status !== ServingStatus.SERVING) {
    throw new RpcError(
      Status.UNAVAILABLE,
      `the plugin's health service answers ${
        ServingStatus[res.status] ?? res.status
      } for "${HEALTH_SERVICE_NAME}"`,
    );
  }
}
