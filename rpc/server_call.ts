/**
 * gRPC over one HTTP/2 stream (the gRPC "PROTOCOL-HTTP2" spec): request
 * headers, length-prefixed messages (identity or gzip, both ways), deadlines,
 * and the response with the handler's headers and its status trailers, for
 * each of the four call kinds.
 *
 * @module
 */

import { Queue } from "../_queue.ts";
import { after } from "../_timer.ts";
import { type Logger, withFields } from "../log/logger.ts";
import type { Broker } from "../services/broker.ts";
import type { CallContext, PeerInfo, ServiceImplementation } from "./service.ts";
import type { Compression, MetadataInit } from "./wire.ts";
import { RpcError, Status, type StatusCode } from "./status.ts";
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
} from "./handler.ts";
import type { H2Stream, StreamHandler } from "../h2/connection.ts";
import { MessageBudget } from "./message_budget.ts";
import { MessageReader } from "./message_reader.ts";
import { H2Error } from "../h2/frame.ts";
import { encodeHeaders } from "../h2/hpack.ts";
import {
  ACCEPTED_ENCODINGS,
  acceptsGzip,
  GRPC_ACCEPT_ENCODING,
  GRPC_CONTENT_TYPE,
  GRPC_ENCODING,
  gzip,
  messagePrefix,
  metadataFields,
  metadataOf,
  OK_TRAILERS,
  parseTimeout,
  RESPONSE_HEADERS,
  RESPONSE_HEADERS_BLOCK,
  statusBlock,
} from "./wire.ts";

/** A method and its handler. */
export interface Route {
  /** The method. */
  method: AnyMethod;
  /** Its handler. */
  handler: (...args: unknown[]) => unknown;
}

/** Adds a service's methods to a route table, by wire path. */
export function addRoutes(routes: Map<string, Route>, service: ServiceImplementation): void {
  for (const [name, method] of Object.entries(service.definition.methods)) {
    routes.set(method.path, { method: method as AnyMethod, handler: service.handlers[name] });
  }
}

/** What every call of one server shares. */
export interface CallOptions {
  /** Methods by path. */
  routes: ReadonlyMap<string, Route>;
  /** Largest message accepted or sent. */
  maxMessageBytes: number;
  /**
   * Most bytes the messages still arriving, or received and not yet taken,
   * on one connection's streams hold together, each counted by its declared
   * size plus ~128 bytes (message_reader.ts); a message that would pass it
   * while others hold some fails with RESOURCE_EXHAUSTED at its prefix, or a
   * gzip one while it is decompressed (one stream alone may still receive a
   * message up to `maxMessageBytes`).
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Where handler failures are logged, and what `call.logger` writes through. */
  logger: Logger;
  /** What handlers see as `call.broker` (set by `serve()` and `serveInProcess()`). */
  broker?: Broker;
  /** The remote end of the connection the calls come on. */
  peer?: PeerInfo;
}

/** The peer of calls whose connection is not described. */
const UNKNOWN_PEER: PeerInfo = Object.freeze({ network: "pipe", address: "" });

/**
 * Answers a stream whose request headers were just decoded: a gRPC call on
 * a known route, or an error response.
 */
export function startCall(
  stream: H2Stream,
  headers: readonly [string, string][],
  options: CallOptions,
): void {
  let method = "", path = "", contentType = "", encoding = "", timeout = "";
  for (const [name, value] of headers) {
    switch (name) {
      case ":method":
        method = value;
        break;
      case ":path":
        path = value;
        break;
      case "content-type":
        contentType = value;
        break;
      case GRPC_ENCODING:
        encoding = value;
        break;
      case "grpc-timeout":
        timeout = value;
        break;
    }
  }
  if (method !== "POST") return refuse(stream, "405");
  if (!contentType.startsWith(GRPC_CONTENT_TYPE)) return refuse(stream, "415");
  const route = options.routes.get(path);
  if (!route) {
    return stream.end(
      statusBlock(
        Status.UNIMPLEMENTED,
        `unknown method ${path}: this plugin does not serve it`,
        true,
      ),
    );
  }
  if (encoding && encoding !== "identity" && encoding !== "gzip") {
    return stream.end(
      statusBlock(
        Status.UNIMPLEMENTED,
        `message encoding "${encoding}" is not supported (only identity and gzip)`,
        true,
        [[GRPC_ACCEPT_ENCODING, ACCEPTED_ENCODINGS]],
      ),
    );
  }
  const call = new Call(stream, route, headers, options, encoding);
  stream.handler = call;
  const ms = parseTimeout(timeout);
  if (ms !== undefined) call.setDeadline(ms);
  if (route.method.kind === "clientStream" || route.method.kind === "bidiStream") {
    call.runStreaming();
  }
}

function refuse(stream: H2Stream, status: string): void {
  stream.end(encodeHeaders([[":status", status]]));
}

class Call implements StreamHandler, CallContext {
  /** The server's broker. */
  get broker(): Broker {
    return this.#opts.broker as Broker;
  }
  readonly method: string;
  #stream: H2Stream;
  #route: Route;
  #headers: readonly [string, string][];
  #opts: CallOptions;
  #metadata: Record<string, (string | Uint8Array)[]> | null = null;
  #abort: AbortController | null = null;
  /** Why the call ended before its handler finished: what the signal aborts with. */
  #abortReason: RpcError | null = null;
  /** The handler returned (or threw), or its response iterable is exhausted. */
  #handlerDone = false;
  #done = false;
  /** The call is over (status sent, or cancelled): `ended` resolves. */
  #over = false;
  #endedPromise: Promise<void> | null = null;
  #resolveEnded: (() => void) | null = null;
  #logger: Logger | null = null;
  #deadline = NO_DEADLINE;
  #cancelTimer: (() => void) | null = null;
  #reader: MessageReader;
  // requests
  #streaming: boolean;
  #single: Uint8Array | null = null;
  #count = 0;
  #queue = new Queue<Uint8Array>();
  /** Whether each queued request came compressed; made when the first compressed one arrives. */
  #queueCompressed: Queue<boolean> | null = null;
  #requestCompressed = false;
  #ended = false;
  #wake: (() => void) | null = null;
  // what the handler adds to the response
  #headerFields: [string, string][] | null = null;
  #trailerFields: [string, string][] | null = null;
  /** Compress the response messages sent from now on (the handler asked, the client accepts). */
  #compress = false;
  /** The response headers, when they go out, name gzip (the handler asked for it before). */
  #announceGzip = false;
  /** The response headers that went out named gzip. */
  #gzipOut = false;
  #clientAcceptsGzip: boolean | undefined;

  constructor(
    stream: H2Stream,
    route: Route,
    headers: readonly [string, string][],
    opts: CallOptions,
    encoding: string,
  ) {
    this.#stream = stream;
    this.#route = route;
    this.#headers = headers;
    this.#opts = opts;
    this.method = route.method.path;
    this.#streaming = route.method.kind === "clientStream" || route.method.kind === "bidiStream";
    this.#reader = new MessageReader(
      opts.maxMessageBytes,
      (msg, compressed) => this.#message(msg, compressed),
      (err) => this.#fail(err),
      MessageBudget.of(stream.conn, opts.maxPartialMessageBytes),
      stream,
      this.#streaming,
    );
    if (encoding) this.#reader.encoding = encoding;
  }

  get metadata(): Record<string, (string | Uint8Array)[]> {
    return this.#metadata ??= metadataOf(this.#headers);
  }

  get signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#abortReason) this.#abort.abort(this.#abortReason);
    }
    return this.#abort.signal;
  }

  get requestCompressed(): boolean {
    return this.#requestCompressed;
  }

  get logger(): Logger {
    return this.#logger ??= withFields(this.#opts.logger, { method: this.method });
  }

  get deadline(): Date | undefined {
    return this.#deadline.date;
  }

  timeRemaining(): number {
    return this.#deadline.remaining();
  }

  get ended(): Promise<void> {
    if (!this.#endedPromise) {
      if (this.#over) this.#endedPromise = Promise.resolve();
      else {
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#endedPromise = promise;
        this.#resolveEnded = resolve;
      }
    }
    return this.#endedPromise;
  }

  get peer(): PeerInfo {
    return this.#opts.peer ?? UNKNOWN_PEER;
  }

  setHeaders(md: MetadataInit): void {
    if (this.#stream.headersSent || this.#done) throw headersSentError(this.method);
    const fields = metadataFields(md);
    if (this.#headerFields) this.#headerFields.push(...fields);
    else this.#headerFields = fields;
  }

  setTrailers(md: MetadataInit): void {
    if (this.#done) throw callEndedError(this.method);
    const fields = metadataFields(md);
    if (this.#trailerFields) this.#trailerFields.push(...fields);
    else this.#trailerFields = fields;
  }

  setResponseCompression(encoding: Compression): void {
    if (encoding === "identity") {
      this.#compress = false;
      return;
    }
    if (encoding !== "gzip") throw unknownCompressionError(encoding);
    if (this.#stream.headersSent && !this.#gzipOut) throw gzipTooLateError(this.method);
    this.#clientAcceptsGzip ??= acceptsGzip(
      this.#headers.find(([name]) => name === GRPC_ACCEPT_ENCODING)?.[1],
    );
    this.#compress = this.#clientAcceptsGzip;
    if (!this.#stream.headersSent) this.#announceGzip = this.#clientAcceptsGzip;
  }

  setDeadline(ms: number): void {
    const now = performance.now(); // one clock read for both
    this.#deadline = new CallDeadline(ms, now);
    this.#cancelTimer = after(ms, () => {
      this.#cancelTimer = null;
      this.#finish(Status.DEADLINE_EXCEEDED, "deadline exceeded");
      // What still waits for the client's window (the answer of a handler
      // that finished in time, or the status behind streamed messages) is
      // late now: reset the stream, as grpc-go does, so a client that grants
      // no window cannot keep it and its bytes.
      if (!this.#stream.closed) this.#stream.reset(H2Error.CANCEL);
    }, now);
  }

  // --- StreamHandler

  data(bytes: Uint8Array, endStream: boolean): void {
    if (this.#done) return;
    if (bytes.length) {
      try {
        this.#reader.push(bytes);
      } catch (err) {
        this.#fail(err);
        return;
      }
      this.#reader.received(bytes.length);
    }
    if (endStream) {
      if (!this.#reader.atBoundary) {
        return this.#fail(new RpcError(Status.INTERNAL, "the request ended inside a message"));
      }
      // After the messages still being decompressed, if any.
      const pending = this.#reader.pending;
      if (pending) pending.then(() => this.#endOfRequests());
      else this.#endOfRequests();
    }
  }

  reset(_code: number): void {
    this.#clearTimer();
    if (this.#done) return;
    this.#done = true;
    this.#stopReading();
    const conn = this.#stream.conn;
    this.#endEarly(
      this.#deadline.passed()
        ? new RpcError(Status.DEADLINE_EXCEEDED, "deadline exceeded")
        : new RpcError(
          Status.CANCELLED,
          conn.closed
            ? `call cancelled: the connection closed (${conn.closeReason})`
            : "call cancelled by the client",
        ),
    );
    this.#markOver();
  }

  sent(): void {
    this.#clearTimer();
  }

  // --- messages in

  #message(msg: Uint8Array, compressed: boolean): void {
    this.#count++;
    if (this.#streaming) {
      this.#queue.push(msg);
      if (compressed && !this.#queueCompressed) {
        this.#queueCompressed = new Queue();
        for (let i = 1; i < this.#queue.length; i++) this.#queueCompressed.push(false);
      }
      this.#queueCompressed?.push(compressed);
      this.#wake?.();
    } else if (this.#count === 1) {
      this.#single = msg;
      this.#requestCompressed = compressed;
    } else {
      throw new RpcError(
        Status.UNIMPLEMENTED,
        `${this.method} takes one request message, but the client sent more`,
      );
    }
  }

  #endOfRequests(): void {
    if (this.#done) return;
    if (this.#streaming) {
      this.#ended = true;
      this.#wake?.();
      return;
    }
    if (this.#count !== 1 || !this.#single) {
      return this.#fail(
        new RpcError(Status.UNIMPLEMENTED, `${this.method} takes one request message, got none`),
      );
    }
    const req = this.#single;
    this.#single = null;
    this.#reader.taken(req);
    this.#runSingle(req);
  }

  async *#requests(): AsyncGenerator<unknown> {
    while (true) {
      const next = this.#queue.shift();
      if (next) {
        if (this.#queueCompressed) this.#requestCompressed = this.#queueCompressed.shift()!;
        this.#reader.taken(next);
        yield decodeRequest(this.#route.method, next);
        continue;
      }
      if (this.#abortReason) throw this.#abortReason;
      // Over by the handler's own answer: a task it left reading ends here, with no
      // error to crash the plugin (the requests still queued went with the call).
      if (this.#ended || this.#done) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }

  // --- running the handler

  #runSingle(bytes: Uint8Array): void {
    const m = this.#route.method;
    let result: unknown;
    try {
      result = this.#route.handler(decodeRequest(m, bytes), this);
    } catch (err) {
      this.#handlerDone = true;
      return this.#fail(err);
    }
    if (m.kind === "unary") {
      if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
        // Any thenable, not only a real Promise: a handler may answer with another library's.
        Promise.resolve(result).then((v) => this.#replyDone(v), (err) => this.#failDone(err));
      } else {
        this.#replyDone(result);
      }
    } else {
      void this.#writeAll(result);
    }
  }

  runStreaming(): void {
    const m = this.#route.method;
    let result: unknown;
    try {
      result = this.#route.handler(this.#requests(), this);
    } catch (err) {
      this.#handlerDone = true;
      return this.#fail(err);
    }
    if (m.kind === "clientStream") {
      Promise.resolve(result).then((v) => this.#replyDone(v), (err) => this.#failDone(err));
    } else {
      void this.#writeAll(result);
    }
  }

  /** The handler answered `value`. */
  #replyDone(value: unknown): void {
    this.#handlerDone = true;
    this.#reply(value);
  }

  /** The handler failed with `err`. */
  #failDone(err: unknown): void {
    this.#handlerDone = true;
    this.#fail(err);
  }

  #reply(value: unknown): void {
    if (this.#done) return;
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(value);
    } catch (err) {
      return this.#fail(err);
    }
    if (this.#compress) {
      gzip(bytes).then((packed) => {
        if (this.#done) return;
        this.#send(packed, true);
        this.#finish(Status.OK, "");
      }, (err) => this.#fail(err));
      return;
    }
    this.#send(bytes, false);
    this.#finish(Status.OK, "");
  }

  /**
   * Sends what a streaming handler yields. A message that cannot go out
   * (too large, not a message) fails the call before the handler's
   * iterator is closed, so the handler's signal says why.
   */
  async #writeAll(out: unknown): Promise<void> {
    try {
      for await (const item of out as AsyncIterable<unknown>) {
        if (this.#done) break;
        try {
          const bytes = this.#encode(item);
          if (this.#compress) {
            const packed = await gzip(bytes);
            if (this.#done) break;
            this.#send(packed, true);
          } else {
            this.#send(bytes, false);
          }
          await this.#stream.writable();
        } catch (err) {
          this.#fail(err);
          break;
        }
      }
      this.#handlerDone = true;
      this.#finish(Status.OK, "");
    } catch (err) {
      this.#failDone(err);
    }
  }

  /**
   * Sends the response headers if they are not out yet: the shared block,
   * or one with the handler's metadata and the response encoding.
   */
  #sendHeaders(): void {
    if (this.#stream.headersSent) return;
    if (!this.#headerFields && !this.#announceGzip) {
      this.#stream.sendHeaders(RESPONSE_HEADERS_BLOCK);
      return;
    }
    const fields = [...RESPONSE_HEADERS];
    if (this.#announceGzip) {
      this.#gzipOut = true;
      fields.push([GRPC_ENCODING, "gzip"]);
    }
    if (this.#headerFields) fields.push(...this.#headerFields);
    this.#stream.sendHeaders(encodeHeaders(fields));
  }

  /** Sends one response message (compressed: already gzipped), after the response headers. */
  #send(bytes: Uint8Array, compressed: boolean): void {
    if (!this.#stream.headersSent) this.#sendHeaders();
    this.#stream.sendData(messagePrefix(bytes.length, compressed), bytes);
  }

  #encode(value: unknown): Uint8Array {
    const bytes = encodeResponse(this.#route.method, value);
    if (bytes.length > this.#opts.maxMessageBytes) {
      throw new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `response message larger than max (${bytes.length} vs. ${this.#opts.maxMessageBytes})`,
      );
    }
    return bytes;
  }

  // --- ending

  #fail(err: unknown): void {
    if (this.#done) return;
    const { code, details, trailers } = statusOf(err, this.method, this.#opts.logger);
    if (trailers) {
      if (this.#trailerFields) this.#trailerFields.push(...trailers);
      else this.#trailerFields = trailers;
    }
    this.#finish(code, details);
  }

  #finish(code: StatusCode, details: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopReading();
    // The deadline's timer stays until the status is out (`sent`): it resets
    // a stream whose client withholds the window the answer waits for.
    // Headers the handler set are headers, even with no message to carry them.
    if (this.#headerFields && !this.#stream.headersSent) this.#sendHeaders();
    const trailersOnly = !this.#stream.headersSent;
    const extra = this.#trailerFields;
    this.#stream.end(
      code === Status.OK && !trailersOnly && !extra
        ? OK_TRAILERS
        : statusBlock(code, details, trailersOnly, extra ?? undefined),
    );
    if (code !== Status.OK) this.#endEarly(new RpcError(code, details));
    this.#markOver();
  }

  #markOver(): void {
    if (this.#over) return;
    this.#over = true;
    this.#resolveEnded?.();
    this.#resolveEnded = null;
  }

  /**
   * The call ended (cancelled, past its deadline, or failed) while its
   * handler may still run: unless the handler finished, its signal aborts
   * with `reason` and its request iterator throws it (once woken by
   * {@linkcode #stopReading}, which every end of a call runs first).
   */
  #endEarly(reason: RpcError): void {
    if (this.#abortReason || this.#handlerDone) return;
    this.#abortReason = reason;
    this.#abort?.abort(reason);
  }

  /**
   * The call is over (reset, or its status sent): nothing more is read, what
   * its messages held of the budget goes back, the requests it has not read
   * are let go at once (not when its handler, which may ignore its signal,
   * finishes), and a reader of them waiting is woken to see the end.
   */
  #stopReading(): void {
    this.#reader.stop();
    this.#queue.clear();
    this.#queueCompressed = null;
    this.#single = null;
    this.#wake?.();
  }

  #clearTimer(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
  }
}
