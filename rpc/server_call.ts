/**
 * gRPC over one HTTP/2 stream (the gRPC "PROTOCOL-HTTP2" spec): request
 * headers, length-prefixed messages, deadlines, and the response with its
 * status trailers, for each of the four call kinds.
 *
 * @module
 */

import { after } from "../_timer.ts";
import type { Logger } from "../log/logger.ts";
import type { CallContext, ServiceImplementation } from "./service.ts";
import { RpcError, Status, type StatusCode } from "./status.ts";
import { type AnyMethod, decodeRequest, encodeResponse, statusOf } from "./handler.ts";
import type { H2Stream, StreamHandler } from "../h2/connection.ts";
import { encodeHeaders } from "../h2/hpack.ts";
import {
  GRPC_CONTENT_TYPE,
  messagePrefix,
  MessageReader,
  metadataOf,
  parseTimeout,
  RESPONSE_FIELDS,
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
  /** Where handler failures are logged. */
  logger: Logger;
}

/** Queued request messages beyond which the client's window is held back. */
const QUEUE_HIGH_WATER = 16;

let responseHeaders: Uint8Array | undefined;
let okTrailers: Uint8Array | undefined;

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
      case "grpc-encoding":
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
  if (encoding && encoding !== "identity") {
    return stream.end(
      statusBlock(
        Status.UNIMPLEMENTED,
        `message encoding "${encoding}" is not supported`,
        true,
        [["grpc-accept-encoding", "identity"]],
      ),
    );
  }
  const call = new Call(stream, route, headers, options);
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
  readonly method: string;
  #stream: H2Stream;
  #route: Route;
  #headers: readonly [string, string][];
  #opts: CallOptions;
  #metadata: Record<string, (string | Uint8Array)[]> | null = null;
  #abort: AbortController | null = null;
  #cancelReason: RpcError | null = null;
  #done = false;
  #cancelTimer: (() => void) | null = null;
  #reader: MessageReader;
  // requests
  #streaming: boolean;
  #single: Uint8Array | null = null;
  #count = 0;
  #queue: Uint8Array[] = [];
  #held = 0;
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(
    stream: H2Stream,
    route: Route,
    headers: readonly [string, string][],
    opts: CallOptions,
  ) {
    this.#stream = stream;
    this.#route = route;
    this.#headers = headers;
    this.#opts = opts;
    this.method = route.method.path;
    this.#streaming = route.method.kind === "clientStream" || route.method.kind === "bidiStream";
    this.#reader = new MessageReader(opts.maxMessageBytes, (msg) => this.#message(msg));
  }

  get metadata(): Record<string, (string | Uint8Array)[]> {
    return this.#metadata ??= metadataOf(this.#headers);
  }

  get signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#cancelReason) this.#abort.abort(this.#cancelReason);
    }
    return this.#abort.signal;
  }

  setDeadline(ms: number): void {
    this.#cancelTimer = after(ms, () => {
      this.#cancelTimer = null;
      const err = new RpcError(Status.DEADLINE_EXCEEDED, "deadline exceeded");
      this.#finish(err.code, err.message);
      this.#cancel(err);
    });
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
      if (!this.#streaming || this.#queue.length < QUEUE_HIGH_WATER) {
        this.#stream.consumed(bytes.length);
      } else {
        this.#held += bytes.length;
      }
    }
    if (endStream) this.#endOfRequests();
  }

  reset(_code: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearTimer();
    this.#cancel(new RpcError(Status.CANCELLED, "call cancelled by the client"));
  }

  // --- messages in

  #message(msg: Uint8Array): void {
    this.#count++;
    if (this.#streaming) {
      this.#queue.push(msg);
      this.#wake?.();
    } else if (this.#count === 1) {
      this.#single = msg;
    } else {
      throw new RpcError(
        Status.UNIMPLEMENTED,
        `${this.method} takes one request message, but the client sent more`,
      );
    }
  }

  #endOfRequests(): void {
    if (!this.#reader.atBoundary) {
      return this.#fail(new RpcError(Status.INTERNAL, "the request ended inside a message"));
    }
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
    this.#runSingle(req);
  }

  async *#requests(): AsyncGenerator<unknown> {
    while (true) {
      const next = this.#queue.shift();
      if (next) {
        if (this.#held && this.#queue.length < QUEUE_HIGH_WATER) {
          this.#stream.consumed(this.#held);
          this.#held = 0;
        }
        yield decodeRequest(this.#route.method, next);
        continue;
      }
      if (this.#cancelReason) throw this.#cancelReason;
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
      return this.#fail(err);
    }
    if (m.kind === "unary") {
      if (result instanceof Promise) {
        result.then((v) => this.#reply(v), (err) => this.#fail(err));
      } else {
        this.#reply(result);
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
      return this.#fail(err);
    }
    if (m.kind === "clientStream") {
      Promise.resolve(result).then((v) => this.#reply(v), (err) => this.#fail(err));
    } else {
      void this.#writeAll(result);
    }
  }

  #reply(value: unknown): void {
    if (this.#done) return;
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(value);
    } catch (err) {
      return this.#fail(err);
    }
    this.#send(bytes);
    this.#finish(Status.OK, "");
  }

  async #writeAll(out: unknown): Promise<void> {
    try {
      for await (const item of out as AsyncIterable<unknown>) {
        if (this.#done) break;
        this.#send(this.#encode(item));
        await this.#stream.writable();
      }
      this.#finish(Status.OK, "");
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Sends one response message, after the response headers if they are not out yet. */
  #send(bytes: Uint8Array): void {
    if (!this.#stream.headersSent) {
      this.#stream.sendHeaders(responseHeaders ??= encodeHeaders(RESPONSE_FIELDS));
    }
    this.#stream.sendData(messagePrefix(bytes.length), bytes);
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
    const { code, details } = statusOf(err, this.method, this.#opts.logger);
    this.#finish(code, details);
    this.#cancel(new RpcError(Status.CANCELLED, "call ended"));
  }

  #finish(code: StatusCode, details: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearTimer();
    const trailersOnly = !this.#stream.headersSent;
    this.#stream.end(
      code === Status.OK && !trailersOnly
        ? (okTrailers ??= encodeHeaders([["grpc-status", "0"]]))
        : statusBlock(code, details, trailersOnly),
    );
    this.#wake?.();
  }

  #cancel(reason: RpcError): void {
    if (this.#cancelReason) return;
    this.#cancelReason = reason;
    this.#clearTimer();
    this.#abort?.abort(reason);
    this.#wake?.();
  }

  #clearTimer(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
  }
}
