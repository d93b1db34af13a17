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

import type { Broker } from "../../services/broker.ts";
import "./_preflight.ts";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { format } from "node:util";
import type { Network } from "../../constants.ts";
import { type Logger, withFields } from "../../log/logger.ts";
import type { Engine, EngineOptions, ServerTls } from "../engine.ts";
import type { CallContext, PeerInfo, ServiceImplementation } from "../../rpc/service.ts";
import { RpcError, Status, type StatusCode } from "../../rpc/status.ts";
import {
  type AnyMethod,
  CallDeadline,
  callEndedError,
  decodeRequest,
  encodeResponse,
  gzipTooLateError,
  headersSentError,
  NO_DEADLINE,
  statusOf,
  unknownCompressionError,
} from "../../rpc/handler.ts";
import { type Compression, metadataFields, type MetadataInit } from "../../rpc/wire.ts";

/** The parts of a grpc-js call the adapters use. */
interface Call {
  on(event: "cancelled", listener: () => void): unknown;
  readonly metadata: grpc.Metadata;
  sendMetadata(metadata: grpc.Metadata): void;
  getDeadline(): grpc.Deadline;
  getPeer(): string;
  getAuthContext?(): { sslPeerCertificate?: { raw?: Uint8Array } };
}

/** What every call of one engine shares. */
interface EngineCallOptions {
  log: Logger;
  broker: Broker | undefined;
  /** The network the engine listens on (the last `bind()`). */
  network: "unix" | "tcp";
}

/** A deadline as grpc-js gives it (a Date, epoch ms, or Infinity) in epoch ms. */
function epochMs(deadline: grpc.Deadline): number {
  const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Number.isFinite(ms) ? ms : Infinity;
}

/**
 * A grpc-js call's peer. grpc-js names the remote end `host:port` (without
 * brackets for IPv6) or `unknown` (a unix socket), and gives the client's
 * certificate under client authentication.
 */
function peerOf(call: Call, network: "unix" | "tcp"): PeerInfo {
  let address = "";
  if (network === "tcp") {
    const text = call.getPeer();
    const colon = text.lastIndexOf(":");
    const host = colon > 0 ? text.slice(0, colon) : text;
    address = host.includes(":") && host[0] !== "[" ? `[${host}]${text.slice(colon)}` : text;
  }
  const raw = call.getAuthContext?.().sslPeerCertificate?.raw;
  return raw?.length
    ? { network, address, certificate: new Uint8Array(raw) }
    : { network, address };
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

/** Adds header fields (`metadataFields`' wire form) to grpc-js metadata, which wants `-bin` values as bytes. */
function addFields(md: grpc.Metadata, fields: readonly [string, string][]): grpc.Metadata {
  for (const [name, value] of fields) {
    md.add(name, name.endsWith("-bin") ? Buffer.from(value, "base64") : value);
  }
  return md;
}

/**
 * Whether the request named a `grpc-encoding` other than identity. grpc-js
 * decompresses requests itself and takes the header out of the metadata;
 * the name stays on its own call object (`incomingEncoding` of the private
 * `call`, @grpc/grpc-js 1.14). Should a later version move it, this says
 * false, and the interop client_compressed tests on this engine fail.
 */
function requestEncoded(call: unknown): boolean {
  const inner = (call as { call?: { incomingEncoding?: unknown } }).call;
  const name = inner?.incomingEncoding;
  return typeof name === "string" && name !== "identity";
}

/**
 * Records the first status grpc-js sends on `call`, its own (a request over
 * the size limit, its deadline timer) or ours, by wrapping `sendStatus` of
 * its private intercepting call (`call` of the call object, @grpc/grpc-js
 * 1.14; its own failures call `this.sendStatus`). Should a later version
 * move it, a failure the handler did not cause reads as CANCELLED, and the
 * signal tests on this engine fail.
 */
function watchStatus(call: unknown): () => { code: number; details: string } | undefined {
  const inner = (call as { call?: { sendStatus?: unknown } }).call;
  let sent: { code: number; details: string } | undefined;
  const send = inner?.sendStatus;
  if (inner && typeof send === "function") {
    inner.sendStatus = function (this: unknown, status: { code: number; details: string }) {
      sent ??= { code: status.code, details: status.details };
      return send.call(this, status);
    };
  }
  return () => sent;
}

/**
 * A handler's view of one grpc-js call, and what it adds to the response.
 * grpc-js emits `cancelled` when a call is over for any reason (after the
 * status it was given went out, too): the signal aborts only if that comes
 * before the handler finished, with the status the call ended with.
 */
class JsCallContext implements CallContext {
  /** The engine's broker (set by `serve()`). */
  readonly broker: Broker;
  readonly metadata: Record<string, string[]>;
  readonly signal: AbortSignal;
  readonly requestCompressed: boolean;
  readonly ended: Promise<void>;
  #call: Call;
  #opts: EngineCallOptions;
  #headers: grpc.Metadata | null = null;
  #trailers: grpc.Metadata | null = null;
  #headersSent = false;
  #ended = false;
  #gzip = false;
  #logger: Logger | null = null;
  #peer: PeerInfo | null = null;
  #deadline: CallDeadline;
  #abort = new AbortController();
  #handlerDone = false;

  constructor(call: Call, readonly method: string, opts: EngineCallOptions) {
    this.#call = call;
    this.#opts = opts;
    this.broker = opts.broker as Broker;
    const epoch = epochMs(call.getDeadline());
    this.#deadline = epoch === Infinity ? NO_DEADLINE : new CallDeadline(epoch - Date.now());
    const over = Promise.withResolvers<void>();
    const sent = watchStatus(call);
    call.on("cancelled", () => {
      over.resolve();
      this.#ended = true;
      const status = sent();
      this.endEarly(
        status && status.code !== Status.OK
          ? new RpcError(status.code as StatusCode, status.details)
          : this.#deadline.passed()
          ? new RpcError(Status.DEADLINE_EXCEEDED, "deadline exceeded")
          : new RpcError(Status.CANCELLED, "call cancelled"),
      );
    });
    this.signal = this.#abort.signal;
    this.ended = over.promise;
    this.metadata = call.metadata.toJSON() as Record<string, string[]>;
    this.requestCompressed = requestEncoded(call);
  }

  get logger(): Logger {
    return this.#logger ??= withFields(this.#opts.log, { method: this.method });
  }

  get deadline(): Date | undefined {
    return this.#deadline.date;
  }

  timeRemaining(): number {
    return this.#deadline.remaining();
  }

  get peer(): PeerInfo {
    return this.#peer ??= Object.freeze(peerOf(this.#call, this.#opts.network));
  }

  setHeaders(md: MetadataInit): void {
    if (this.#headersSent || this.#ended) throw headersSentError(this.method);
    addFields(this.#headers ??= new grpc.Metadata(), metadataFields(md));
  }

  setTrailers(md: MetadataInit): void {
    if (this.#ended) throw callEndedError(this.method);
    addFields(this.#trailers ??= new grpc.Metadata(), metadataFields(md));
  }

  /** grpc-js cannot compress responses: the same rules as the native engine, and messages go uncompressed. */
  setResponseCompression(encoding: Compression): void {
    if (encoding !== "gzip" && encoding !== "identity") throw unknownCompressionError(encoding);
    if (encoding === "gzip" && this.#headersSent && !this.#gzip) {
      throw gzipTooLateError(this.method);
    }
    if (encoding === "gzip" && !this.#headersSent) this.#gzip = true;
  }

  /** The handler returned or threw, or its response iterable is exhausted: the signal stays as it is. */
  handlerFinished(): void {
    this.#handlerDone = true;
  }

  /** The call ended before the handler finished: the signal aborts with `reason`. */
  endEarly(reason: RpcError): void {
    if (!this.#handlerDone && !this.#abort.signal.aborted) this.#abort.abort(reason);
  }

  /** Sends the response headers, with the handler's metadata, before the first message. */
  headersOut(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    if (this.#headers) this.#call.sendMetadata(this.#headers);
  }

  /** The call ends: the trailers to send with the status (headers the handler set go out first). */
  end(): grpc.Metadata | undefined {
    if (this.#headers) this.headersOut();
    this.#headersSent = true;
    this.#ended = true;
    return this.#trailers ?? undefined;
  }
}

function toStatus(
  err: unknown,
  path: string,
  log: Logger,
  trailers?: grpc.Metadata,
): grpc.ServiceError {
  const status = statusOf(err, path, log);
  const metadata = trailers ?? new grpc.Metadata();
  if (status.trailers) addFields(metadata, status.trailers);
  return Object.assign(new Error(status.details), {
    code: status.code,
    details: status.details,
    metadata,
  });
}

function encodeOrThrow(m: AnyMethod, value: unknown): Buffer {
  return toBuffer(encodeResponse(m, value));
}

/** The part of a grpc-js readable call {@linkcode decodeAll} reads. */
interface RequestStream {
  iterator(options: { destroyOnReturn: boolean }): AsyncIterable<Buffer>;
}

/**
 * The requests of a client-streaming or bidi call. Not `for await` on the
 * call itself: Node's stream iterator destroys the stream once it ends (or
 * the handler stops reading), which for a duplex call kills the response
 * side before its messages and status are out, and the client waits forever.
 * Once the call ended before the handler finished (the signal), it throws
 * the signal's reason, as the native engine's does.
 */
async function* decodeAll(
  m: AnyMethod,
  call: RequestStream,
  signal: AbortSignal,
): AsyncGenerator<unknown> {
  const chunks = call.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]();
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
  aborted.catch(() => {});
  while (true) {
    const next = await Promise.race([chunks.next(), aborted]);
    if (next.done) break;
    yield decodeRequest(m, next.value);
  }
  if (signal.aborted) throw signal.reason;
}

/** Runs a handler (to its answer); whatever happens, the handler is finished after. */
async function settled<T>(ctx: JsCallContext, run: () => T | PromiseLike<T>): Promise<T> {
  try {
    return await run();
  } finally {
    ctx.handlerFinished();
  }
}

/**
 * Sends what a streaming handler yields. A message that cannot go out
 * fails the call, and aborts the signal, before the handler's iterator is
 * closed (as on the native engine). Returns once the handler is finished.
 */
async function writeAll(
  m: AnyMethod,
  call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>,
  out: AsyncIterable<unknown> | Iterable<unknown>,
  ctx: JsCallContext,
  log: Logger,
): Promise<void> {
  const signal = ctx.signal;
  try {
    for await (const item of out) {
      if (signal.aborted) return;
      let bytes: Buffer;
      try {
        bytes = encodeOrThrow(m, item);
      } catch (err) {
        const status = toStatus(err, m.path, log, ctx.end());
        ctx.endEarly(new RpcError(status.code as StatusCode, status.details));
        call.emit("error", status);
        return;
      }
      ctx.headersOut();
      if (!call.write(bytes)) {
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
  } finally {
    ctx.handlerFinished();
  }
}

function handlerFor(
  m: AnyMethod,
  fn: (...args: unknown[]) => unknown,
  opts: EngineCallOptions,
): grpc.UntypedHandleCall {
  const log = opts.log;
  switch (m.kind) {
    case "unary":
      return async (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const ctx = new JsCallContext(call, m.path, opts);
        try {
          const res = await settled(ctx, () => fn(decodeRequest(m, call.request), ctx));
          cb(null, encodeOrThrow(m, res), ctx.end());
        } catch (err) {
          cb(toStatus(err, m.path, log, ctx.end()));
        }
      };
    case "clientStream":
      return async (
        call: grpc.ServerReadableStream<Buffer, Buffer>,
        cb: grpc.sendUnaryData<Buffer>,
      ) => {
        const ctx = new JsCallContext(call, m.path, opts);
        try {
          const res = await settled(ctx, () => fn(decodeAll(m, call, ctx.signal), ctx));
          cb(null, encodeOrThrow(m, res), ctx.end());
        } catch (err) {
          cb(toStatus(err, m.path, log, ctx.end()));
        }
      };
    case "serverStream":
      return async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const ctx = new JsCallContext(call, m.path, opts);
        try {
          const out = settledSync(ctx, () => fn(decodeRequest(m, call.request), ctx));
          await writeAll(m, call, out, ctx, log);
          if (!ctx.signal.aborted) call.end(ctx.end());
        } catch (err) {
          if (!ctx.signal.aborted) call.emit("error", toStatus(err, m.path, log, ctx.end()));
        }
      };
    case "bidiStream":
      return async (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const ctx = new JsCallContext(call, m.path, opts);
        try {
          const out = settledSync(ctx, () => fn(decodeAll(m, call, ctx.signal), ctx));
          await writeAll(m, call, out, ctx, log);
          if (!ctx.signal.aborted) call.end(ctx.end());
        } catch (err) {
          if (!ctx.signal.aborted) call.emit("error", toStatus(err, m.path, log, ctx.end()));
        }
      };
  }
}

/** Calls a streaming handler for its iterable; if it throws instead, the handler is finished. */
function settledSync(ctx: JsCallContext, run: () => unknown): AsyncIterable<unknown> {
  try {
    return run() as AsyncIterable<unknown>;
  } catch (err) {
    ctx.handlerFinished();
    throw err;
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
  const callOptions: EngineCallOptions = { log, broker: options.broker, network: "tcp" };
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
        impl[name] = handlerFor(m as AnyMethod, service.handlers[name], callOptions);
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
      callOptions.network = network;
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
      // Grace 0 asks for no graceful stop (a brokered server's close): no timeout to report.
      if (!(graceMs > 0)) {
        server.forceShutdown();
        return Promise.resolve();
      }
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
