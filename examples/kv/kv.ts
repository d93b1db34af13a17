/**
 * The KV service of go-plugin's `examples/grpc`, implemented on files:
 * `Put` writes `kv_<key>` in the current directory holding
 * `<value>\n\nWritten from plugin-deno`; `Get` returns that file's bytes.
 *
 * @module
 */

import { fromTsProto, implement, RpcError, type ServiceImplementation, Status } from "../../mod.ts";
import { KVDefinition } from "./gen/kv_pb.ts";

const SUFFIX = new TextEncoder().encode("\n\nWritten from plugin-deno");

/** Options of {@linkcode kvService}. */
export interface KvOptions {
  /** Delay every call by this many milliseconds (tests of in-flight calls). */
  delayMs?: number;
}

/**
 * Builds the KV service.
 *
 * @param options Test knobs.
 * @returns The implementation to pass to `serve()`.
 */
export function kvService(options: KvOptions = {}): ServiceImplementation {
  const pause = () =>
    options.delayMs ? new Promise((r) => setTimeout(r, options.delayMs)) : Promise.resolve();
  return implement(fromTsProto(KVDefinition), {
    async get(req) {
      if (options.delayMs) await pause();
      try {
        // Synchronous: a small file reads faster than an async op round trip.
        return { value: Deno.readFileSync(`kv_${req.key}`) };
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new RpcError(Status.NOT_FOUND, `no value stored for key "${req.key}"`);
        }
        throw err;
      }
    },
    async put(req) {
      if (options.delayMs) await pause();
      const data = new Uint8Array(req.value.length + SUFFIX.length);
      data.set(req.value);
      data.set(SUFFIX, req.value.length);
      Deno.writeFileSync(`kv_${req.key}`, data);
      return {};
    },
  });
}
