/**
 * Typed clients of a service: the same {@linkcode ServiceDefinition} a
 * plugin serves is what a host calls, with methods named as in the
 * definition.
 *
 * @module
 */

import type { CallOptions, Channel } from "./client_call.ts";
import type { MethodDefinition, ServiceDefinition } from "./service.ts";

/** The client function for one method definition. */
export type ClientMethod<D> = D extends MethodDefinition<infer Req, infer Res, infer K>
  ? K extends "unary" ? (request: Req, options?: CallOptions) => Promise<Res>
  : K extends "serverStream" ? (request: Req, options?: CallOptions) => AsyncIterable<Res>
  : K extends "clientStream" ? (
      requests: AsyncIterable<Req> | Iterable<Req>,
      options?: CallOptions,
    ) => Promise<Res>
  : (requests: AsyncIterable<Req> | Iterable<Req>, options?: CallOptions) => AsyncIterable<Res>
  : never;

/**
 * A client of a service: one function per method, by local method name.
 * Unary calls return a promise; server streams an async iterable; client
 * and bidirectional streams take an iterable (or async iterable) of requests.
 */
export type ServiceClient<S extends ServiceDefinition> = {
  [K in keyof S["methods"]]: ClientMethod<S["methods"][K]>;
};

/**
 * Makes the typed client of `definition` on `channel`.
 *
 * @param channel The connection.
 * @param definition The service.
 * @returns One function per method.
 */
export function serviceClient<S extends ServiceDefinition>(
  channel: Channel,
  definition: S,
): ServiceClient<S> {
  const client: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(definition.methods)) {
    const method = m as MethodDefinition<unknown, unknown>;
    switch (method.kind) {
      case "unary":
        client[name] = (req: unknown, o?: CallOptions) => channel.unary(method, req, o);
        break;
      case "serverStream":
        client[name] = (req: unknown, o?: CallOptions) => channel.serverStream(method, req, o);
        break;
      case "clientStream":
        client[name] = (reqs: Iterable<unknown>, o?: CallOptions) =>
          channel.clientStream(method, reqs, o);
        break;
      default:
        client[name] = (reqs: Iterable<unknown>, o?: CallOptions) =>
          channel.bidiStream(method, reqs, o);
    }
  }
  return client as ServiceClient<S>;
}
