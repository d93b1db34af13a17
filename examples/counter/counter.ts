/**
 * The Counter service of go-plugin's `examples/bidirectional`, in Deno: `Put`
 * dials the host's AddHelper through the broker (the id is in
 * `PutRequest.add_server`), asks it for stored + value, and stores the sum
 * in file `kv_<key>` as JSON `{"Value":n}`; `Get` reads it back (0 when
 * missing). Also, as our own addition for the broker's other direction, Get
 * of the key `!serve` serves AddHelper through the broker and answers with
 * its id, for the host to dial.
 *
 * @module
 */

import { fromTsProto, implement, RpcError, type ServiceImplementation, Status } from "../../mod.ts";
import { AddHelperDefinition, CounterDefinition } from "./gen/counter_pb.ts";

/** The key whose Get makes the plugin serve AddHelper through the broker. */
export const SERVE_KEY = "!serve";

const addHelperDef = fromTsProto(AddHelperDefinition);

// File I/O is synchronous: small files read faster than an async op round trip.
function stored(key: string): bigint {
  try {
    const { Value } = JSON.parse(Deno.readTextFileSync(`kv_${key}`));
    return BigInt(Value);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0n;
    throw err;
  }
}

/** AddHelper: a + b. */
export const addHelperService: ServiceImplementation = implement(addHelperDef, {
  sum: (req) => ({ r: req.a + req.b }),
});

/**
 * The Counter service.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@rpcplugin/rpcplugin";
 * await serve({ handshake, services: [counterService()] });
 * ```
 *
 * @returns The implementation for `serve()`.
 */
export function counterService(): ServiceImplementation {
  return implement(fromTsProto(CounterDefinition), {
    async get(req, call) {
      if (req.key === SERVE_KEY) {
        const id = call.broker.nextId();
        await call.broker.acceptAndServe(id, [addHelperService]);
        return { value: BigInt(id) };
      }
      return { value: stored(req.key) };
    },
    async put(req, call) {
      if (!req.addServer) {
        throw new RpcError(Status.INVALID_ARGUMENT, "add_server must name the host's AddHelper");
      }
      const conn = await call.broker.dial(req.addServer);
      try {
        const a = stored(req.key);
        const { r } = await conn.client(addHelperDef).sum({ a, b: req.value }, { timeoutMs: 5000 });
        // JSON numbers: go-plugin's example writes {"Value":n} with encoding/json.
        Deno.writeTextFileSync(`kv_${req.key}`, `{"Value":${r}}`);
        return {};
      } finally {
        conn.close();
      }
    },
  });
}
