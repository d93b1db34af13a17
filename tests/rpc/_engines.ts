/**
 * Handlers on both engines, called by our client: a text codec and method
 * maker for small test services, the engines, and a server on a loopback
 * TCP port or a unix socket (plaintext or TLS) with a client connected.
 *
 * @module
 */

import { connect } from "../../rpc/connect.ts";
import type { ClientTls } from "../../rpc/connect.ts";
import type { Channel } from "../../rpc/client_call.ts";
import { createLogger, type Logger } from "../../log/logger.ts";
import type {
  CallKind,
  Codec,
  MethodDefinition,
  ServiceImplementation,
} from "../../rpc/service.ts";
import type { EngineFactory, ServerTls } from "../../server/engine.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { grpcJsEngine } from "../../server/engines/grpcjs.ts";
import { RpcError } from "../../rpc/status.ts";
import { assert, withTempDir } from "../_util/host.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Strings as UTF-8 messages. */
export const text: Codec<string> = { encode: (s) => enc.encode(s), decode: (b) => dec.decode(b) };

/** A method of `service` taking and returning text. */
export function textMethod<K extends CallKind>(
  service: string,
  name: string,
  kind: K,
): MethodDefinition<string, string, K> {
  return { path: `/${service}/${name}`, kind, request: text, response: text };
}

/** Both engines, by name. */
export const ENGINES: Record<string, EngineFactory> = {
  native: createNativeEngine,
  "grpc-js": grpcJsEngine,
};

/** Where the server listens and how. */
export interface ServerOptions {
  /** @default {"tcp"} (127.0.0.1) */
  network?: "unix" | "tcp";
  /** TLS on both ends. */
  tls?: { server: ServerTls; client: ClientTls };
  /** The engine's logger. @default {one that drops every line} */
  logger?: Logger;
  /** The server's message limit (the client's stays 4 MiB). @default {4 MiB} */
  maxMessageBytes?: number;
}

/** A server with a client connected. */
export interface TestServer {
  /** The client's connection. */
  channel: Channel;
  /** Stops the server at once (no grace). */
  stopHard(): Promise<void>;
}

/** Runs `fn` with `service` served by `engine` and a client connected; cleans up after. */
export async function withServer(
  engine: EngineFactory,
  service: ServiceImplementation,
  fn: (server: TestServer) => Promise<void>,
  options: ServerOptions = {},
): Promise<void> {
  const network = options.network ?? "tcp";
  await withTempDir(async (dir) => {
    const server = engine({
      maxMessageBytes: options.maxMessageBytes ?? 4 << 20,
      logger: options.logger ?? createLogger({ level: "off", write: () => {} }),
    });
    server.addService(service);
    const path = `${dir}/plugin.sock`;
    const port = await server.bind(
      network,
      network === "unix" ? path : "127.0.0.1:0",
      options.tls?.server,
    );
    let stopped: Promise<void> | null = null;
    const stop = (graceMs: number) => (stopped ??= server.shutdown(graceMs));
    let channel: Channel | undefined;
    try {
      channel = await connect({
        network,
        address: network === "unix" ? path : `127.0.0.1:${port}`,
        tls: options.tls?.client,
        maxMessageBytes: 4 << 20,
        timeoutMs: 5000,
      });
      await fn({ channel, stopHard: () => stop(0) });
    } finally {
      channel?.close();
      await stop(1000);
    }
  });
}

/** The RpcError a call fails with; throws if it succeeds or fails otherwise. */
export async function rejects(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert(err instanceof RpcError, `not an RpcError: ${err}`);
    return err;
  }
  throw new Error("the call succeeded");
}
