/**
 * One HTTP/2 connection (RFC 9113), in either role: the preface, SETTINGS,
 * PING, GOAWAY, stream state, HPACK and flow control in both directions. It
 * knows nothing of gRPC. As a server, each stream the peer opens goes to
 * `onStream`, which attaches a {@linkcode StreamHandler}; as a client,
 * {@linkcode H2Connection.openStream} opens one with its handler.
 *
 * Bytes come in through {@linkcode H2Connection.receive} and go out through
 * the connection's {@linkcode Transport}; frames produced in the same turn of
 * the event loop leave in one write.
 *
 * @module
 */

import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  frame,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  H2ConnectionError,
  H2Error,
  MAX_WINDOW,
  putFrameHeader,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "./frame.ts";
import { HpackDecoder, HpackError } from "./hpack.ts";

/** Where a connection's bytes go. */
export interface Transport {
  /** Writes all of `data`; rejects when the connection is gone. */
  write(data: Uint8Array): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** What the layer above does with one stream's events. */
export interface StreamHandler {
  /** Body bytes from the peer (a view valid only during the call). */
  data(bytes: Uint8Array, endStream: boolean): void;
  /** The peer reset the stream, or the connection is gone. */
  reset(code: number): void;
  /**
   * Client role: a header block from the server (response headers, or
   * trailers when `endStream` is set). The server role gets request headers
   * through `onStream`, and the client's trailers as the end of its data.
   */
  headers?(fields: [string, string][], endStream: boolean): void;
}

/** Which end of the connection we are. */
export type Role = "server" | "client";

/** Receive window we grant each stream. */
const STREAM_WINDOW = 4 << 20;
/** Receive window we grant the connection. */
const CONNECTION_WINDOW = 16 << 20;
/** Largest header list we accept. */
const MAX_HEADER_LIST = 16 << 20;
/** Largest frame we accept (we never raise SETTINGS_MAX_FRAME_SIZE). */
const MAX_RECV_FRAME = DEFAULT_MAX_FRAME;
/** Queued output per stream beyond which writers wait. */
const STREAM_HIGH_WATER = 256 << 10;
/** Output not yet written to the socket beyond which stream writers wait. */
const CONNECTION_HIGH_WATER = 4 << 20;

const EMPTY = new Uint8Array(0);
/** Output pieces at least this large are written without coalescing. */
const LARGE_WRITE = 64 << 10;

function concat(parts: readonly Uint8Array[], from: number, to: number): Uint8Array {
  if (to - from === 1) return parts[from];
  let size = 0;
  for (let i = from; i < to; i++) size += parts[i].length;
  const out = new Uint8Array(size);
  for (let i = from, at = 0; i < to; at += parts[i].length, i++) out.set(parts[i], at);
  return out;
}

/** One HTTP/2 stream. */
export class H2Stream {
  /** What the layer above does with this stream's events. */
  handler: StreamHandler | null = null;
  /** Our send window. */
  sendWindow: number;
  /** Bytes the peer may still send before we grant more. */
  recvWindow: number = STREAM_WINDOW;
  /** Consumed bytes not yet granted back. */
  recvUnacked = 0;
  /** We sent END_STREAM or RST_STREAM. */
  localClosed = false;
  /** The peer sent END_STREAM. */
  remoteClosed = false;
  /** Our headers went out. */
  headersSent = false;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** What ends our side once the queue is out: trailers, or an empty END_STREAM DATA frame. */
  #trailers: Uint8Array | null = null;
  #waiters: (() => void)[] = [];
  /** We sent RST_STREAM. */
  #rstSent = false;

  /** @internal */
  constructor(readonly id: number, readonly conn: H2Connection, sendWindow: number) {
    this.sendWindow = sendWindow;
  }

  /** Whether the stream is gone for writing. */
  get closed(): boolean {
    return this.localClosed;
  }

  /** Queued output bytes waiting for flow-control window. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Sends a HEADERS frame with an HPACK block (no END_STREAM). */
  sendHeaders(block: Uint8Array): void {
    if (this.localClosed) return;
    this.headersSent = true;
    this.conn.enqueueHeaders(this.id, block, false);
  }

  /** Queues body bytes (one or more pieces, sent in order) as flow control allows. */
  sendData(...pieces: Uint8Array[]): void {
    if (this.localClosed) return;
    for (const bytes of pieces) {
      if (bytes.length === 0) continue;
      this.#queue.push(bytes);
      this.#queuedBytes += bytes.length;
    }
    this.pump();
  }

  /** Queues the last body bytes and ends our side with them (END_STREAM on the last DATA frame). */
  sendLast(...pieces: Uint8Array[]): void {
    if (this.localClosed || this.#trailers) return;
    for (const bytes of pieces) {
      if (bytes.length === 0) continue;
      this.#queue.push(bytes);
      this.#queuedBytes += bytes.length;
    }
    this.#trailers = EMPTY;
    this.pump();
  }

  /**
   * Ends our side once the queued body is out: with trailers (a HEADERS
   * frame), or without (`EMPTY`: an empty DATA frame), both with END_STREAM.
   */
  end(trailers: Uint8Array = EMPTY): void {
    if (this.localClosed || this.#trailers) return;
    this.#trailers = trailers;
    this.pump();
  }

  /**
   * Resolves when this stream's queued output, and the connection's output
   * not yet written to the socket, are small enough to write more.
   */
  async writable(): Promise<void> {
    if (this.#queuedBytes >= STREAM_HIGH_WATER && !this.localClosed) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (!this.localClosed) await this.conn.backlogBelow(CONNECTION_HIGH_WATER);
  }

  /**
   * Resets the stream with an error code; the handler learns it too. A
   * stream we have ended but the peer has not (a client's request sent, its
   * response still coming) can be reset too; a finished one cannot.
   */
  reset(code: number): void {
    if (this.#rstSent || (this.localClosed && this.remoteClosed)) return;
    this.#rstSent = true;
    this.conn.enqueue(rstStreamFrame(this.id, code));
    if (!this.localClosed) this.#closeLocal();
    this.conn.forget(this, true);
    this.handler?.reset(code);
  }

  /** The peer reset the stream or the connection is gone: nothing more goes out. @internal */
  abandon(code: number): void {
    this.remoteClosed = true;
    if (!this.localClosed) this.#closeLocal();
    this.#trailers = null;
    this.handler?.reset(code);
  }

  /** Grants the peer `n` more bytes on this stream once it has been consumed. */
  consumed(n: number): void {
    if (this.remoteClosed || n === 0) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= STREAM_WINDOW >>> 2) {
      this.conn.enqueue(windowUpdateFrame(this.id, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }

  /** Sends as much queued output as the windows allow. @internal */
  pump(): void {
    if (this.localClosed) return;
    const conn = this.conn;
    let avail = Math.min(this.sendWindow, conn.sendWindow, this.#queuedBytes);
    /** The last DATA frame carries END_STREAM when nothing (no trailers) follows it. */
    let endedInData = false;
    if (avail > 0) {
      const maxFrame = conn.peerMaxFrame;
      const frames = Math.ceil(avail / maxFrame);
      const out = new Uint8Array(avail + frames * FRAME_HEADER_BYTES);
      let at = 0;
      this.sendWindow -= avail;
      conn.sendWindow -= avail;
      this.#queuedBytes -= avail;
      let room = 0;
      let lastHeader = 0;
      while (avail > 0) {
        if (room === 0) {
          room = Math.min(maxFrame, avail);
          lastHeader = at;
          putFrameHeader(out, at, room, FrameType.DATA, 0, this.id);
          at += FRAME_HEADER_BYTES;
        }
        const head = this.#queue[0];
        const n = Math.min(head.length, room);
        out.set(n === head.length ? head : head.subarray(0, n), at);
        at += n;
        room -= n;
        avail -= n;
        if (n === head.length) this.#queue.shift();
        else this.#queue[0] = head.subarray(n);
      }
      if (this.#queuedBytes === 0 && this.#trailers?.length === 0) {
        out[lastHeader + 4] |= Flag.END_STREAM;
        endedInData = true;
      }
      conn.enqueue(out);
      if (this.#queuedBytes < STREAM_HIGH_WATER) this.#wake();
    }
    if (this.#queuedBytes > 0) {
      if (this.sendWindow > 0) conn.blocked.add(this);
      return;
    }
    if (this.#trailers) {
      if (this.#trailers.length) conn.enqueueHeaders(this.id, this.#trailers, true);
      else if (!endedInData) conn.enqueue(frame(FrameType.DATA, Flag.END_STREAM, this.id));
      this.#trailers = null;
      this.#closeLocal();
      const serverFirst = conn.role === "server" && !this.remoteClosed;
      if (serverFirst) {
        // gRPC: the server is done before the client; tell it to stop sending.
        conn.enqueue(rstStreamFrame(this.id, H2Error.NO_ERROR));
        this.#rstSent = true;
      }
      conn.forget(this, serverFirst);
    }
  }

  #closeLocal(): void {
    this.localClosed = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** Settings and callbacks of a connection. */
export interface ConnectionOptions {
  /**
   * Which end we are: a server waits for the client preface and gets new
   * streams through `onStream`; a client sends the preface and opens streams.
   * @default {"server"}
   */
  role?: Role;
  /** Server role: called for each new stream with its decoded request headers. */
  onStream?(stream: H2Stream, headers: [string, string][]): void;
  /** Called once when the connection has closed. */
  onClose(conn: H2Connection, reason: string): void;
}

/** The GOAWAY a peer sent. */
export interface GoAway {
  /** Highest stream id the peer may still process. */
  lastStreamId: number;
  /** The error code. */
  code: number;
  /** The debug text. */
  debug: string;
}

/** An HTTP/2 connection, server or client. */
export class H2Connection {
  /** Which end we are. */
  readonly role: Role;
  /** The GOAWAY the peer sent, if any. */
  peerGoAway: GoAway | null = null;
  /** Our connection-level send window. */
  sendWindow: number = DEFAULT_WINDOW;
  /** Largest frame the peer accepts. */
  peerMaxFrame: number = DEFAULT_MAX_FRAME;
  /** Streams waiting for connection-level window. */
  readonly blocked: Set<H2Stream> = new Set();
  #peerInitialWindow = DEFAULT_WINDOW;
  #recvWindow = CONNECTION_WINDOW;
  #recvUnacked = 0;
  #streams = new Map<number, H2Stream>();
  #lastStreamId = 0;
  #prefaceSeen = 0;
  #pending: Uint8Array | null = null;
  #hpack = new HpackDecoder();
  #headerBlock: { id: number; flags: number; parts: Uint8Array[] } | null = null;
  #out: Uint8Array[] = [];
  #flushing = false;
  #closed = false;
  #failed: string | null = null;
  #closeAfterFlush: string | null = null;
  #goingAway = false;
  #closeWaiters: (() => void)[] = [];
  #backlog = 0;
  #backlogWaiters: (() => void)[] = [];
  #nextStreamId = 1;
  #peerMaxStreams = Infinity;
  #slotWaiters: (() => void)[] = [];
  #closeReason = "";

  /**
   * @param transport Where bytes go.
   * @param options Role, stream and close callbacks.
   */
  constructor(readonly transport: Transport, readonly options: ConnectionOptions) {
    this.role = options.role ?? "server";
    if (this.role === "client") {
      this.#prefaceSeen = CLIENT_PREFACE.length; // a server sends none
      this.enqueue(CLIENT_PREFACE);
    }
    this.enqueue(settingsFrame([
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST],
    ]));
    this.enqueue(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the connection closed ("" while open). */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Client role: whether new streams can still be opened. */
  get canOpen(): boolean {
    return !this.#closed && !this.#failed && !this.#goingAway;
  }

  /**
   * Client role: whether a stream may be opened now without going over the
   * peer's SETTINGS_MAX_CONCURRENT_STREAMS (also true when the connection
   * can open no more: `openStream` then returns `null`).
   */
  get streamSlotFree(): boolean {
    return this.#streams.size < this.#peerMaxStreams || !this.canOpen;
  }

  /**
   * Client role: resolves when the peer's SETTINGS_MAX_CONCURRENT_STREAMS
   * leaves room for one more stream (at once, usually), or the connection
   * can open no more. Every waiter wakes when a slot frees, so check
   * {@linkcode H2Connection.streamSlotFree} again, and open the stream in
   * the same turn, before taking the slot.
   */
  streamSlot(): Promise<void> {
    if (this.streamSlotFree) return Promise.resolve();
    return new Promise((resolve) => this.#slotWaiters.push(resolve));
  }

  /**
   * Client role: opens a stream by sending its request headers.
   *
   * @param block The HPACK-encoded request headers.
   * @param endStream Whether the request has no body.
   * @param handler What to do with the stream's events.
   * @returns The stream, or `null` if the connection takes no new streams.
   */
  openStream(block: Uint8Array, endStream: boolean, handler: StreamHandler): H2Stream | null {
    if (this.role !== "client") throw new Error("only a client opens streams");
    if (!this.canOpen || this.#nextStreamId > MAX_WINDOW) return null;
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    this.#lastStreamId = id;
    const stream = new H2Stream(id, this, this.#peerInitialWindow);
    stream.handler = handler;
    this.#streams.set(id, stream);
    stream.headersSent = true;
    this.enqueueHeaders(id, block, endStream);
    if (endStream) stream.localClosed = true;
    return stream;
  }

  /** Feeds bytes read from the transport (a view valid only during the call). */
  receive(chunk: Uint8Array): void {
    if (this.#closed || this.#failed) return;
    try {
      this.#receive(chunk);
    } catch (err) {
      if (err instanceof H2ConnectionError) this.fail(err.code, err.message);
      else if (err instanceof HpackError) this.fail(H2Error.COMPRESSION_ERROR, err.message);
      else throw err;
    }
  }

  #receive(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.#pending) {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending);
      buf.set(chunk, this.#pending.length);
      this.#pending = null;
    }
    let pos = 0;
    while (this.#prefaceSeen < CLIENT_PREFACE.length && pos < buf.length) {
      if (buf[pos++] !== CLIENT_PREFACE[this.#prefaceSeen++]) {
        // Not HTTP/2 (an HTTP/1 request, a probe, garbage): just hang up.
        this.close("not an HTTP/2 client");
        return;
      }
    }
    while (buf.length - pos >= FRAME_HEADER_BYTES && !this.#closed) {
      const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
      if (length > MAX_RECV_FRAME) {
        throw new H2ConnectionError(
          H2Error.FRAME_SIZE_ERROR,
          `frame of ${length} bytes exceeds ${MAX_RECV_FRAME}`,
        );
      }
      if (buf.length - pos - FRAME_HEADER_BYTES < length) break;
      const type = buf[pos + 3];
      const flags = buf[pos + 4];
      const id = ((buf[pos + 5] & 0x7f) << 24 | (buf[pos + 6] << 16) | (buf[pos + 7] << 8) |
        buf[pos + 8]) >>> 0;
      const start = pos + FRAME_HEADER_BYTES;
      pos = start + length;
      this.#frame(type, flags, id, buf.subarray(start, pos));
    }
    if (pos < buf.length && !this.#closed) this.#pending = buf.slice(pos);
  }

  #frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#headerBlock && type !== FrameType.CONTINUATION) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    switch (type) {
      case FrameType.DATA:
        return this.#data(flags, id, payload);
      case FrameType.HEADERS:
        return this.#headers(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.#continuation(flags, id, payload);
      case FrameType.RST_STREAM:
        return this.#rstStream(id, payload);
      case FrameType.SETTINGS:
        return this.#settings(flags, id, payload);
      case FrameType.PING:
        if (id !== 0 || payload.length !== 8) {
          throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "bad PING frame");
        }
        if (!(flags & Flag.ACK)) this.enqueue(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        return this.#goaway(id, payload);
      case FrameType.WINDOW_UPDATE:
        return this.#windowUpdate(id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "PUSH_PROMISE, but push is disabled");
      default:
        return; // PRIORITY and unknown types are ignored
    }
  }

  #goaway(id: number, payload: Uint8Array): void {
    if (id !== 0 || payload.length < 8) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "bad GOAWAY frame");
    }
    const view = new DataView(payload.buffer, payload.byteOffset, 8);
    const lastStreamId = view.getUint32(0) & MAX_WINDOW;
    const code = view.getUint32(4);
    const debug = new TextDecoder().decode(payload.subarray(8));
    this.peerGoAway = { lastStreamId, code, debug };
    this.#goingAway = true;
    if (this.role === "client") {
      // Streams the server never saw may be retried elsewhere: REFUSED_STREAM.
      for (const s of [...this.#streams.values()]) {
        if (s.id > lastStreamId) {
          this.#streams.delete(s.id);
          this.blocked.delete(s);
          s.abandon(H2Error.REFUSED_STREAM);
        }
      }
      this.#wakeSlots();
    }
    this.#maybeIdle();
  }

  #stripPadding(flags: number, payload: Uint8Array): Uint8Array {
    if (!(flags & Flag.PADDED)) return payload;
    const pad = payload[0];
    if (payload.length === 0 || pad >= payload.length) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "padding exceeds the frame");
    }
    return payload.subarray(1, payload.length - pad);
  }

  #data(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    this.#recvWindow -= payload.length;
    if (this.#recvWindow < 0) {
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window exceeded");
    }
    this.#recvUnacked += payload.length;
    if (this.#recvUnacked >= CONNECTION_WINDOW >>> 2) {
      this.enqueue(windowUpdateFrame(0, this.#recvUnacked));
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    const stream = this.#streams.get(id);
    if (!stream || stream.remoteClosed) {
      if (id > this.#lastStreamId) {
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on an idle stream");
      }
      return; // late data for a stream we finished
    }
    stream.recvWindow -= payload.length;
    if (stream.recvWindow < 0) {
      stream.reset(H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    const body = this.#stripPadding(flags, payload);
    // Padding counts against the window but is consumed right away.
    stream.consumed(payload.length - body.length);
    const end = (flags & Flag.END_STREAM) !== 0;
    if (end) stream.remoteClosed = true;
    stream.handler?.data(body, end);
    if (end) this.forget(stream, false);
  }

  #headers(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0 || (this.role === "server" && (id & 1) === 0)) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    }
    let block = this.#stripPadding(flags, payload);
    if (flags & Flag.PRIORITY) block = block.subarray(5);
    if (flags & Flag.END_HEADERS) return this.#headerBlockDone(id, flags, block);
    this.#headerBlock = { id, flags, parts: [block.slice()] };
  }

  #continuation(flags: number, id: number, payload: Uint8Array): void {
    const hb = this.#headerBlock;
    if (!hb || hb.id !== id) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    hb.parts.push(payload.slice());
    const size = hb.parts.reduce((n, p) => n + p.length, 0);
    if (size > MAX_HEADER_LIST) {
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, "header block too large");
    }
    if (!(flags & Flag.END_HEADERS)) return;
    this.#headerBlock = null;
    const block = new Uint8Array(size);
    let at = 0;
    for (const p of hb.parts) {
      block.set(p, at);
      at += p.length;
    }
    this.#headerBlockDone(id, hb.flags, block);
  }

  #headerBlockDone(id: number, flags: number, block: Uint8Array): void {
    const headers = this.#hpack.decode(block, MAX_HEADER_LIST);
    const end = (flags & Flag.END_STREAM) !== 0;
    if (this.role === "client") return this.#responseHeaders(id, headers, end);
    const existing = this.#streams.get(id);
    if (existing) {
      if (existing.remoteClosed) return existing.reset(H2Error.STREAM_CLOSED);
      // Trailers from the client end its side.
      if (!end) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "trailers without END_STREAM");
      existing.remoteClosed = true;
      existing.handler?.data(EMPTY, true);
      this.forget(existing, false);
      return;
    }
    if (id <= this.#lastStreamId) {
      if (end) return; // trailers of a stream we already finished
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, `stream ${id} reused`);
    }
    this.#lastStreamId = id;
    if (this.#goingAway) {
      this.enqueue(rstStreamFrame(id, H2Error.REFUSED_STREAM));
      return;
    }
    const stream = new H2Stream(id, this, this.#peerInitialWindow);
    this.#streams.set(id, stream);
    // Known before onStream, so an immediate answer does not reset a stream
    // the client has already ended.
    if (end) stream.remoteClosed = true;
    this.options.onStream?.(stream, headers);
    if (end) {
      stream.handler?.data(EMPTY, true);
      this.forget(stream, false);
    }
  }

  /** Client role: response headers or trailers of one of our streams. */
  #responseHeaders(id: number, headers: [string, string][], end: boolean): void {
    const stream = this.#streams.get(id);
    if (!stream) {
      if ((id & 1) === 1 && id <= this.#lastStreamId) return; // a stream we already dropped
      throw new H2ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `HEADERS on stream ${id}, which we never opened`,
      );
    }
    if (stream.remoteClosed) return stream.reset(H2Error.STREAM_CLOSED);
    if (end) stream.remoteClosed = true;
    stream.handler?.headers?.(headers, end);
    if (end) this.forget(stream, false);
  }

  #rstStream(id: number, payload: Uint8Array): void {
    if (payload.length !== 4 || id === 0) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad RST_STREAM frame");
    }
    const stream = this.#streams.get(id);
    if (!stream) return;
    const code = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    this.#streams.delete(id);
    this.blocked.delete(stream);
    stream.abandon(code);
    this.#wakeSlots();
    this.#maybeIdle();
  }

  #settings(flags: number, id: number, payload: Uint8Array): void {
    if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) return;
    if (payload.length % 6 !== 0) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad SETTINGS length");
    }
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let i = 0; i < payload.length; i += 6) {
      const key = view.getUint16(i);
      const value = view.getUint32(i + 2);
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) {
          throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, "initial window too large");
        }
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const s of this.#streams.values()) s.sendWindow += delta;
        if (delta > 0) { for (const s of this.#streams.values()) s.pump(); }
      } else if (key === Setting.MAX_CONCURRENT_STREAMS) {
        this.#peerMaxStreams = value;
        this.#wakeSlots();
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xff_ffff) {
          throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE");
        }
        this.peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE: our encoder never indexes. Others need nothing.
    }
    this.enqueue(frame(FrameType.SETTINGS, Flag.ACK, 0));
  }

  #windowUpdate(id: number, payload: Uint8Array): void {
    if (payload.length !== 4) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE frame");
    }
    const inc = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) & MAX_WINDOW;
    if (id === 0) {
      if (inc === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "zero window update");
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) {
        throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      const waiting = [...this.blocked];
      this.blocked.clear();
      for (const s of waiting) s.pump();
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) return;
    if (inc === 0) return stream.reset(H2Error.PROTOCOL_ERROR);
    stream.sendWindow += inc;
    if (stream.sendWindow > MAX_WINDOW) return stream.reset(H2Error.FLOW_CONTROL_ERROR);
    stream.pump();
  }

  /** Queues a HEADERS frame (split into CONTINUATION frames if needed). @internal */
  enqueueHeaders(id: number, block: Uint8Array, endStream: boolean): void {
    const max = this.peerMaxFrame;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      return this.enqueue(frame(FrameType.HEADERS, Flag.END_HEADERS | endFlag, id, block));
    }
    for (let at = 0; at < block.length; at += max) {
      const last = at + max >= block.length;
      const part = block.subarray(at, at + max);
      const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (at === 0 ? endFlag : 0) | (last ? Flag.END_HEADERS : 0);
      this.enqueue(frame(type, flags, id, part));
    }
  }

  /** Drops a stream once both sides are done. @internal */
  forget(stream: H2Stream, force: boolean): void {
    if (!force && !(stream.localClosed && stream.remoteClosed)) return;
    if (!this.#streams.delete(stream.id)) return;
    this.blocked.delete(stream);
    this.#wakeSlots();
    this.#maybeIdle();
  }

  #wakeSlots(): void {
    while (
      this.#slotWaiters.length && (this.#streams.size < this.#peerMaxStreams || !this.canOpen)
    ) this.#slotWaiters.shift()!();
  }

  /** Queues bytes for the transport; they leave at the end of this turn. */
  enqueue(bytes: Uint8Array): void {
    if (this.#closed || this.#failed) return;
    this.#out.push(bytes);
    this.#backlog += bytes.length;
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    while (this.#out.length && !this.#closed) {
      const parts = this.#out;
      this.#out = [];
      try {
        // Small frames leave together in one write; a large one (bulk DATA)
        // is written as it is rather than copied once more.
        let from = 0;
        for (let i = 0; i <= parts.length; i++) {
          if (i < parts.length && parts[i].length < LARGE_WRITE) continue;
          if (i > from) await this.#write(concat(parts, from, i));
          if (i < parts.length) await this.#write(parts[i]);
          from = i + 1;
        }
      } catch {
        this.close("write failed");
        return;
      }
    }
    this.#flushing = false;
    const reason = this.#failed ?? this.#closeAfterFlush;
    if (reason) this.close(reason);
  }

  async #write(data: Uint8Array): Promise<void> {
    await this.transport.write(data);
    this.#backlog -= data.length;
    if (this.#backlog < CONNECTION_HIGH_WATER) this.#wakeBacklog();
  }

  #wakeBacklog(): void {
    for (const w of this.#backlogWaiters.splice(0)) w();
  }

  /** Resolves once less than `limit` bytes wait to be written (or the connection closed). @internal */
  backlogBelow(limit: number): Promise<void> {
    if (this.#backlog < limit || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#backlogWaiters.push(resolve));
  }

  /**
   * Starts a graceful close: GOAWAY, no new streams, and the connection
   * closes itself once every open stream has finished and the last frames
   * are written. Resolves then, or when `signal` aborts.
   */
  drain(signal: AbortSignal): Promise<void> {
    if (!this.#closed && !this.#goingAway) {
      this.#goingAway = true;
      this.enqueue(goawayFrame(this.#peerLastStreamId(), H2Error.NO_ERROR));
      this.#maybeIdle();
    }
    if (this.#closed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      signal.addEventListener("abort", done);
      this.#closeWaiters.push(done);
    });
  }

  #maybeIdle(): void {
    if (this.#streams.size > 0) return;
    if (this.#goingAway) {
      // Let the last frames leave, then hang up.
      queueMicrotask(() => this.#closeWhenFlushed());
    }
  }

  #closeWhenFlushed(): void {
    if (this.#flushing) this.#closeAfterFlush = "finished";
    else this.close("finished");
  }

  /**
   * The last stream id of our GOAWAY: the highest the peer opened. A client's
   * own stream ids do not count (the server never pushes): 0.
   */
  #peerLastStreamId(): number {
    return this.role === "client" ? 0 : this.#lastStreamId;
  }

  /** Ends the connection with a GOAWAY carrying `code`, after what is queued. */
  fail(code: number, message: string): void {
    if (this.#closed || this.#failed) return;
    this.enqueue(goawayFrame(this.#peerLastStreamId(), code, message));
    this.#failed = message; // nothing else may be queued; close once written
  }

  /** Closes the connection at once; open streams are reset. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#teardown(reason);
  }

  #teardown(reason: string): void {
    this.#closeReason = reason;
    this.#out = [];
    try {
      this.transport.close();
    } catch {
      // already closed
    }
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.blocked.clear();
    for (const s of streams) s.abandon(H2Error.CANCEL);
    this.#wakeBacklog();
    this.#wakeSlots();
    for (const w of this.#closeWaiters.splice(0)) w();
    this.options.onClose(this, reason);
  }
}
