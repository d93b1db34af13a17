/**
 * The plugin author's view of a gRPC service: method paths, call kinds,
 * codecs and handlers. No gRPC engine type appears here, so the engine under
 * `serve()` can change without touching plugin code.
 *
 * @module
 */

import type { Broker } from "../services/broker.ts";
import type { Logger } from "../log/logger.ts";
import type { Compression, MetadataInit } from "./wire.ts";
import { RpcError, Status } from "./status.ts";
import { BytePool } from "../_pool.ts";

export type { Compression, MetadataInit } from "./wire.ts";

/** How many messages each side sends. */
export type CallKind = "unary" | "serverStream" | "clientStream" | "bidiStream";

/** Turns messages into protobuf bytes and back. */
export interface Codec<T> {
  /** Message to bytes. */
  encode(value: T): Uint8Array;
  /** Bytes to message. */
  decode(bytes: Uint8Array): T;
}

/** One RPC method: its wire path, kind and codecs. */
export interface MethodDefinition<Req, Res, K extends CallKind = CallKind> {
  /** Wire path, e.g. `/proto.KV/Get`. */
  readonly path: string;
  /** Call kind. */
  readonly kind: K;
  /** Codec of requests. */
  readonly request: Codec<Req>;
  /** Codec of responses. */
  readonly response: Codec<Res>;
}

/** A service: its full name and methods by local name. */
export interface ServiceDefinition<
  // deno-lint-ignore no-explicit-any
  M extends Record<string, MethodDefinition<any, any>> = Record<string, MethodDefinition<any, any>>,
> {
  /** Full name, e.g. `proto.KV`. */
  readonly name: string;
  /** Methods by local name. */
  readonly methods: M;
}

/**
 * Who is at the other end of a call's connection.
 *
 * @example Refuse callers without a client certificate
 * ```ts
 * import { type CallContext, RpcError, Status } from "@rpcplugin/rpcplugin";
 * function requireCert(call: CallContext): Uint8Array {
 *   const cert = call.peer.certificate;
 *   if (!cert) throw new RpcError(Status.UNAUTHENTICATED, "a client certificate is required");
 *   return cert;
 * }
 * ```
 */
export interface PeerInfo {
  /**
   * The connection's kind: a unix socket, TCP, or an in-memory pipe
   * (`serveInProcess()` from `@rpcplugin/rpcplugin/testing`).
   */
  readonly network: "unix" | "tcp" | "pipe";
  /**
   * The remote end's address: `host:port` for TCP (`[v6]:port` for IPv6),
   * the client socket's path for unix (`""` on the grpc-js engine, and
   * usually on the native one too: clients rarely bind their socket to a
   * name), `in-process` for a pipe.
   */
  readonly address: string;
  /**
   * The client's certificate (DER) when the connection is TLS with client
   * authentication (go-plugin's AutoMTLS); absent otherwise.
   */
  readonly certificate?: Uint8Array;
}

/**
 * What a handler knows about the call it serves, and what it may add to the
 * response: metadata in the response headers and in the trailers, and gzip
 * compression of its response messages.
 *
 * @example Echo one request header back as a response header, report a
 * count in the trailers, and compress the (large) response
 * ```ts ignore
 * import { fromTsProto, implement } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 *
 * const kv = implement(fromTsProto(KVDefinition), {
 *   get: (req, call) => {
 *     const id = call.metadata["x-request-id"]?.[0];
 *     if (typeof id === "string") call.setHeaders({ "x-request-id": id });
 *     call.setResponseCompression("gzip"); // only if the client accepts gzip
 *     const value = new Uint8Array(1 << 20);
 *     call.setTrailers({ "x-value-bytes": String(value.length) });
 *     return { value };
 *   },
 *   put: () => ({}),
 * });
 * ```
 *
 * @example Log with the method, give up when the caller does, clean up when the call is over
 * ```ts
 * import { implement, RpcError, Status } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "../examples/kv/gen/kv_pb.ts";
 *
 * const kv = implement(KVDefinition, {
 *   get: async (req, call) => {
 *     if (call.timeRemaining() < 100) {
 *       throw new RpcError(Status.DEADLINE_EXCEEDED, "too little time left to look it up");
 *     }
 *     call.logger.debug("looking up", { key: req.key, peer: call.peer.address });
 *     const res = await fetch(`http://127.0.0.1:8080/${req.key}`, { signal: call.signal });
 *     call.ended.then(() => call.logger.trace("call over"));
 *     return { value: new Uint8Array(await res.arrayBuffer()) };
 *   },
 *   put: () => ({}),
 * });
 * ```
 */
export interface CallContext {
  /** Full method path, e.g. `/proto.KV/Get`. */
  readonly method: string;
  /** Request metadata: lower-case names; values of `-bin` names are bytes. */
  readonly metadata: Readonly<Record<string, readonly (string | Uint8Array)[]>>;
  /**
   * The plugin's logger (`serve()`'s; for `serveInProcess()` or an engine
   * used on its own, the logger it was given) with the field `method` set
   * to {@linkcode CallContext.method} on every line: hclog JSON on stderr,
   * which a go-plugin host re-logs at each line's level.
   */
  readonly logger: Logger;
  /** When the client's deadline (its `grpc-timeout`) passes; undefined without one. */
  readonly deadline: Date | undefined;
  /**
   * Milliseconds left before the deadline (0 once it has passed), or
   * `Infinity` without one. Measured on a monotonic clock.
   */
  timeRemaining(): number;
  /**
   * Aborted when the call ends, for any reason, before the handler
   * finished; never once it has. The handler finished when it returned or
   * threw (unary, client-streaming: when its promise settled) or, for a
   * server-streaming or bidi handler, when the iterable it returned is
   * exhausted or threw. So a handler that waits on the signal alone is
   * woken whenever its call can no longer carry an answer. The `reason`
   * is an {@linkcode RpcError} with the code the call ended with:
   * - CANCELLED: the client cancelled it (RST_STREAM), the connection is
   *   gone, or the server stopped without waiting for it;
   * - DEADLINE_EXCEEDED: the deadline passed;
   * - the failure's code otherwise, e.g. RESOURCE_EXHAUSTED for a request
   *   message over the size limit, INTERNAL for a yielded value that is no
   *   message (the status message is the reason's message).
   *
   * Once aborted, the request iterator of a streaming call throws the same
   * reason, and the requests still queued are dropped. After the handler's
   * own answer the iterator ends as if the client had ended its requests,
   * its queued requests dropped too. A handler's own answer or error never aborts it (nor does a
   * failure after the handler finished, such as a unary response over the
   * size limit): use {@linkcode CallContext.ended} to learn when the call
   * is over in every case.
   *
   * A client whose deadline passes also resets the call (grpc-go does),
   * which arrives a little before the server's own timer fires (the
   * server's deadline runs from when the request arrived): a cancellation
   * within 50 ms of the deadline counts as DEADLINE_EXCEEDED. The grpc-js
   * engine, which reports both the same way, follows the same rule.
   */
  readonly signal: AbortSignal;
  /**
   * Resolves once the call is over, whatever the reason: its status went
   * out (to the transport) or it was cancelled. Never rejects.
   */
  readonly ended: Promise<void>;
  /** The remote end of the call's connection. */
  readonly peer: PeerInfo;
  /**
   * The plugin's broker (go-plugin's `GRPCBroker`): `dial(id)` what the host
   * serves, or `acceptAndServe(nextId(), [...])` services for it. Set by
   * `serve()` and `serveInProcess()`; absent when an engine is used on its own.
   */
  readonly broker: Broker;
  /**
   * Whether the request message the handler got last arrived compressed
   * (for a streaming request: the one the iterator yielded last). On the
   * grpc-js engine, which does not expose per-message flags, this is
   * whether the request named a `grpc-encoding` other than identity.
   */
  readonly requestCompressed: boolean;
  /**
   * Adds metadata to the response headers, which go out with the first
   * response message (or, if there is none, just before the status).
   * Several calls add up. Names are lower-cased; `-bin` names take bytes.
   *
   * @throws {TypeError} if the headers are already sent (a response message
   * went out, or the call has ended), or for a name gRPC reserves
   * (`grpc-*` transport headers, pseudo-headers) or cannot carry (only
   * a-z, 0-9, `-`, `_`, `.`), a text value that is not printable ASCII, or
   * a binary value under a name without `-bin`.
   */
  setHeaders(metadata: MetadataInit): void;
  /**
   * Adds metadata to the trailers, sent with the status when the call ends
   * (whether it succeeds or fails). Several calls add up.
   *
   * @throws {TypeError} if the call has already ended, or for a reserved
   * name or a misplaced binary value, as {@linkcode CallContext.setHeaders}.
   */
  setTrailers(metadata: MetadataInit): void;
  /**
   * Compresses the response messages sent from now on with gzip, or stops
   * (`"identity"`). Used only when the client's `grpc-accept-encoding`
   * includes gzip; otherwise responses go uncompressed, as the spec
   * requires. The response headers name the encoding, so gzip must be asked
   * for before they go out (before the first response message); after that,
   * compression can still be switched off and on again per message. The
   * grpc-js engine never compresses responses (grpc-js cannot).
   *
   * @throws {TypeError} for gzip after the headers went out without it.
   */
  setResponseCompression(encoding: Compression): void;
}

/** Handler of a unary call. */
export type UnaryHandler<Req, Res> = (request: Req, call: CallContext) => Res | PromiseLike<Res>;
/** Handler of a server-streaming call. */
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  call: CallContext,
) => AsyncIterable<Res> | Iterable<Res>;
/** Handler of a client-streaming call. */
export type ClientStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  call: CallContext,
) => Res | PromiseLike<Res>;
/** Handler of a bidirectional-streaming call. */
export type BidiStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  call: CallContext,
) => AsyncIterable<Res> | Iterable<Res>;

/** The handler type for one method definition. */
export type HandlerFor<D> = D extends MethodDefinition<infer Req, infer Res, infer K>
  ? K extends "unary" ? UnaryHandler<Req, Res>
  : K extends "serverStream" ? ServerStreamHandler<Req, Res>
  : K extends "clientStream" ? ClientStreamHandler<Req, Res>
  : BidiStreamHandler<Req, Res>
  : never;

/**
 * Handlers for the methods of a service, by local method name. Any may be
 * left out: a call to a method without a handler answers UNIMPLEMENTED
 * (as grpc-go's `Unimplemented...Server` does), so a plugin implements only
 * what it needs.
 */
export type ServiceHandlers<S extends ServiceDefinition> = {
  [K in keyof S["methods"]]?: HandlerFor<S["methods"][K]>;
};

/** A service definition with its handlers: what `serve()` takes. */
export interface ServiceImplementation {
  /** The service. */
  readonly definition: ServiceDefinition;
  /**
   * A handler for every method, by local method name: for a method the
   * plugin left out, one that answers UNIMPLEMENTED.
   */
  // deno-lint-ignore no-explicit-any
  readonly handlers: Record<string, (...args: any[]) => unknown>;
  /** The local names of the methods given no handler (they answer UNIMPLEMENTED). */
  readonly unimplemented?: readonly string[];
}

/**
 * Pairs a service definition with handlers, type-checking each handler
 * against its method. The definition may be a {@linkcode ServiceDefinition}
 * or what ts-proto generates (`XxxDefinition`, converted with
 * {@linkcode fromTsProto}). Handlers are looked up by the definition's
 * method names and bound to `handlers`, so a class instance works and
 * other properties are ignored. A method without a handler answers
 * UNIMPLEMENTED ("method Get of service proto.KV is not implemented by this
 * plugin"), as grpc-go's `Unimplemented...Server` does; `serve()` logs such
 * methods once at DEBUG when it starts.
 *
 * @example
 * ```ts ignore
 * import { implement } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 * class Kv {
 *   #store = new Map<string, Uint8Array>();
 *   get(req: { key: string }) {
 *     return { value: this.#store.get(req.key) ?? new Uint8Array() };
 *   }
 *   put(req: { key: string; value: Uint8Array }) {
 *     this.#store.set(req.key, req.value);
 *     return {};
 *   }
 * }
 * const kv = implement(KVDefinition, new Kv());
 * ```
 *
 * @param definition The service.
 * @param handlers A handler per method it implements (an object or a class instance).
 * @returns What `serve()` takes in `services`.
 * @throws {TypeError} When a method's handler is there but not a function.
 */
export function implement<D extends TsProtoService>(
  definition: D,
  handlers: ServiceHandlers<FromTsProto<D>>,
): ServiceImplementation;
/**
 * Pairs a {@linkcode ServiceDefinition} with handlers (see the other overload).
 *
 * @example
 * ```ts ignore
 * import { fromTsProto, implement } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 * const kv = implement(fromTsProto(KVDefinition), {
 *   get: (req) => ({ value: new TextEncoder().encode(req.key) }),
 *   put: () => ({}),
 * });
 * ```
 *
 * @param definition The service.
 * @param handlers A handler per method it implements (an object or a class instance).
 * @returns What `serve()` takes in `services`.
 * @throws {TypeError} When a method's handler is there but not a function.
 */
export function implement<S extends ServiceDefinition>(
  definition: S,
  handlers: ServiceHandlers<S>,
): ServiceImplementation;
export function implement(
  definition: ServiceDefinition | TsProtoService,
  handlers: object,
): ServiceImplementation {
  if ((definition as { kind?: unknown }).kind === "service") {
    throw new TypeError(
      `"${(definition as { typeName?: string }).typeName}" is a protobuf-es service descriptor: ` +
        'import { implement } from "@rpcplugin/rpcplugin/protobuf-es" instead',
    );
  }
  const def = isTsProto(definition) ? fromTsProto(definition) : definition;
  const bound: ServiceImplementation["handlers"] = {};
  const unimplemented: string[] = [];
  for (const [name, method] of Object.entries(def.methods)) {
    const fn = (handlers as Record<string, unknown>)[name];
    if (fn === undefined) {
      unimplemented.push(name);
      bound[name] = unimplementedHandler(def.name, method.path);
      continue;
    }
    if (typeof fn !== "function") {
      throw new TypeError(
        `The handler for method "${name}" of service "${def.name}" is ${
          fn === null ? "null" : `a ${typeof fn}`
        }, not a function: give a function, or leave it out to answer UNIMPLEMENTED`,
      );
    }
    bound[name] = fn.bind(handlers);
  }
  return unimplemented.length
    ? { definition: def, handlers: bound, unimplemented }
    : { definition: def, handlers: bound };
}

/** The handler of a method the plugin did not implement: every call answers UNIMPLEMENTED. */
function unimplementedHandler(service: string, path: string): () => never {
  const message = `method ${path.slice(path.lastIndexOf("/") + 1)} of service ${service} ` +
    "is not implemented by this plugin";
  return () => {
    throw new RpcError(Status.UNIMPLEMENTED, message);
  };
}

function isTsProto(d: ServiceDefinition | TsProtoService): d is TsProtoService {
  return "fullName" in d && typeof (d as TsProtoService).fullName === "string";
}

/**
 * The same service with every handler replaced by `wrap(handler, method)`:
 * how call counting and rate limiting are layered on a service.
 *
 * @param service The service.
 * @param wrap Makes the new handler from the old one and its method.
 * @returns The wrapped service.
 */
export function mapHandlers(
  service: ServiceImplementation,
  wrap: (
    handler: ServiceImplementation["handlers"][string],
    method: MethodDefinition<unknown, unknown>,
  ) => ServiceImplementation["handlers"][string],
): ServiceImplementation {
  const handlers: ServiceImplementation["handlers"] = {};
  for (const [name, fn] of Object.entries(service.handlers)) {
    handlers[name] = wrap(fn, service.definition.methods[name]);
  }
  return service.unimplemented
    ? { definition: service.definition, handlers, unimplemented: service.unimplemented }
    : { definition: service.definition, handlers };
}

/** The message functions ts-proto generates (`Msg.encode(m).finish()`). */
export interface TsProtoMessageFns<T> {
  /**
   * Encodes into `writer` (a new one when absent) and returns it; its
   * `finish()` gives the bytes and empties it for the next message.
   */
  encode(message: T, writer?: TsProtoWriter): TsProtoWriter;
  /** Decodes bytes. */
  decode(input: Uint8Array): T;
}

/**
 * The part of ts-proto's writer (`BinaryWriter`) that the adapter uses.
 *
 * @example One writer for two messages: `finish()` empties it
 * ```ts
 * import type { TsProtoWriter } from "@rpcplugin/rpcplugin";
 * import { GetRequest } from "../examples/kv/gen/kv_pb.ts";
 *
 * const writer: TsProtoWriter = GetRequest.encode({ key: "a" });
 * const a = writer.finish();
 * const b = GetRequest.encode({ key: "b" }, writer as never).finish();
 * console.assert(a[2] === 97 && b[2] === 98);
 * ```
 */
export interface TsProtoWriter {
  /** All bytes written; the writer is empty afterwards. */
  finish(): Uint8Array;
}

/** One method of a ts-proto `outputServices=generic-definitions` service. */
export interface TsProtoMethod<Req, Res> {
  /** Method name as in the .proto file. */
  readonly name: string;
  /** Request message functions. */
  readonly requestType: TsProtoMessageFns<Req>;
  /** Whether requests stream. */
  readonly requestStream: boolean;
  /** Response message functions. */
  readonly responseType: TsProtoMessageFns<Res>;
  /** Whether responses stream. */
  readonly responseStream: boolean;
}

/** A ts-proto generic service definition (`XxxDefinition`). */
export interface TsProtoService {
  /** Full service name, e.g. `proto.KV`. */
  readonly fullName: string;
  /** Methods by camel-case name. */
  // deno-lint-ignore no-explicit-any
  readonly methods: Readonly<Record<string, TsProtoMethod<any, any>>>;
}

/** The call kind of a ts-proto method, at the type level. */
export type KindOf<M> = M extends { requestStream: true; responseStream: true } ? "bidiStream"
  : M extends { requestStream: true } ? "clientStream"
  : M extends { responseStream: true } ? "serverStream"
  : "unary";

/** The {@linkcode ServiceDefinition} made from a ts-proto definition. */
export type FromTsProto<D extends TsProtoService> = ServiceDefinition<
  {
    [K in keyof D["methods"]]: D["methods"][K] extends TsProtoMethod<infer Req, infer Res>
      ? MethodDefinition<Req, Res, KindOf<D["methods"][K]>>
      : never;
  }
>;

/** Messages up to this size leave their writer for the next one; a larger one's buffer is let go. */
const KEEP_WRITER_BYTES = 64 * 1024;

/**
 * Small encoded messages are copied out of their writer into shared
 * buffers rather than each into an `ArrayBuffer` of its own (`finish()`'s
 * copy), which costs more than encoding them.
 */
const pool = new BytePool(8 << 10, 256);

/**
 * What `finish()` reads in @bufbuild/protobuf 2's `BinaryWriter` (ts-proto's
 * writer): one growing buffer, written up to `pos`, and the open forks.
 * These are private fields of that class, not its API: every use of them is
 * guarded (a writer class that lacks any, has other state, or whose
 * `finish()` gives anything but `buffer[0, pos)` goes through `finish()`),
 * and tests/rpc/service_test.ts fails if the pinned @bufbuild/protobuf's
 * writer stops taking the copy-free path or a foreign one takes it.
 */
interface FlatWriter {
  buffer: Uint8Array;
  pos: number;
  stackPos: number[];
}

/**
 * Every own field of @bufbuild/protobuf 2's `BinaryWriter`. A writer with
 * another one may keep state that `finish()` resets and the copy-free path
 * (which only sets `pos` to 0) would not: it goes through `finish()`.
 */
const FLAT_WRITER_FIELDS: ReadonlySet<string> = new Set([
  "buffer",
  "pos",
  "stackPos",
  "viewCache",
  "encodeUtf8Into",
]);

/**
 * Per writer class, whether it is a {@linkcode FlatWriter} with no other
 * field whose `finish()` was seen to return exactly `buffer[0, pos)` and
 * empty it: the first message of each class is checked so, and goes
 * through `finish()`.
 */
const flatWriters = new WeakMap<object, boolean>();

/** Whether `writer` has the {@linkcode FlatWriter} fields, with no fork open. */
function flatOf(writer: TsProtoWriter): FlatWriter | null {
  const w = writer as unknown as Partial<FlatWriter>;
  const flat = w.buffer instanceof Uint8Array && Number.isInteger(w.pos) &&
    Array.isArray(w.stackPos) && w.stackPos.length === 0 && w.pos! <= w.buffer.length &&
    !("chunks" in w);
  return flat ? w as FlatWriter : null;
}

/** The first message of a writer class: `finish()`, checked against the flat layout. */
function finishChecked(writer: TsProtoWriter): Uint8Array {
  const w = Object.keys(writer).every((k) => FLAT_WRITER_FIELDS.has(k)) ? flatOf(writer) : null;
  const expected = w?.buffer.slice(0, w.pos);
  const bytes = writer.finish();
  // An empty message proves nothing: the next one is checked instead.
  if (bytes.length === 0 && expected?.length === 0) return bytes;
  flatWriters.set(
    writer.constructor,
    expected !== undefined && w!.pos === 0 && bytes.length === expected.length &&
      bytes.every((b, i) => b === expected[i]),
  );
  return bytes;
}

/**
 * Encodes with ts-proto's functions into the writer the previous message
 * used (emptied, its buffer kept): no writer, buffer and view made per
 * message. Encoding is synchronous, so one writer per message type is
 * enough; a writer whose encoding threw is dropped. With ts-proto's own
 * writer (checked once, see {@linkcode finishChecked}), the bytes are taken
 * without `finish()`'s copy: a small message is copied into a shared buffer,
 * a large one is a view of the writer's buffer, which the writer gives up.
 */
function tsProtoEncoder<T>(fns: TsProtoMessageFns<T>): (value: T) => Uint8Array {
  let spare: TsProtoWriter | undefined;
  return (value) => {
    const given = spare;
    spare = undefined;
    const writer = fns.encode(value, given);
    const known = flatWriters.get(writer.constructor);
    const w = known ? flatOf(writer) : null;
    if (w && w.pos <= pool.largest) {
      const bytes = pool.copy(w.buffer, 0, w.pos);
      w.pos = 0;
      spare = writer;
      return bytes;
    }
    if (w && w.pos > KEEP_WRITER_BYTES) return w.buffer.subarray(0, w.pos);
    const bytes = known === undefined ? finishChecked(writer) : writer.finish();
    if (bytes.length <= KEEP_WRITER_BYTES) spare = writer;
    return bytes;
  };
}

function kindOf(m: { requestStream: boolean; responseStream: boolean }): CallKind {
  if (m.requestStream) return m.responseStream ? "bidiStream" : "clientStream";
  return m.responseStream ? "serverStream" : "unary";
}

/**
 * Converts a service generated by ts-proto (`outputServices=generic-definitions`)
 * into a {@linkcode ServiceDefinition}.
 *
 * @example
 * ```ts ignore
 * import { fromTsProto } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 * const kv = fromTsProto(KVDefinition);
 * console.assert(kv.methods.get.path === "/proto.KV/Get");
 * ```
 *
 * @param def The generated `XxxDefinition` constant.
 * @returns The engine-neutral definition.
 */
export function fromTsProto<D extends TsProtoService>(def: D): FromTsProto<D> {
  const methods: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [local, m] of Object.entries(def.methods)) {
    methods[local] = {
      path: `/${def.fullName}/${m.name}`,
      kind: kindOf(m),
      request: { encode: tsProtoEncoder(m.requestType), decode: (b) => m.requestType.decode(b) },
      response: {
        encode: tsProtoEncoder(m.responseType),
        decode: (b) => m.responseType.decode(b),
      },
    };
  }
  return { name: def.fullName, methods } as unknown as FromTsProto<D>;
}
