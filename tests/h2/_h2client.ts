/**
 * Test-side HTTP/2 pieces: an in-memory transport that records what a
 * connection writes, a frame parser, frame builders, a scripted peer for a
 * connection in either role (it decodes the connection's header blocks and
 * gathers each stream), and an in-memory pipe joining two connections.
 *
 * @module
 */

import {
  CLIENT_PREFACE,
  Flag,
  frame,
  FRAME_HEADER_BYTES,
  FrameType,
  settingsFrame,
} from "../../h2/frame.ts";
import {
  type ConnectionOptions,
  H2Connection,
  type H2Stream,
  type Refusal,
  type Transport,
} from "../../h2/connection.ts";
export { connectPair, PipeTransport } from "../../h2/pipe.ts";
import { encodeHeaders, HpackDecoder } from "../../h2/hpack.ts";

/** One HTTP/2 frame as written by the server. */
export interface Frame {
  /** Frame type. */
  type: number;
  /** Flags. */
  flags: number;
  /** Stream identifier. */
  streamId: number;
  /** Payload (a copy). */
  payload: Uint8Array;
  /** Decoded header block, for HEADERS (with its CONTINUATIONs joined). */
  headers?: [string, string][];
}

/** Lets timers and microtasks run once (writes leave on a microtask). */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `cond()` holds, polling; throws after `timeoutMs`. */
export async function until(
  cond: () => boolean,
  what = "condition",
  timeoutMs = 3000,
): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await tick(1);
  }
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A literal field with incremental indexing and a new name (RFC 7541 6.2.1), no Huffman. */
export function indexedLiteral(name: string, value: string): number[] {
  const te = new TextEncoder();
  const n = te.encode(name), v = te.encode(value);
  return [0x40, n.length, ...n, v.length, ...v];
}

/** The header blocks and the message of a unary KV Get as grpc-go's client sends them. */
export interface GrpcGoGet {
  /** The first call's block: every field a literal that enters the dynamic table. */
  first: Uint8Array;
  /** Every later call's block: every field indexed from the dynamic table. */
  rest: Uint8Array;
  /** The length-prefixed `GetRequest{key: "bench"}`. */
  message: Uint8Array;
}

/**
 * go-plugin's `KV.Get` requests, replayed without a client: grpc-go indexes
 * every request field on the first call and sends them all indexed after.
 *
 * @param timeout A `grpc-timeout` value (e.g. `59999987u`, a 60 s deadline), or none.
 */
export function grpcGoGet(timeout?: string): GrpcGoGet {
  const fields: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/proto.KV/Get"],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["user-agent", "grpc-go/1.61.0"],
    ["te", "trailers"],
    ...(timeout ? [["grpc-timeout", timeout] as [string, string]] : []),
  ];
  return {
    first: new Uint8Array(fields.flatMap(([n, v]) => indexedLiteral(n, v))),
    // Index 62 is the newest entry (RFC 7541 2.3.3): the last field sent.
    rest: new Uint8Array(fields.map((_, i) => 0x80 | (62 + fields.length - 1 - i))),
    message: new Uint8Array([0, 0, 0, 0, 7, 0x0a, 5, ...new TextEncoder().encode("bench")]),
  };
}

/** Big-endian 32-bit value at `at`. */
export function u32At(bytes: Uint8Array, at = 0): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(at);
}

/** The (identifier, value) pairs of a SETTINGS frame. */
export function settingsOf(f: Frame): [number, number][] {
  const out: [number, number][] = [];
  const view = new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.length);
  for (let i = 0; i < f.payload.length; i += 6) {
    out.push([view.getUint16(i), view.getUint32(i + 2)]);
  }
  return out;
}

/** The type of each frame. */
export function types(frames: Frame[]): number[] {
  return frames.map((f) => f.type);
}

/** A transport that keeps every write. */
export class MemoryTransport implements Transport {
  /** Each write, copied. */
  readonly writes: Uint8Array[] = [];
  /** How many times close() was called. */
  closeCalls = 0;

  /** Whether close() was called. */
  get closed(): boolean {
    return this.closeCalls > 0;
  }

  /** Everything written so far. */
  get bytes(): Uint8Array {
    return concat(...this.writes);
  }

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("transport closed"));
    this.writes.push(data.slice());
    return Promise.resolve();
  }

  close(): void {
    this.closeCalls++;
  }
}

/**
 * A transport whose writes are kept (as {@linkcode MemoryTransport} does)
 * but do not complete until {@linkcode HeldTransport.release}: a peer that
 * does not read.
 */
export class HeldTransport extends MemoryTransport {
  #pending: (() => void)[] = [];

  /** Writes started and not completed. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  override write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("transport closed"));
    this.writes.push(data.slice());
    return new Promise((resolve) => this.#pending.push(resolve));
  }

  /** Completes every pending write. */
  release(): void {
    for (const done of this.#pending.splice(0)) done();
  }
}

/**
 * Splits bytes into frames; what is left after the last whole frame is
 * returned in `rest`.
 */
export function parseFrames(bytes: Uint8Array): { frames: Frame[]; rest: Uint8Array } {
  const frames: Frame[] = [];
  let pos = 0;
  while (bytes.length - pos >= FRAME_HEADER_BYTES) {
    const length = (bytes[pos] << 16) | (bytes[pos + 1] << 8) | bytes[pos + 2];
    if (bytes.length - pos - FRAME_HEADER_BYTES < length) break;
    const streamId = u32At(bytes, pos + 5) & 0x7fff_ffff;
    frames.push({
      type: bytes[pos + 3],
      flags: bytes[pos + 4],
      streamId,
      payload: bytes.slice(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length),
    });
    pos += FRAME_HEADER_BYTES + length;
  }
  return { frames, rest: bytes.slice(pos) };
}

/**
 * Decodes the header blocks of `frames` in order with `decoder`, joining
 * CONTINUATION frames into the HEADERS frame they follow (which gets the
 * END_HEADERS flag of the last one). Returns the frames without the
 * CONTINUATIONs.
 */
export function decodeHeaderBlocks(frames: Frame[], decoder: HpackDecoder): Frame[] {
  const out: Frame[] = [];
  let open: { f: Frame; parts: Uint8Array[] } | null = null;
  for (const f of frames) {
    if (open) {
      if (f.type !== FrameType.CONTINUATION || f.streamId !== open.f.streamId) {
        throw new Error(`frame type ${f.type} inside a header block`);
      }
      open.parts.push(f.payload);
      if (f.flags & Flag.END_HEADERS) {
        open.f.flags |= Flag.END_HEADERS;
        open.f.headers = decoder.decode(concat(...open.parts));
        open = null;
      }
      continue;
    }
    if (f.type === FrameType.CONTINUATION) throw new Error("CONTINUATION without HEADERS");
    out.push(f);
    if (f.type === FrameType.HEADERS) {
      if (f.flags & Flag.END_HEADERS) f.headers = decoder.decode(f.payload);
      else open = { f, parts: [f.payload] };
    }
  }
  if (open) throw new Error("unterminated header block");
  return out;
}

/** A request header list; `extra` fields follow the usual gRPC ones. */
export function requestHeaders(
  path: string,
  extra: [string, string][] = [],
  { method = "POST", contentType = "application/grpc" } = {},
): [string, string][] {
  return [
    [":method", method],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", contentType],
    ["te", "trailers"],
    ...extra,
  ];
}

/** A HEADERS frame carrying the whole block. */
export function headersFrame(
  streamId: number,
  fields: [string, string][],
  endStream = false,
): Uint8Array {
  const flags = Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0);
  return frame(FrameType.HEADERS, flags, streamId, encodeHeaders(fields));
}

/** A DATA frame. */
export function dataFrame(streamId: number, bytes: Uint8Array, endStream = false): Uint8Array {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, bytes);
}

/** A gRPC length-prefixed message. */
export function grpcMessage(body: Uint8Array | string, compressed = false): Uint8Array {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const out = new Uint8Array(5 + bytes.length);
  out[0] = compressed ? 1 : 0;
  new DataView(out.buffer).setUint32(1, bytes.length);
  out.set(bytes, 5);
  return out;
}

/** Splits a gRPC response body into its messages (throws on a bad prefix). */
export function parseMessages(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < body.length) {
    if (body.length - pos < 5) throw new Error("truncated message prefix");
    if (body[pos] !== 0) throw new Error("compressed flag set in a response");
    const n = u32At(body, pos + 1);
    if (body.length - pos - 5 < n) throw new Error("truncated message");
    out.push(body.slice(pos + 5, pos + 5 + n));
    pos += 5 + n;
  }
  return out;
}

/** The value of header `name` in `fields`, or undefined. */
export function header(
  fields: readonly [string, string][] | undefined,
  name: string,
): string | undefined {
  return fields?.find(([n]) => n === name)?.[1];
}

/** What the server sent on one stream. */
export interface StreamResponse {
  /** The response headers (absent for trailers-only). */
  headers?: [string, string][];
  /** The trailers (HEADERS with END_STREAM), or the trailers-only block. */
  trailers?: [string, string][];
  /** Body bytes, DATA frames joined. */
  body: Uint8Array;
  /** Payload length of each DATA frame. */
  dataFrames: number[];
  /** RST_STREAM code, if one was sent. */
  rst?: number;
  /** Whether the server ended the stream (END_STREAM or RST_STREAM). */
  ended: boolean;
}

/**
 * The test's side of one {@linkcode H2Connection}: what the connection writes
 * goes into a {@linkcode MemoryTransport} and comes out as decoded frames;
 * what the test sends goes to its `receive()`. The connection may be in
 * either role; a client's preface is checked and skipped.
 */
export class H2TestPeer {
  /** The connection's transport. */
  readonly transport: MemoryTransport = new MemoryTransport();
  /** The connection under test. */
  readonly conn: H2Connection;
  /** Reasons passed to onClose, in order. */
  readonly closeReasons: string[] = [];
  /** Every frame the connection wrote, parsed so far. */
  readonly frames: Frame[] = [];
  #decoder = new HpackDecoder();
  #parsedBytes = 0;
  #rawPending: Frame[] = [];
  #taken = 0;

  /**
   * @param open Makes the connection on the given transport; it must call
   * `onClose` when the connection closes.
   */
  constructor(
    open: (transport: MemoryTransport, onClose: (reason: string) => void) => H2Connection,
    transport?: MemoryTransport,
  ) {
    if (transport) this.transport = transport;
    this.conn = open(this.transport, (reason) => this.closeReasons.push(reason));
  }

  /** Parses whatever the connection wrote since the last call; returns all frames. */
  sync(): Frame[] {
    const all = this.transport.bytes;
    if (this.conn.role === "client" && this.#parsedBytes === 0) {
      if (all.length < CLIENT_PREFACE.length) return this.frames;
      const preface = all.subarray(0, CLIENT_PREFACE.length);
      if (!preface.every((b, i) => b === CLIENT_PREFACE[i])) {
        throw new Error("the client did not start with the connection preface");
      }
      this.#parsedBytes = CLIENT_PREFACE.length;
    }
    const { frames, rest } = parseFrames(all.subarray(this.#parsedBytes));
    this.#parsedBytes = all.length - rest.length;
    this.#rawPending.push(...frames);
    // Decode only complete header blocks; keep an open one for later.
    let cut = this.#rawPending.length;
    for (let i = 0; i < this.#rawPending.length; i++) {
      const f = this.#rawPending[i];
      if (
        (f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION) &&
        !(f.flags & Flag.END_HEADERS)
      ) {
        let j = i + 1;
        while (j < this.#rawPending.length && !(this.#rawPending[j].flags & Flag.END_HEADERS)) j++;
        if (j >= this.#rawPending.length) {
          cut = i;
          break;
        }
        i = j;
      }
    }
    const ready = this.#rawPending.splice(0, cut);
    this.frames.push(...decodeHeaderBlocks(ready, this.#decoder));
    return this.frames;
  }

  /** Frames written since the last `take()`. */
  take(): Frame[] {
    this.sync();
    const out = this.frames.slice(this.#taken);
    this.#taken = this.frames.length;
    return out;
  }

  /** Feeds bytes to the connection in one receive() call. */
  send(...parts: Uint8Array[]): void {
    this.conn.receive(concat(...parts));
  }

  /**
   * Gathers what the connection sent on stream `id`: a server's response,
   * or a client's request (whose `headers` are the request headers and
   * whose end is an END_STREAM DATA frame).
   */
  response(id: number): StreamResponse {
    const res: StreamResponse = { body: new Uint8Array(0), dataFrames: [], ended: false };
    const chunks: Uint8Array[] = [];
    for (const f of this.sync()) {
      if (f.streamId !== id) continue;
      if (f.type === FrameType.HEADERS) {
        if (f.flags & Flag.END_STREAM) {
          res.trailers = f.headers;
          res.ended = true;
        } else res.headers = f.headers;
      } else if (f.type === FrameType.DATA) {
        chunks.push(f.payload);
        res.dataFrames.push(f.payload.length);
        if (f.flags & Flag.END_STREAM) res.ended = true;
      } else if (f.type === FrameType.RST_STREAM) {
        res.rst = u32At(f.payload);
        res.ended = true;
      }
    }
    res.body = concat(...chunks);
    return res;
  }

  /** The GOAWAY frames sent so far, decoded. */
  goaways(): { lastStreamId: number; code: number; debug: string }[] {
    return this.sync().filter((f) => f.type === FrameType.GOAWAY).map((f) => ({
      lastStreamId: u32At(f.payload) & 0x7fff_ffff,
      code: u32At(f.payload, 4),
      debug: new TextDecoder().decode(f.payload.subarray(8)),
    }));
  }
}

/** An in-memory client of one server-role {@linkcode H2Connection}. */
export class H2TestClient extends H2TestPeer {
  /** What the connection reported through onRefusal, in order. */
  readonly refusals: Refusal[] = [];

  /**
   * @param onStream The server's onStream callback.
   * @param options More connection options (limits).
   * @param transport The connection's transport (a {@linkcode MemoryTransport} by default).
   */
  constructor(
    onStream: ConnectionOptions["onStream"] = () => {},
    options: Partial<ConnectionOptions> = {},
    transport?: MemoryTransport,
  ) {
    const refusals: Refusal[] = [];
    super(
      (t, onClose) =>
        new H2Connection(t, {
          ...options,
          onStream,
          onRefusal: (_conn, r) => refusals.push(r),
          onClose: (_conn, reason) => onClose(reason),
        }),
      transport,
    );
    this.refusals = refusals;
  }

  /** Sends the preface and a SETTINGS frame. */
  start(settings: [number, number][] = []): void {
    this.send(CLIENT_PREFACE, settingsFrame(settings));
  }
}

/**
 * A scripted server in front of a client-role {@linkcode H2Connection}
 * (made by `open`, by default a bare one): the test writes the server's
 * frames by hand.
 */
export class H2TestServer extends H2TestPeer {
  /** @param open Makes the client connection; a bare `H2Connection` by default. */
  constructor(
    open: (transport: MemoryTransport, onClose: (reason: string) => void) => H2Connection = (
      transport,
      onClose,
    ) => new H2Connection(transport, { role: "client", onClose: (_c, reason) => onClose(reason) }),
  ) {
    super(open);
  }

  /** Sends the server's SETTINGS frame (a server sends no preface). */
  start(settings: [number, number][] = []): void {
    this.send(settingsFrame(settings));
  }
}

/** A stream handler that records events, attached by {@linkcode recordingOnStream}. */
export interface RecordedStream {
  /** The server's stream. */
  stream: H2Stream;
  /** Decoded request headers. */
  headers: [string, string][];
  /** Request body bytes received. */
  body: number[];
  /** Whether END_STREAM (or client trailers) arrived. */
  ended: boolean;
  /** Reset codes received. */
  resets: number[];
}

/** An onStream callback that records each stream's events into `into`. */
export function recordingOnStream(into: RecordedStream[]): ConnectionOptions["onStream"] {
  return (stream, headers) => {
    const rec: RecordedStream = { stream, headers, body: [], ended: false, resets: [] };
    into.push(rec);
    stream.handler = {
      data(bytes, endStream) {
        rec.body.push(...bytes);
        if (endStream) rec.ended = true;
      },
      reset(code) {
        rec.resets.push(code);
      },
    };
  };
}
