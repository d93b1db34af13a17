/**
 * gRPC calls from the client's side, over the client role of our HTTP/2
 * connection: request headers with deadline and metadata, length-prefixed
 * messages out and in (gzip-compressed on request, and decompressed when
 * the server compresses), response headers, trailers and trailers-only
 * answers, cancellation by RST_STREAM, for each of the four call kinds.
 *
 * A {@linkcode Channel} is one connection to one server; the host's
 * `PluginClient` makes its typed service clients on it.
 *
 * @module
 */

import { Queue } from "../_queue.ts";
import { after } from "../_timer.ts";
import {
  H2Connection,
  type H2Stream,
  type StreamHandler,
  type Transport,
} from "../h2/connection.ts";
import { H2Error } from "../h2/frame.ts";
import { ConstantHeaders, encodeHeaders } from "../h2/hpack.ts";
import type { CallKind, MethodDefinition } from "./service.ts";
import { MessageBudget } from "./message_budget.ts";
import { MessageReader, type ReaderWindow } from "./message_reader.ts";
import { receivedRpcError, RpcError, Status, type StatusCode } from "./status.ts";
import { decodeBinValue } from "./metadata.ts";
import {
  ACCEPTED_ENCODINGS,
  type Compression,
  formatTimeout,
  GRPC_ACCEPT_ENCODING,
  GRPC_CONTENT_TYPE,
  GRPC_ENCODING,
  GRPC_STATUS_DETAILS,
  gzip,
  messagePrefix,
  type Metadata,
  metadataFields,
  type MetadataInit,
  metadataOf,
  percentDecode,
  statusOfHttp,
} from "./wire.ts";

/** Options of one client call. */
export interface CallOptions {
  /** Deadline, from now, in milliseconds: sent as `grpc-timeout`, and the call fails with DEADLINE_EXCEEDED after it. */
  timeoutMs?: number;
  /** Cancels the call (RST_STREAM CANCEL); it then fails with CANCELLED. */
  signal?: AbortSignal;
  /** Request metadata. Names are lower-cased; `-bin` names take bytes. */
  metadata?: MetadataInit;
  /** Called with the response headers' metadata, when they arrive. */
  onHeaders?: (metadata: Metadata) => void;
  /** Called with the trailers' metadata, when the call ends with trailers. */
  onTrailers?: (metadata: Metadata) => void;
  /**
   * `"gzip"` compresses every request message (and sends `grpc-encoding:
   * gzip`); the default sends them as they are. Responses are decompressed
   * whatever this says: every call accepts gzip.
   */
  compression?: Compression;
  /** Called as each response message arrives, before it is decoded, with whether it came compressed. */
  onResponseMessage?: (compressed: boolean) => void;
}

/** Settings of a {@linkcode Channel}. */
export interface ChannelOptions {
  /** `:authority` of every request (go-plugin's Go host sends `localhost` under TLS). */
  authority: string;
  /** `:scheme`: `https` under TLS. */
  scheme: "http" | "https";
  /** Largest message sent or received, in bytes. */
  maxMessageBytes: number;
  /**
   * Most bytes the messages received on one connection's streams hold
   * together, each from its prefix (by its size, plus ~128 bytes a message
   * costs besides) until the caller reads it or its call's status arrives; a stream
   * whose message would pass it while others hold some
   * fails its call with RESOURCE_EXHAUSTED (the stream reset with CANCEL) (one stream alone may still receive a
   * message up to `maxMessageBytes`).
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Called once when the connection has closed. */
  onClose?: (reason: string) => void;
  /**
   * How long the server may take to send its SETTINGS frame before the
   * connection is closed (its calls then fail with UNAVAILABLE).
   * @default {10000} (`H2Limits.prefaceTimeoutMs`)
   */
  prefaceTimeoutMs?: number;
}

/** A method with its message types erased. */
type AnyMethod = MethodDefinition<unknown, unknown>;

const USER_AGENT = "rpcplugin-deno/0.1";
/** Methods whose request header prefix a channel keeps. */
const MAX_CACHED_PATHS = 1024;

function isStreamingRequest(kind: CallKind): boolean {
  return kind === "clientStream" || kind === "bidiStream";
}

/** The status an HTTP/2 reset code means for a call (the gRPC spec's mapping). */
function statusOfReset(code: number): StatusCode {
  switch (code) {
    case H2Error.REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case H2Error.CANCEL:
      return Status.CANCELLED;
    case H2Error.ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    default:
      return Status.INTERNAL;
  }
}

/** What a server's trailers say of a failed call besides code and message. */
interface ReceivedStatus {
  /** The trailers' metadata. */
  metadata: Metadata;
  /** The `grpc-status-details-bin` bytes. */
  details: Uint8Array | undefined;
}

/** One gRPC client connection: calls become streams of its HTTP/2 client connection. */
export class Channel {
  /** The HTTP/2 connection. */
  readonly conn: H2Connection;
  readonly #options: ChannelOptions;
  readonly #prefixes = new Map<string, ConstantHeaders>();
  /** What the responses received and not yet read on the connection's streams hold. @internal */
  readonly budget: MessageBudget;

  /**
   * @param transport Where the connection's bytes go; feed what it reads to {@linkcode receive}.
   * @param options Authority, scheme, limits.
   */
  constructor(transport: Transport, options: ChannelOptions) {
    this.#options = options;
    this.budget = new MessageBudget(options.maxPartialMessageBytes);
    this.conn = new H2Connection(transport, {
      role: "client",
      limits: options.prefaceTimeoutMs === undefined
        ? undefined
        : { prefaceTimeoutMs: options.prefaceTimeoutMs },
      onClose: (_c, reason) => options.onClose?.(reason),
    });
  }

  /** Feeds bytes read from the transport (a view valid only during the call). */
  receive(chunk: Uint8Array): void {
    this.conn.receive(chunk);
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.conn.closed;
  }

  /** Closes the connection at once; pending calls fail with UNAVAILABLE. */
  close(reason = "the client closed the connection"): void {
    this.conn.close(reason);
  }

  /** A unary call. */
  unary(method: AnyMethod, request: unknown, options: CallOptions = {}): Promise<unknown> {
    return new ClientCall(this, method, [request], options).single();
  }

  /** A server-streaming call: the responses as they arrive. */
  serverStream(
    method: AnyMethod,
    request: unknown,
    options: CallOptions = {},
  ): AsyncIterable<unknown> {
    return new ClientCall(this, method, [request], options).responses();
  }

  /** A client-streaming call: sends `requests`, then resolves with the one response. */
  clientStream(
    method: AnyMethod,
    requests: AsyncIterable<unknown> | Iterable<unknown>,
    options: CallOptions = {},
  ): Promise<unknown> {
    return new ClientCall(this, method, requests, options).single();
  }

  /** A bidirectional call: sends `requests` while the responses arrive. */
  bidiStream(
    method: AnyMethod,
    requests: AsyncIterable<unknown> | Iterable<unknown>,
    options: CallOptions = {},
  ): AsyncIterable<unknown> {
    return new ClientCall(this, method, requests, options).responses();
  }

  /**
   * The request header fields every call of a method sends: constant, so
   * the connection's HPACK encoder sends them as indexes after the first call.
   * @internal
   */
  requestHead(path: string): ConstantHeaders {
    let prefix = this.#prefixes.get(path);
    if (!prefix) {
      prefix = new ConstantHeaders([
        [":method", "POST"],
        [":scheme", this.#options.scheme],
        [":path", path],
        [":authority", this.#options.authority],
        ["content-type", GRPC_CONTENT_TYPE],
        ["te", "trailers"],
        ["user-agent", USER_AGENT],
        [GRPC_ACCEPT_ENCODING, ACCEPTED_ENCODINGS],
      ]);
      if (this.#prefixes.size < MAX_CACHED_PATHS) this.#prefixes.set(path, prefix);
    }
    return prefix;
  }

  /**
   * The request header fields of one call that follow {@linkcode requestHead}
   * (deadline, encoding, metadata), encoded without the dynamic table.
   * @internal
   */
  requestTail(options: CallOptions, timeLeftMs?: number): Uint8Array {
    const fields: [string, string][] = timeLeftMs === undefined
      ? []
      : [["grpc-timeout", formatTimeout(timeLeftMs)]];
    if (options.compression === "gzip") fields.push([GRPC_ENCODING, "gzip"]);
    if (options.metadata) fields.push(...metadataFields(options.metadata));
    return encodeHeaders(fields);
  }

  /** @internal */
  get maxMessageBytes(): number {
    return this.#options.maxMessageBytes;
  }
}

/** The state of one call. */
class ClientCall implements StreamHandler, ReaderWindow {
  #channel: Channel;
  #method: AnyMethod;
  #options: CallOptions;
  #stream: H2Stream | null = null;
  #reader: MessageReader;
  #queue = new Queue<Uint8Array>();
  #count = 0;
  #gotHeaders = false;
  /** The final status, once known. */
  /** Whether the call has ended. */
  #done = false;
  #ok = false;
  /** The error a failed call throws (made only for failures: an Error captures a stack). */
  #status: RpcError | null = null;
  #wake: (() => void) | null = null;
  #cancelTimer: (() => void) | null = null;
  /** When the deadline passes (`performance.now()` time), if the call has one. */
  #deadline = Infinity;
  #onAbort: (() => void) | null = null;
  /** Ends this call's wait for a stream slot, if it waits for one. */
  #slotWait: AbortController | null = null;
  #streamingResponses: boolean;
  /** Requests go gzip-compressed. */
  #gzip = false;
  /** The trailers arrived while responses were still being decompressed. */
  #trailersPending = false;

  constructor(
    channel: Channel,
    method: AnyMethod,
    requests: AsyncIterable<unknown> | Iterable<unknown>,
    options: CallOptions,
  ) {
    this.#channel = channel;
    this.#method = method;
    this.#options = options;
    this.#streamingResponses = method.kind === "serverStream" || method.kind === "bidiStream";
    this.#reader = new MessageReader(
      channel.maxMessageBytes,
      (msg, compressed) => this.#message(msg, compressed),
      (err) => this.#fail(err),
      channel.budget,
      this,
      this.#streamingResponses,
    );
    this.#gzip = options.compression === "gzip";
    void this.#start(requests);
  }

  async #start(requests: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> {
    const { signal, timeoutMs, compression } = this.#options;
    if (compression !== undefined && compression !== "identity" && compression !== "gzip") {
      return this.#fail(
        new TypeError(
          `Unknown request compression ${JSON.stringify(compression)}: use "gzip" or "identity"`,
        ),
      );
    }
    if (signal?.aborted) return this.#cancelled(signal.reason);
    if (signal) {
      this.#onAbort = () => this.#cancelled(signal.reason);
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (timeoutMs !== undefined) {
      this.#deadline = performance.now() + timeoutMs;
      this.#cancelTimer = after(Math.max(0, timeoutMs), () => {
        this.#cancelTimer = null;
        this.#end(Status.DEADLINE_EXCEEDED, "deadline exceeded", true);
      });
    }
    // The one request of a unary or server-streaming call, made before
    // waiting for a stream slot (compressing it is asynchronous).
    let first: Uint8Array | null = null;
    /** Whether this call has waited (for gzip, for a stream slot) since its deadline was set. */
    let waited = this.#gzip;
    if (!isStreamingRequest(this.#method.kind)) {
      try {
        first = this.#encode((requests as unknown[])[0]);
        if (this.#gzip) first = await gzip(first);
      } catch (err) {
        return this.#fail(err);
      }
      if (this.#done) return;
    }
    const conn = this.#channel.conn;
    // Every waiter wakes when a slot frees: check again, and open the stream
    // in the same turn as the check, or calls go over the server's limit.
    while (!conn.streamSlotFree) {
      waited = true;
      // Aborted when the call ends first (deadline, cancel): the wait leaves the connection.
      this.#slotWait ??= new AbortController();
      await conn.streamSlot(this.#slotWait.signal);
      if (this.#done) return;
    }
    let head: ConstantHeaders, tail: Uint8Array;
    try {
      // What is left of the deadline after waiting (a clock read only then).
      const left = this.#deadline === Infinity
        ? undefined
        : waited
        ? this.#deadline - performance.now()
        : timeoutMs;
      head = this.#channel.requestHead(this.#method.path);
      tail = this.#channel.requestTail(this.#options, left);
    } catch (err) {
      return this.#fail(err);
    }
    this.#stream = conn.openStream(head, false, this, tail);
    if (!this.#stream) {
      const why = conn.closeReason || "the server is going away";
      return this.#end(Status.UNAVAILABLE, `connection closed: ${why}`, false);
    }
    if (first) {
      this.#stream.sendLast(messagePrefix(first.length, this.#gzip), first);
      return;
    }
    await this.#writeAll(requests);
  }

  async #writeAll(requests: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> {
    const stream = this.#stream!;
    try {
      for await (const req of requests) {
        if (this.#done || stream.closed) return;
        let bytes: Uint8Array;
        try {
          bytes = this.#encode(req);
          if (this.#gzip) bytes = await gzip(bytes);
        } catch (err) {
          // Not the request stream's failure: the message's (too large, not valid).
          return this.#fail(err);
        }
        if (this.#done || stream.closed) return;
        stream.sendData(messagePrefix(bytes.length, this.#gzip), bytes);
        await stream.writable();
      }
    } catch (err) {
      if (this.#done) return;
      const text = err instanceof Error ? err.message : String(err);
      return this.#end(Status.CANCELLED, `the request stream failed: ${text}`, true);
    }
    if (!this.#done) stream.end();
  }

  #encode(value: unknown): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = this.#method.request.encode(value);
    } catch (err) {
      throw new RpcError(
        Status.INTERNAL,
        `The request to ${this.#method.path} is not a valid message: ${(err as Error).message}`,
      );
    }
    const max = this.#channel.maxMessageBytes;
    if (bytes.length > max) {
      throw new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `trying to send message larger than max (${bytes.length} vs. ${max})`,
      );
    }
    return bytes;
  }

  /** The reader's window ({@linkcode ReaderWindow}): given back on the stream, once it has one. */
  consumed(n: number): void {
    this.#stream?.consumed(n);
  }

  // --- StreamHandler

  headers(fields: [string, string][], endStream: boolean): void {
    if (this.#done) return;
    if (!this.#gotHeaders) {
      this.#gotHeaders = true;
      let httpStatus = "", contentType = "", hasGrpcStatus = false;
      for (const [name, value] of fields) {
        if (name === ":status") httpStatus = value;
        else if (name === "content-type") contentType = value;
        else if (name === "grpc-status") hasGrpcStatus = true;
        else if (name === GRPC_ENCODING) this.#reader.encoding = value;
      }
      if (httpStatus !== "200" && !(endStream && hasGrpcStatus)) {
        return this.#end(
          statusOfHttp(httpStatus),
          `unexpected HTTP status ${httpStatus || "(none)"} from the server`,
          true,
        );
      }
      if (!contentType.startsWith(GRPC_CONTENT_TYPE)) {
        return this.#end(
          Status.UNKNOWN,
          `the server answered with content type "${contentType}", not ${GRPC_CONTENT_TYPE}`,
          true,
        );
      }
      if (!endStream) {
        this.#options.onHeaders?.(metadataOf(fields));
        return;
      }
    }
    // Trailers (or a trailers-only answer), after the messages still being decompressed.
    const pending = this.#reader.pending;
    if (pending) {
      this.#trailersPending = true;
      pending.then(() => this.#trailers(fields));
    } else {
      this.#trailers(fields);
    }
  }

  #trailers(fields: [string, string][]): void {
    if (this.#done) return;
    const metadata = metadataOf(fields);
    this.#options.onTrailers?.(metadata);
    let code = "", message = "", details: string | undefined;
    for (const [name, value] of fields) {
      if (name === "grpc-status") code = value;
      else if (name === "grpc-message") message = percentDecode(value);
      else if (name === GRPC_STATUS_DETAILS) details = value;
    }
    if (code === "") {
      return this.#end(Status.INTERNAL, "the server ended the call without a grpc-status", true);
    }
    if (!/^\d{1,10}$/.test(code)) {
      const shown = JSON.stringify(code.length > 40 ? `${code.slice(0, 40)}…` : code);
      return this.#end(
        Status.INTERNAL,
        `the server ended the call with a malformed grpc-status ${shown} (not a status code)`,
        true,
      );
    }
    if (!this.#reader.atBoundary) {
      return this.#end(Status.INTERNAL, "the response ended inside a message", true);
    }
    let status = Number(code) as StatusCode;
    if (status > Status.UNAUTHENTICATED) {
      // Not a code of the gRPC spec: UNKNOWN, as grpc-java takes it, saying which it was.
      message = `the server sent the unknown grpc-status ${Number(code)}${
        message ? `: ${message}` : ""
      }`;
      status = Status.UNKNOWN;
    }
    if (status === Status.OK) this.#checkCount();
    if (this.#done) return;
    if (status === Status.OK) return this.#end(status, message, false);
    this.#end(status, message, false, {
      metadata,
      details: details === undefined ? undefined : decodeBinValue(details),
    });
  }

  data(bytes: Uint8Array, endStream: boolean): void {
    if (this.#done) return;
    if (bytes.length) {
      try {
        this.#reader.push(bytes);
      } catch (err) {
        return this.#fail(err);
      }
      this.#reader.received(bytes.length);
    }
    if (endStream) {
      this.#end(Status.INTERNAL, "the server ended the stream without sending trailers", false);
    }
  }

  reset(code: number, cause?: string): void {
    // The trailers arrived and wait for decompression: they carry the status.
    if (this.#done || this.#trailersPending) return;
    const conn = this.#channel.conn;
    if (conn.closed) {
      return this.#end(Status.UNAVAILABLE, `connection closed: ${conn.closeReason}`, false);
    }
    if (conn.failure) {
      return this.#end(Status.UNAVAILABLE, `connection failed: ${conn.failure}`, false);
    }
    if (cause !== undefined) {
      // We reset it: the server's answer broke HTTP/2, or a bound of ours (the answer's, or
      // our request's output the server never took).
      return this.#end(
        code === H2Error.ENHANCE_YOUR_CALM ? Status.RESOURCE_EXHAUSTED : Status.INTERNAL,
        `this side reset the call's stream: ${cause}`,
        false,
      );
    }
    if (code === H2Error.REFUSED_STREAM && conn.peerGoAway) {
      return this.#end(Status.UNAVAILABLE, "the server is going away and refused the call", false);
    }
    // A server whose own timer for our grpc-timeout fires first resets with
    // CANCEL (grpc-go does): past our deadline, that is DEADLINE_EXCEEDED.
    if (code === H2Error.CANCEL && performance.now() >= this.#deadline) {
      return this.#end(Status.DEADLINE_EXCEEDED, "deadline exceeded", false);
    }
    this.#end(statusOfReset(code), `stream reset by the server (HTTP/2 error code ${code})`, false);
  }

  // --- messages in

  #message(msg: Uint8Array, compressed: boolean): void {
    this.#options.onResponseMessage?.(compressed);
    this.#count++;
    if (!this.#streamingResponses && this.#count > 1) {
      throw new RpcError(
        Status.INTERNAL,
        `${this.#method.path} returns one response message, but the server sent more`,
      );
    }
    this.#queue.push(msg);
    this.#wake?.();
  }

  #checkCount(): void {
    if (!this.#streamingResponses && this.#count === 0) {
      this.#end(
        Status.INTERNAL,
        `${this.#method.path} returns one response message, but the server sent none`,
        true,
      );
    }
  }

  #decode(bytes: Uint8Array): unknown {
    try {
      return this.#method.response.decode(bytes);
    } catch (err) {
      throw new RpcError(
        Status.INTERNAL,
        `The response of ${this.#method.path} is not a valid message: ${(err as Error).message}`,
      );
    }
  }

  /** Waits for the status, then the one response. */
  async single(): Promise<unknown> {
    while (!this.#done) await new Promise<void>((resolve) => (this.#wake = resolve));
    if (!this.#ok) throw this.#status;
    return this.#decode(this.#queue.first()!);
  }

  /** The responses as they arrive; breaking out of the loop cancels the call. */
  responses(): AsyncIterable<unknown> {
    // deno-lint-ignore no-this-alias
    const call = this;
    return {
      async *[Symbol.asyncIterator]() {
        let finished = false;
        try {
          while (true) {
            const next = call.#queue.shift();
            if (next) {
              call.#reader.taken(next);
              yield call.#decode(next);
              continue;
            }
            if (call.#done) {
              finished = true;
              if (!call.#ok) throw call.#status;
              return;
            }
            await new Promise<void>((resolve) => (call.#wake = resolve));
            call.#wake = null;
          }
        } finally {
          if (!finished) call.#cancelled(new Error("the caller stopped reading the responses"));
        }
      },
    };
  }

  // --- ending

  #cancelled(reason: unknown): void {
    const text = reason instanceof Error ? reason.message : String(reason ?? "aborted");
    this.#end(Status.CANCELLED, `call cancelled: ${text}`, true);
  }

  #fail(err: unknown): void {
    if (err instanceof RpcError) return this.#end(err.code, err.message, true);
    this.#end(Status.INTERNAL, err instanceof Error ? err.message : String(err), true);
  }

  /**
   * Settles the call, and resets the stream unless both sides have ended it
   * (the server must hear that we gave up, even after our END_STREAM).
   * `local`: we end the call (cancelled, deadline, a bad response), so
   * responses not yet read are dropped; when the server ends it (status,
   * reset, connection lost), they are still delivered before the error.
   * `from`: the trailers of a status the server sent, for the error.
   */
  #end(code: StatusCode, message: string, local: boolean, from?: ReceivedStatus): void {
    if (this.#done) return;
    this.#done = true;
    this.#reader.stop();
    this.#ok = code === Status.OK;
    if (!this.#ok) {
      this.#status = from
        ? receivedRpcError(code, message, from.metadata, from.details)
        : new RpcError(code, message);
    }
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    if (this.#onAbort) this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = null;
    this.#slotWait?.abort();
    const stream = this.#stream;
    if (stream) {
      stream.handler = null;
      stream.reset(this.#ok ? H2Error.NO_ERROR : H2Error.CANCEL);
    }
    if (!this.#ok && local) this.#queue.clear();
    this.#wake?.();
  }
}
