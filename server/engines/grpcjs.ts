/**
 * The grpc-js engine: runs our service definitions on `npm:@grpc/grpc-js`,
 * the reference gRPC implementation for JavaScript. `serve()` uses the
 * native engine unless given this one; importing this entry point is what
 * loads grpc-js.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@rpcplugin/rpcplugin";
 * import { grpcJsEngine } from "@rpcplugin/rpcplugin/grpc-js";
 * await serve({ handshake: { magicCookieKey: "K", magicCookieValue: "V" }, engine: grpcJsEngine });
 * ```
 *
 * @module
 */

import "./_preflight.ts";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { format } from "node:util";
import type { Network } from "../../constants.ts";
import type { Logger } from "../../log/logger.ts";
import type { Engine, EngineOptions, ServerTls } from "../engine.ts";
import type { CallContext, ServiceImplementation } from "../../rpc/service.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { type AnyMethod, decodeRequest, encodeResponse, statusOf } from "../../rpc/handler.ts";
/** The parts of a grpc-js call the adapters use. */
interface Call {
  on(event: "cancelled", listener: () => void): unknown;
  readonly metadata: grpc.Metadata;
}

const identity = (b: Buffer): Buffer => b;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

let loggerRouted = false;

/** Routes grpc-js's own log output into our logger, once per process. */
function routeGrpcLogs(logger: Logger): void {
  if (loggerRouted) return;
  loggerRouted = true;
  const log = logger.named("grpc-js");
  grpc.setLogger({
    error: (...args: unknown[]) => log.error(format(...args)),
    info: (...args: unknown[]) => log.info(format(...args)),
    debug: (...args: unknown[]) => log.debug(format(...args)),
  } as Partial<Console>);
}

function contextOf(call: Call, path: string): { ctx: CallContext; abort: AbortController } {
  const abort = new AbortController();
  call.on("cancelled", () => abort.abort(new RpcError(Status.CANCELLED, "call cancelled")));
  const metadata = call.metadata.toJSON() as Record<string, string[]>;
  return { ctx: { method: path, metadata, signal: abort.signal }, abort };
}

function toStatus(err: unknown, path: string, log: Logger): grpc.ServiceError {
  const { code, details } = statusOf(err, path, log);
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

function encodeOrThrow(m: AnyMethod, value: unknown): Buffer {
  return toBuffer(encodeResponse(m, value));
}

async function* decodeAll(m: AnyMethod, call: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  for await (const chunk of call) yield decodeRequest(m, chunk);
}

async function writeAll(
  m: AnyMethod,
  call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>,
  out: AsyncIterable<unknown> | Iterable<unknown>,
  signal: AbortSignal,
): Promise<void> {
  for await (const item of out) {
    if (signal.aborted) return;
    if (!call.write(encodeOrThrow(m, item))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off("drain", done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        call.on("drain", done);
        signal.addEventListener("abort", done);
      });
    }
  }
}

function handlerFor(
  m: AnyMethod,
  fn: (...args: unknown[]) => unknown,
  log: Logger,
): grpc.UntypedHandleCall {
  switch (m.kind) {
    case "unary":
      return async (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const { ctx } = contextOf(call, m.path);
        try {
          const res = await fn(decodeRequest(m, call.request), ctx);
          cb(null, encodeOrThrow(m, res));
        } catch (err) {
          cb(toStatus(err, m.path, log));
        }
      };
    case "clientStream":
      return async (
        call: grpc.ServerReadableStream<Buffer, Buffer>,
        cb: grpc.sendUnaryData<Buffer>,
      ) => {
        const { ctx } = contextOf(call, m.path);
        try {
          const res = await fn(decodeAll(m, call), ctx);
          cb(null, encodeOrThrow(m, res));
        } catch (err) {
          cb(toStatus(err, m.path, log));
        }
      };
    case "serverStream":
      return async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const { ctx } = contextOf(call, m.path);
        try {
          const out = fn(decodeRequest(m, call.request), ctx) as AsyncIterable<unknown>;
          await writeAll(m, call, out, ctx.signal);
          if (!ctx.signal.aborted) call.end();
        } catch (err) {
          if (!ctx.signal.aborted) call.emit("error", toStatus(err, m.path, log));
        }
      };
    case "bidiStream":
      return async (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const { ctx } = contextOf(call, m.path);
        try {
          const out = fn(decodeAll(m, call), ctx) as AsyncIterable<unknown>;
          await writeAll(m, call, out, ctx.signal);
          if (!ctx.signal.aborted) call.end();
        } catch (err) {
          if (!ctx.signal.aborted) call.emit("error", toStatus(err, m.path, log));
        }
      };
  }
}

/**
 * Creates the grpc-js engine; pass it as `serve()`'s `engine`.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@rpcplugin/rpcplugin";
 * import { grpcJsEngine } from "@rpcplugin/rpcplugin/grpc-js";
 * await serve({ handshake: { magicCookieKey: "K", magicCookieValue: "V" }, engine: grpcJsEngine });
 * ```
 *
 * @param options Message limits and logger.
 * @returns The engine.
 */
export function grpcJsEngine(options: EngineOptions): Engine {
  routeGrpcLogs(options.logger);
  const log = options.logger;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": options.maxMessageBytes,
  });
  return {
    addService(service: ServiceImplementation): void {
      const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
      const impl: grpc.UntypedServiceImplementation = {};
      for (const [name, m] of Object.entries(service.definition.methods)) {
        def[name] = {
          path: m.path,
          requestStream: m.kind === "clientStream" || m.kind === "bidiStream",
          responseStream: m.kind === "serverStream" || m.kind === "bidiStream",
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        };
        impl[name] = handlerFor(m as AnyMethod, service.handlers[name], log);
      }
      server.addService(def, impl);
    },
    bind(network: Network, address: string, tls?: ServerTls): Promise<number | null> {
      const creds = tls
        ? grpc.ServerCredentials.createSsl(
          // With a null CA grpc-js reads the system roots (the file named by
          // GRPC_DEFAULT_SSL_ROOTS_FILE_PATH), which needs --allow-read on it.
          // Without client auth the CA is never consulted: pass our own cert.
          Buffer.from(tls.clientCaPem ?? tls.certPem),
          [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }],
          tls.requireClientCert,
        )
        : grpc.ServerCredentials.createInsecure();
      const target = network === "unix" ? `unix:${address}` : address;
      return new Promise((resolve, reject) => {
        server.bindAsync(target, creds, (err, port) => {
          if (!err) return resolve(network === "unix" ? 0 : port);
          if (
            network === "tcp" &&
            /EADDRINUSE|address already in use|No address added/i.test(err.message)
          ) {
            return resolve(null);
          }
          reject(err);
        });
      });
    },
    shutdown(graceMs: number): Promise<void> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          log.warn("graceful stop timed out; cancelling remaining calls", { grace_ms: graceMs });
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
