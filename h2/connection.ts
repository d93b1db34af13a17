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
 * Every frame and header block is checked as RFC 9113 and RFC 7541 require
 * (frame sizes, stream states, settings values, and messages: pseudo-header
 * fields, connection-specific fields, `content-length`), and answered with
 * the stream error or connection error the RFC names. What a peer can make
 * the connection hold or do is bounded ({@linkcode H2Limits}); each bound a
 * peer runs into is reported once per connection through `onRefusal`.
 *
 * @module
 */

import { Queue } from "../_queue.ts";
import { after } from "../_timer.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  frame,
  FRAME_HEADER_BYTES,
  FrameType,
  GOAWAY_FIXED_BYTES,
  goawayFrame,
  H2ConnectionError,
  H2Error,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  PING_BYTES,
  PRIORITY_BYTES,
  putFrameHeader,
  rstStreamFrame,
  Setting,
  SETTING_BYTES,
  settingsFrame,
  U32_FRAME_BYTES,
  windowUpdateFrame,
} from "./frame.ts";
import { checkFields, type FieldsInfo } from "./fields.ts";
import { StreamTable } from "./stream_table.ts";
import {
  encodeHeaders,
  type HeaderBlock,
  HpackDecoder,
  HpackEncoder,
  HpackError,
  HpackListSizeError,
} from "./hpack.ts";

/** Where a connection's bytes go. */
export interface Transport {
  /**
   * Writes all of `data`; rejects when the connection is gone. The bytes are
   * the caller's again once the promise settles (the connection reuses its
   * write buffer for the next chunk of bulk DATA): a transport that needs
   * them later copies them.
   */
  write(data: Uint8Array): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** What the layer above does with one stream's events. */
export interface StreamHandler {
  /** Body bytes from the peer (a view valid only during the call). */
  data(bytes: Uint8Array, endStream: boolean): void;
  /**
   * The peer reset the stream, or the connection is gone; or this
   * connection reset the stream, or is ending, because of what the peer
   * sent: then `cause` says what that was (a header list above our limit,
   * a window overflow, a broken header block).
   */
  reset(code: number, cause?: string): void;
  /**
   * Client role: a header block from the server (response headers, or
   * trailers when `endStream` is set). The server role gets request headers
   * through `onStream`, and the client's trailers as the end of its data.
   */
  headers?(fields: [string, string][], endStream: boolean): void;
  /**
   * Our side went out whole: the last body bytes and END_STREAM (with the
   * trailers) are in the connection's output, none waits for window.
   */
  sent?(): void;
}

/** Which end of the connection we are. */
export type Role = "server" | "client";

/**
 * Bounds on what a peer can make one connection hold or do. The defaults
 * fit a plugin: its hosts (Terraform, go-plugin) open a few streams at a
 * time, send small headers, and read what they asked for.
 */
export interface H2Limits {
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS we announce as a server: a stream opened
   * beyond it is refused with RST_STREAM REFUSED_STREAM. nginx's default:
   * room for a host's long-lived streams (go-plugin's stdio and broker) next
   * to 100 calls, and a bound on the handlers one connection can keep busy.
   * @default {128}
   */
  maxConcurrentStreams: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE we announce (RFC 9113 6.5.2: names plus
   * values plus 32 per field). A larger request is answered with
   * `:status 431` (the connection goes on), a larger response is reset with
   * ENHANCE_YOUR_CALM. A header block whose encoded size exceeds twice this
   * plus 16 KiB, or that takes more than `max(64, size / 8 KiB)`
   * CONTINUATION frames, cannot be decoded for the table's sake and ends
   * the connection (GOAWAY ENHANCE_YOUR_CALM). gRPC metadata is small
   * (grpc-java allows 8 KiB); 64 KiB times 128 streams bounds what a peer
   * can make us hold in headers to 8 MiB.
   * @default {65536}
   */
  maxHeaderListSize: number;
  /**
   * Streams the peer may reset, or make us reset or refuse, within
   * `resetWindowMs` (rapid reset, CVE-2023-44487); one more ends the
   * connection with GOAWAY ENHANCE_YOUR_CALM.
   * @default {500}
   */
  maxResets: number;
  /** The window of `maxResets`. @default {10000} */
  resetWindowMs: number;
  /**
   * Replies to the peer's frames (SETTINGS and PING ACKs, RST_STREAM,
   * WINDOW_UPDATE) waiting to be written beyond which the connection ends
   * with GOAWAY ENHANCE_YOUR_CALM: a peer that floods without reading.
   * @default {1000}
   */
  maxQueuedControlFrames: number;
  /**
   * Output held for the peer (response bytes waiting for its flow-control
   * window, plus bytes not yet taken by the socket), in bytes, beyond which
   * the connection ends (GOAWAY ENHANCE_YOUR_CALM) if it does not drop back
   * within `outputStallMs`; over it, a stream the peer never gave any window
   * (a zero initial window and no WINDOW_UPDATE) is reset at once with
   * ENHANCE_YOUR_CALM, and from then on new streams are refused unprocessed
   * (REFUSED_STREAM, no handler run) until the output held is down to half
   * of it. Writers past 256 KiB on one stream, or 4 MiB on the
   * connection, already wait (`H2Stream.writable()`).
   * @default {67108864}
   */
  maxOutputBytes: number;
  /** How long output may stay above `maxOutputBytes`. @default {10000} */
  outputStallMs: number;
  /**
   * A socket write that has not completed after this long closes the
   * connection: the peer stopped reading its socket.
   * @default {30000}
   */
  writeTimeoutMs: number;
  /**
   * A connection whose peer has not sent its preface and SETTINGS within
   * this long is closed: as a server, the client's preface and SETTINGS; as
   * a client, the server's SETTINGS, so that calls on a connection the peer
   * accepted and never answered fail with UNAVAILABLE instead of waiting
   * forever. A healthy connection has no idle timeout (go-plugin hosts keep
   * one open for the plugin's life, without pings).
   * @default {10000}
   */
  prefaceTimeoutMs: number;
}

/** The default {@linkcode H2Limits}. */
export const DEFAULT_H2_LIMITS: Readonly<H2Limits> = Object.freeze({
  maxConcurrentStreams: 128,
  maxHeaderListSize: 64 << 10,
  maxResets: 500,
  resetWindowMs: 10_000,
  maxQueuedControlFrames: 1000,
  maxOutputBytes: 64 << 20,
  outputStallMs: 10_000,
  writeTimeoutMs: 30_000,
  prefaceTimeoutMs: 10_000,
});

/** Which bound or rule a peer ran into. */
export type RefusalKind =
  /** A frame or header block broke RFC 9113 or RFC 7541: GOAWAY with the RFC's code. */
  | "connection-error"
  /** A malformed message, or a frame the stream's state does not allow: RST_STREAM. */
  | "stream-error"
  /** A stream beyond `maxConcurrentStreams`: RST_STREAM REFUSED_STREAM. */
  | "concurrent-streams"
  /** A header list beyond `maxHeaderListSize`: `:status 431`, or RST_STREAM. */
  | "header-list-size"
  /** A header block too big or in too many CONTINUATION frames to decode: GOAWAY. */
  | "header-block-size"
  /** More than `maxResets` in `resetWindowMs`: GOAWAY ENHANCE_YOUR_CALM. */
  | "resets"
  /** More than `maxQueuedControlFrames` replies unwritten: GOAWAY ENHANCE_YOUR_CALM. */
  | "control-backlog"
  /** Output above `maxOutputBytes` for `outputStallMs`: GOAWAY ENHANCE_YOUR_CALM (or RST_STREAM). */
  | "output-backlog"
  /** A socket write stuck for `writeTimeoutMs`: closed. */
  | "write-timeout"
  /** No preface and SETTINGS (a client: no SETTINGS) within `prefaceTimeoutMs`: closed. */
  | "preface-timeout";

/** What {@linkcode ConnectionOptions.onRefusal} hears. */
export interface Refusal {
  /** Which bound or rule. */
  kind: RefusalKind;
  /** The HTTP/2 error code we answered with (RST_STREAM or GOAWAY), or NO_ERROR. */
  code: number;
  /** What the peer did. */
  detail: string;
}

/**
 * Receive window we grant each stream (SETTINGS_INITIAL_WINDOW_SIZE): what a
 * peer may send on a stream before we give some back.
 */
export const STREAM_WINDOW: number = 4 << 20;
/**
 * A stream's consumed bytes are given back (WINDOW_UPDATE) in steps of at
 * least this: a quarter of {@linkcode STREAM_WINDOW}.
 */
export const STREAM_WINDOW_STEP: number = STREAM_WINDOW >>> 2;
/** Receive window we grant the connection. */
const CONNECTION_WINDOW = 16 << 20;
/** Largest frame we accept (we never raise SETTINGS_MAX_FRAME_SIZE). */
const MAX_RECV_FRAME = DEFAULT_MAX_FRAME;
/** Queued output per stream beyond which writers wait. */
const STREAM_HIGH_WATER = 256 << 10;
/** Output not yet written to the socket beyond which stream writers wait. */
const CONNECTION_HIGH_WATER = 4 << 20;
/** After a connection error, how long the GOAWAY may take to leave before we hang up anyway. */
const FAIL_FLUSH_MS = 1000;
/** A header block buffer larger than this is dropped once the block is decoded. */
const KEEP_BLOCK_BUFFER = 64 << 10;

// How a stream that is no longer open ended, as bits (RFC 9113 5.1 "closed").
/** We sent RST_STREAM: frames already in flight must be ignored. */
const LOCAL_RST = 1;
/** The peer sent RST_STREAM: anything but PRIORITY afterwards is STREAM_CLOSED. */
const PEER_RST = 2;
/** The peer sent END_STREAM: DATA or HEADERS afterwards is a connection error STREAM_CLOSED. */
const PEER_END = 4;

const EMPTY: Uint8Array = new Uint8Array(0);
/** Output pieces at least this large are written as they are, not copied into the output arena. */
const LARGE_WRITE = 64 << 10;
/**
 * Size of a connection's write buffer for bulk DATA (made when it first
 * sends some, kept while it lives): a window's worth of body is framed
 * into it and written one chunk at a time, rather than copied whole into a
 * buffer of its own. A unix socket takes about 200 KiB per write; smaller
 * chunks cost more round trips through the event loop than the copy saves
 * (bench/README.md, "Throughput of the native engine", fourth pass).
 */
const CHUNK_BYTES = 1 << 20;
/** The largest DATA frame we send, whatever the peer allows: one fits a chunk. */
const MAX_DATA_FRAME = CHUNK_BYTES - FRAME_HEADER_BYTES;
/** Size of an output arena: frames are written into it, and leave in one write per turn. */
const ARENA_BYTES = 64 << 10;
/** Microtask turns replies to the peer's frames wait for other output before they are written. */
const REPLY_HOPS = 16;
/** What a server answers a request whose header list is too large with (RFC 9113 10.5.1). */
const TOO_LARGE_RESPONSE = encodeHeaders([[":status", "431"]]);

function concat(parts: readonly Uint8Array[], from: number, to: number): Uint8Array {
  if (to - from === 1) return parts[from];
  if (to - from === 2) {
    // Two regions of one arena, one after the other: one view, no copy.
    const a = parts[from], b = parts[from + 1];
    if (a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset) {
      return new Uint8Array(a.buffer, a.byteOffset, a.length + b.length);
    }
  }
  let size = 0;
  for (let i = from; i < to; i++) size += parts[i].length;
  const out = new Uint8Array(size);
  for (let i = from, at = 0; i < to; at += parts[i].length, i++) out.set(parts[i], at);
  return out;
}

/** Whether `bytes` begins with `prefix`. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** Bytes on the wire of `bytes` of DATA payload cut into frames of `frameBytes` (the last may have fewer). */
function dataWireBytes(bytes: number, frameBytes: number): number {
  return bytes + Math.ceil(bytes / frameBytes) * FRAME_HEADER_BYTES;
}

/** A frame header's 24-bit length, at `at`. */
function u24(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/**
 * Bulk DATA of one stream on its way out: the body pieces its window let go
 * (views, not copies), framed only as the flush writes them.
 */
class DataRun {
  /**
   * @param id The stream.
   * @param pieces The body bytes, in order.
   * @param bytes Their total length.
   * @param frameBytes Payload bytes per frame (the last frame may have fewer).
   * @param end Whether the last frame carries END_STREAM.
   */
  constructor(
    readonly id: number,
    readonly pieces: Uint8Array[],
    readonly bytes: number,
    readonly frameBytes: number,
    readonly end: boolean,
  ) {}

  /** Its bytes on the wire: the body and a header per frame. */
  get size(): number {
    return dataWireBytes(this.bytes, this.frameBytes);
  }
}

/** What waits to be written: regions of output arenas, large pieces, and bulk DATA. */
type OutPart = Uint8Array | DataRun;

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
  /** The peer sent END_STREAM or RST_STREAM, or the connection is gone. */
  remoteClosed = false;
  /** Our headers went out. */
  headersSent = false;
  /** We sent RST_STREAM. @internal */
  rstSent = false;
  /** The peer sent END_STREAM. @internal */
  peerEnded = false;
  /** The peer sent RST_STREAM. @internal */
  peerReset = false;
  /** Client role: the final response headers arrived (what follows is trailers). @internal */
  responseStarted = false;
  /** The peer's `content-length`, or -1. @internal */
  contentLength = -1;
  /** Body bytes received, for `content-length`. @internal */
  received = 0;
  /** The peer has ever let us send on this stream (a window above 0). @internal */
  windowGranted: boolean;
  /** Body bytes of ours went to the connection's output (see `H2Connection.dropData`). @internal */
  dataOut = false;
  /** Body pieces waiting for window (256 KiB of small messages make 100,000 of them). */
  #queue = new Queue<Uint8Array>();
  #queuedBytes = 0;
  /** What ends our side once the queue is out: trailers, or an empty END_STREAM DATA frame. */
  #trailers: HeaderBlock | null = null;
  /** Writers waiting for the queue to go down (made when the first one waits). */
  #waiters: (() => void)[] | null = null;

  /** @internal */
  constructor(readonly id: number, readonly conn: H2Connection, sendWindow: number) {
    this.sendWindow = sendWindow;
    this.windowGranted = sendWindow > 0;
  }

  /** Whether the stream is gone for writing. */
  get closed(): boolean {
    return this.localClosed;
  }

  /** Queued output bytes waiting for flow-control window. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Sends a HEADERS frame (no END_STREAM) with a header block: an HPACK
   * block that uses no dynamic table, or constant fields, which the
   * connection's encoder indexes; and `tail`, more fields encoded without
   * the dynamic table.
   */
  sendHeaders(block: HeaderBlock, tail: Uint8Array = EMPTY): void {
    if (this.localClosed) return;
    this.headersSent = true;
    this.conn.enqueueHeaders(this.id, block, false, tail);
  }

  /** Queues body bytes (one or more pieces, sent in order) as flow control allows. */
  sendData(...pieces: Uint8Array[]): void {
    if (this.localClosed) return;
    this.#push(pieces);
    this.pump();
  }

  /** Queues the last body bytes and ends our side with them (END_STREAM on the last DATA frame). */
  sendLast(...pieces: Uint8Array[]): void {
    if (this.localClosed || this.#trailers) return;
    this.#push(pieces);
    this.#trailers = EMPTY;
    this.pump();
  }

  #push(pieces: Uint8Array[]): void {
    let added = 0;
    for (const bytes of pieces) {
      if (bytes.length === 0) continue;
      this.#queue.push(bytes);
      added += bytes.length;
    }
    this.#queuedBytes += added;
    if (added) this.conn.queued(added, this);
  }

  /**
   * Ends our side once the queued body is out: with trailers (a HEADERS
   * frame), or without (`EMPTY`: an empty DATA frame), both with END_STREAM.
   */
  end(trailers: HeaderBlock = EMPTY): void {
    if (this.localClosed || this.#trailers) return;
    this.#trailers = trailers instanceof Uint8Array && trailers.length === 0 ? EMPTY : trailers;
    this.pump();
  }

  /**
   * Resolves when this stream's queued output, and the connection's output
   * not yet written to the socket, are small enough to write more.
   */
  async writable(): Promise<void> {
    if (this.#queuedBytes >= STREAM_HIGH_WATER && !this.localClosed) {
      await new Promise<void>((resolve) => (this.#waiters ??= []).push(resolve));
    }
    if (!this.localClosed) await this.conn.backlogBelow(CONNECTION_HIGH_WATER);
  }

  /**
   * Resets the stream with an error code; the handler learns it too. A
   * stream we have ended but the peer has not (a client's request sent, its
   * response still coming) can be reset too; a finished one cannot.
   */
  reset(code: number, cause?: string): void {
    if (this.rstSent || (this.localClosed && this.remoteClosed)) return;
    this.rstSent = true;
    this.conn.enqueueControl(rstStreamFrame(this.id, code));
    if (this.dataOut) this.conn.dropData(this);
    if (!this.localClosed) this.#closeLocal();
    this.conn.forget(this, true);
    this.handler?.reset(code, cause);
  }

  /** The peer reset the stream or the connection is gone: nothing more goes out. @internal */
  abandon(code: number, cause?: string): void {
    this.remoteClosed = true;
    if (this.dataOut) this.conn.dropData(this);
    if (!this.localClosed) this.#closeLocal();
    this.#trailers = null;
    this.handler?.reset(code, cause);
  }

  /**
   * Grants the peer `n` more bytes on this stream once it has been consumed
   * (not after a RST_STREAM of ours: nothing but PRIORITY may follow it,
   * RFC 9113 5.1).
   */
  consumed(n: number): void {
    if (this.remoteClosed || this.rstSent || n === 0) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= STREAM_WINDOW_STEP) {
      this.conn.enqueueControl(windowUpdateFrame(this.id, this.recvUnacked));
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
      const maxFrame = Math.min(conn.peerMaxFrame, MAX_DATA_FRAME);
      const size = dataWireBytes(avail, maxFrame);
      this.sendWindow -= avail;
      conn.sendWindow -= avail;
      this.dataOut = true;
      this.#queuedBytes -= avail;
      conn.queued(-avail);
      endedInData = this.#queuedBytes === 0 && this.#trailers === EMPTY;
      if (size < LARGE_WRITE) {
        // Small output goes straight into the connection's arena (no buffer
        // of its own, no copy at the flush).
        let at = conn.reserve(size);
        const out = conn.arena;
        let room = 0;
        let lastHeader = 0;
        while (avail > 0) {
          if (room === 0) {
            room = Math.min(maxFrame, avail);
            lastHeader = at;
            putFrameHeader(out, at, room, FrameType.DATA, 0, this.id);
            at += FRAME_HEADER_BYTES;
          }
          const head = this.#queue.first()!;
          const n = Math.min(head.length, room);
          out.set(n === head.length ? head : head.subarray(0, n), at);
          at += n;
          room -= n;
          avail -= n;
          if (n === head.length) this.#queue.shift();
          else this.#queue.replaceFirst(head.subarray(n));
        }
        if (endedInData) out[lastHeader + 4] |= Flag.END_STREAM;
        conn.commit(size);
      } else {
        // Bulk data is framed as it is written, a chunk at a time.
        conn.enqueueRun(new DataRun(this.id, this.#take(avail), avail, maxFrame, endedInData));
      }
      if (this.#queuedBytes < STREAM_HIGH_WATER) this.#wake();
    }
    if (this.#queuedBytes > 0) {
      if (this.sendWindow > 0) conn.blocked.add(this);
      return;
    }
    if (this.#trailers) {
      if (this.#trailers !== EMPTY) conn.enqueueHeaders(this.id, this.#trailers, true);
      else if (!endedInData) conn.enqueueFrame(FrameType.DATA, Flag.END_STREAM, this.id, EMPTY);
      this.#trailers = null;
      this.#closeLocal();
      const serverFirst = conn.role === "server" && !this.remoteClosed;
      if (serverFirst) {
        // gRPC: the server is done before the client; tell it to stop sending.
        conn.enqueue(rstStreamFrame(this.id, H2Error.NO_ERROR));
        this.rstSent = true;
      }
      conn.forget(this, serverFirst);
      this.handler?.sent?.();
    }
  }

  /** Takes the first `n` queued bytes off the queue, as views. */
  #take(n: number): Uint8Array[] {
    const taken: Uint8Array[] = [];
    while (n > 0) {
      const head = this.#queue.first()!;
      if (head.length <= n) {
        taken.push(head);
        this.#queue.shift();
        n -= head.length;
      } else {
        taken.push(head.subarray(0, n));
        this.#queue.replaceFirst(head.subarray(n));
        n = 0;
      }
    }
    return taken;
  }

  #closeLocal(): void {
    this.localClosed = true;
    if (this.#queuedBytes) this.conn.queued(-this.#queuedBytes);
    this.#queue.clear();
    this.#queuedBytes = 0;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    if (!waiters) return;
    this.#waiters = null;
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
  /** Bounds on what the peer can make us hold; unset ones take {@linkcode DEFAULT_H2_LIMITS}. */
  limits?: Partial<H2Limits>;
  /** Server role: called for each new stream with its decoded request headers. */
  onStream?(stream: H2Stream, headers: [string, string][]): void;
  /**
   * Called the first time, on this connection, that the peer runs into each
   * kind of bound or rule (later ones of the same kind are answered the
   * same way, silently): a place to log the peer's behaviour.
   */
  onRefusal?(conn: H2Connection, refusal: Refusal): void;
  /** Called once, when the peer's preface and first SETTINGS frame have arrived. */
  onReady?(conn: H2Connection): void;
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

function resolveLimits(given: Partial<H2Limits> | undefined): H2Limits {
  const limits = { ...DEFAULT_H2_LIMITS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`HTTP/2 limit ${name} must be a positive integer, got ${value}`);
    }
  }
  if (limits.maxConcurrentStreams > MAX_WINDOW || limits.maxHeaderListSize > MAX_WINDOW) {
    throw new RangeError("HTTP/2 limits announced in SETTINGS must be below 2^31");
  }
  return limits;
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
  readonly #limits: H2Limits;
  #peerInitialWindow = DEFAULT_WINDOW;
  #recvWindow = CONNECTION_WINDOW;
  #recvUnacked = 0;
  /** The open streams (not a `Map`: see stream_table.ts). */
  #streams = new StreamTable<H2Stream>();
  // How recently closed streams ended (LOCAL_RST | PEER_RST | PEER_END): a
  // ring of the last ones, written once per stream, searched only when a
  // frame comes for a stream that is not open.
  #endedIds: Int32Array;
  #endedBits: Uint8Array;
  #endedNext = 0;
  /** Server: the highest stream id the peer opened. Client: the highest we opened. */
  #lastStreamId = 0;
  #prefaceSeen = 0;
  #settingsSeen = false;
  /** A frame split across reads, gathered here (never more than one frame). */
  #partial: Uint8Array | null = null;
  #partialLen = 0;
  #hpack = new HpackDecoder();
  /** Our side's HPACK state: the peer's table size, and the constant fields it holds. */
  #encoder = new HpackEncoder();
  #fields: FieldsInfo = { contentLength: -1, status: 0 };
  /** What HPACK found wrong with the characters of the block just decoded, or "". */
  #malformed = "";
  // The header block being gathered from HEADERS + CONTINUATION frames.
  #blockId = 0;
  #blockFlags = 0;
  /** A stream error found in the HEADERS frame, raised once the block is decoded. */
  #blockError = "";
  #blockBuf: Uint8Array = EMPTY;
  #blockLen = 0;
  #blockFrames = 0;
  #blockLimit: number;
  #maxContinuations: number;
  /** Output ready to be written, in order. */
  #out: OutPart[] = [];
  /** The write buffer bulk DATA is framed into (made on first use; see `CHUNK_BYTES`). */
  #chunk: Uint8Array = EMPTY;
  /**
   * Where small frames are written as they are made: a bump allocator whose
   * bytes, once handed to a write, are never written over (a full arena is
   * replaced, not reused). `#arenaAt` is where the next frame goes, `#sealed`
   * where the bytes not yet in `#out` start.
   */
  #arena: Uint8Array = EMPTY;
  #arenaAt = 0;
  #sealed = 0;
  #flushing = false;
  /**
   * Streams reset while DATA of theirs waited to be written: the DATA is
   * dropped as the flush reaches it. Each id maps to the batch (`#batch`)
   * current when it was reset: it is looked for in that batch and the next
   * one (the last that can hold its frames), then forgotten.
   */
  #dropping: Map<number, number> | null = null;
  /** Batches of output taken by the flush while `#dropping` was set. */
  #batch = 0;
  /** What waits to be written includes more than replies to the peer's frames. */
  #urgent = false;
  /** Queueing a reply to the peer's frames: it may wait for other output. */
  #replying = false;
  /** Microtask turns the flush has waited for other output to join the replies. */
  #hops = 0;
  readonly #hop = () => this.#startFlush();
  #closed = false;
  #failed: string | null = null;
  #closeAfterFlush: string | null = null;
  #goingAway = false;
  /** The last-stream-id of the GOAWAYs we sent: later ones never go above it (RFC 9113 6.8). */
  #goawaySent = MAX_WINDOW;
  #closeWaiters: (() => void)[] = [];
  #backlog = 0;
  #backlogWaiters: (() => void)[] = [];
  #nextStreamId = 1;
  #peerMaxStreams = Infinity;
  /** Who waits for a stream slot, in order (a `Set`: a waiter that gives up leaves in O(1)). */
  #slotWaiters = new Set<() => void>();
  #closeReason = "";
  #reported = new Set<RefusalKind>();
  /** The connection error being raised was already reported under its own kind. */
  #fatalReported = false;
  #resets = 0;
  #resetWindowStart = 0;
  /** Control replies queued, and in the write under way. */
  #controlQueued = 0;
  #controlWriting = 0;
  /** Bytes queued on streams (waiting for window). */
  #queued = 0;
  /** A stream was reset for the output held: new ones are refused (see #holdingTooMuch). */
  #refusing = false;
  /** When output went above maxOutputBytes (0: it is not). */
  #overSince = 0;
  #stallTimer: (() => void) | null = null;
  #writing = false;
  /** Writes completed: what the write watchdog looks at (no clock read per write). */
  #writesDone = 0;
  #writesSeen = 0;
  #stuckTicks = 0;
  #writeTimer: (() => void) | null = null;
  #prefaceTimer: (() => void) | null = null;
  #failTimer: (() => void) | null = null;

  /**
   * @param transport Where bytes go.
   * @param options Role, limits, stream and close callbacks.
   */
  constructor(readonly transport: Transport, readonly options: ConnectionOptions) {
    this.role = options.role ?? "server";
    const limits = this.#limits = resolveLimits(options.limits);
    this.#blockLimit = 2 * limits.maxHeaderListSize + (16 << 10);
    this.#maxContinuations = Math.max(64, Math.ceil(this.#blockLimit / (8 << 10)));
    const kept = Math.max(256, 2 * limits.maxConcurrentStreams);
    this.#endedIds = new Int32Array(kept);
    this.#endedBits = new Uint8Array(kept);
    if (this.role === "client") {
      this.#prefaceSeen = CLIENT_PREFACE.length; // a server sends none
      this.enqueue(CLIENT_PREFACE);
      this.enqueue(settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      ]));
    } else {
      this.enqueue(settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      ]));
    }
    this.#prefaceTimer = after(limits.prefaceTimeoutMs, () => {
      this.#prefaceTimer = null;
      if (this.#settingsSeen || this.#closed) return;
      const detail = this.role === "client"
        ? `the server sent no SETTINGS frame within ${limits.prefaceTimeoutMs} ms: it accepted the connection but does not speak HTTP/2`
        : this.#prefaceSeen < CLIENT_PREFACE.length
        ? `no connection preface within ${limits.prefaceTimeoutMs} ms`
        : `no SETTINGS frame after the preface within ${limits.prefaceTimeoutMs} ms`;
      this.#report("preface-timeout", H2Error.SETTINGS_TIMEOUT, detail);
      this.close(detail);
    });
    this.enqueue(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  /** The bounds this connection enforces. */
  get limits(): Readonly<H2Limits> {
    return this.#limits;
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

  /**
   * Why the connection is ending with an error of ours (the detail of the
   * GOAWAY we sent: what the peer did), "" if it is not: its streams are
   * gone, and it closes once the GOAWAY is out.
   */
  get failure(): string {
    return this.#failed ?? "";
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
   * the same turn, before taking the slot. When `signal` aborts (the call
   * gave up: its deadline, its cancel), the wait ends at once and the
   * connection keeps nothing of it.
   */
  streamSlot(signal?: AbortSignal): Promise<void> {
    if (this.streamSlotFree || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      if (!signal) return void this.#slotWaiters.add(resolve);
      const leave = () => {
        this.#slotWaiters.delete(wake);
        resolve();
      };
      const wake = () => {
        signal.removeEventListener("abort", leave);
        resolve();
      };
      signal.addEventListener("abort", leave, { once: true });
      this.#slotWaiters.add(wake);
    });
  }

  /**
   * Client role: opens a stream by sending its request headers.
   *
   * @param block The request headers: an HPACK block that uses no dynamic
   * table, or constant fields, which the connection's encoder indexes.
   * @param endStream Whether the request has no body.
   * @param handler What to do with the stream's events.
   * @param tail More request headers, encoded without the dynamic table.
   * @returns The stream, or `null` if the connection takes no new streams.
   */
  openStream(
    block: HeaderBlock,
    endStream: boolean,
    handler: StreamHandler,
    tail: Uint8Array = EMPTY,
  ): H2Stream | null {
    if (this.role !== "client") throw new Error("only a client opens streams");
    if (!this.canOpen || this.#nextStreamId > MAX_WINDOW) return null;
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    this.#lastStreamId = id;
    const stream = new H2Stream(id, this, this.#peerInitialWindow);
    stream.handler = handler;
    this.#streams.set(id, stream);
    stream.headersSent = true;
    this.enqueueHeaders(id, block, endStream, tail);
    if (endStream) stream.localClosed = true;
    return stream;
  }

  /** Feeds bytes read from the transport (a view valid only during the call). */
  receive(chunk: Uint8Array): void {
    if (this.#closed || this.#failed) return;
    try {
      this.#receive(chunk);
    } catch (err) {
      let code: number;
      if (err instanceof H2ConnectionError) code = err.code;
      else if (err instanceof HpackError) code = H2Error.COMPRESSION_ERROR;
      else throw err;
      const message = (err as Error).message;
      if (!this.#fatalReported) this.#report("connection-error", code, message);
      this.fail(code, message);
    }
  }

  #receive(chunk: Uint8Array): void {
    let pos = 0;
    while (this.#prefaceSeen < CLIENT_PREFACE.length && pos < chunk.length) {
      if (chunk[pos++] !== CLIENT_PREFACE[this.#prefaceSeen++]) {
        // Not HTTP/2 (an HTTP/1 request, a probe, garbage): just hang up.
        this.close("not an HTTP/2 client");
        return;
      }
    }
    if (this.#partialLen > 0) {
      pos = this.#fillPartial(chunk, pos);
      if (this.#partialLen > 0) return;
    }
    while (chunk.length - pos >= FRAME_HEADER_BYTES && this.#live()) {
      const length = u24(chunk, pos);
      if (length > MAX_RECV_FRAME) this.#frameTooLarge(length);
      if (chunk.length - pos - FRAME_HEADER_BYTES < length) break;
      const start = pos + FRAME_HEADER_BYTES;
      pos = start + length;
      this.#frame(
        chunk[start - 6],
        chunk[start - 5],
        u32(chunk, start - 4) & MAX_WINDOW,
        chunk.subarray(start, pos),
      );
    }
    if (pos < chunk.length && this.#live()) {
      // Keep the start of the next frame; at most one frame is ever kept, so
      // a frame that arrives a byte at a time costs its length, not its square.
      this.#partial ??= new Uint8Array(FRAME_HEADER_BYTES + MAX_RECV_FRAME);
      this.#partial.set(chunk.subarray(pos));
      this.#partialLen = chunk.length - pos;
    }
  }

  /** Completes the kept frame from `chunk` at `pos`; returns where the rest starts. */
  #fillPartial(chunk: Uint8Array, pos: number): number {
    const partial = this.#partial!;
    if (this.#partialLen < FRAME_HEADER_BYTES) {
      const n = Math.min(FRAME_HEADER_BYTES - this.#partialLen, chunk.length - pos);
      partial.set(chunk.subarray(pos, pos + n), this.#partialLen);
      this.#partialLen += n;
      pos += n;
      if (this.#partialLen < FRAME_HEADER_BYTES) return pos;
    }
    const length = u24(partial, 0);
    if (length > MAX_RECV_FRAME) this.#frameTooLarge(length);
    const want = FRAME_HEADER_BYTES + length - this.#partialLen;
    const n = Math.min(want, chunk.length - pos);
    partial.set(chunk.subarray(pos, pos + n), this.#partialLen);
    this.#partialLen += n;
    pos += n;
    if (n < want) return pos;
    this.#partialLen = 0;
    this.#frame(
      partial[3],
      partial[4],
      u32(partial, 5) & MAX_WINDOW,
      partial.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length),
    );
    return pos;
  }

  #live(): boolean {
    return !this.#closed && !this.#failed;
  }

  #frameTooLarge(length: number): never {
    throw new H2ConnectionError(
      H2Error.FRAME_SIZE_ERROR,
      `frame of ${length} bytes exceeds ${MAX_RECV_FRAME}`,
    );
  }

  #frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#blockId !== 0 && type !== FrameType.CONTINUATION) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    if (!this.#settingsSeen) {
      // RFC 9113 3.4: the preface ends with the peer's SETTINGS frame.
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK)) {
        throw new H2ConnectionError(
          H2Error.PROTOCOL_ERROR,
          `the peer's first frame is of type ${type}, not SETTINGS`,
        );
      }
      this.#settingsSeen = true;
      this.#prefaceTimer?.();
      this.#prefaceTimer = null;
      this.options.onReady?.(this);
    }
    switch (type) {
      case FrameType.DATA:
        return this.#data(flags, id, payload);
      case FrameType.HEADERS:
        return this.#headers(flags, id, payload);
      case FrameType.PRIORITY:
        return this.#priority(id, payload);
      case FrameType.CONTINUATION:
        return this.#continuation(flags, id, payload);
      case FrameType.RST_STREAM:
        return this.#rstStream(id, payload);
      case FrameType.SETTINGS:
        return this.#settings(flags, id, payload);
      case FrameType.PING:
        if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "PING on a stream");
        if (payload.length !== PING_BYTES) {
          throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "PING payload is not 8 bytes");
        }
        if (!(flags & Flag.ACK)) this.enqueueControl(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        return this.#goaway(id, payload);
      case FrameType.WINDOW_UPDATE:
        return this.#windowUpdate(id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(
          H2Error.PROTOCOL_ERROR,
          this.role === "server" ? "PUSH_PROMISE from a client" : "PUSH_PROMISE, but push is off",
        );
      default:
        return; // unknown types are ignored (RFC 9113 5.5)
    }
  }

  /** Whether `id` names a stream the peer (server role) or we (client role) have not opened yet. */
  #isIdle(id: number): boolean {
    return (id & 1) === 0 || id > this.#lastStreamId;
  }

  /** Reports a bound or rule the peer ran into, once per kind. */
  #report(kind: RefusalKind, code: number, detail: string): void {
    if (this.#reported.has(kind)) return;
    this.#reported.add(kind);
    this.options.onRefusal?.(this, { kind, code, detail });
  }

  /** A connection error for a bound: reported under its own kind, then raised. */
  #calm(kind: RefusalKind, detail: string): never {
    this.#report(kind, H2Error.ENHANCE_YOUR_CALM, detail);
    this.#fatalReported = true;
    throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, detail);
  }

  /** Counts a stream the peer reset, or made us reset or refuse (rapid reset). */
  #countReset(): void {
    const now = performance.now();
    if (now - this.#resetWindowStart > this.#limits.resetWindowMs) {
      this.#resetWindowStart = now;
      this.#resets = 0;
    }
    if (++this.#resets > this.#limits.maxResets) {
      this.#calm(
        "resets",
        `more than ${this.#limits.maxResets} streams reset or refused within ${this.#limits.resetWindowMs} ms`,
      );
    }
  }

  /** Remembers how a stream that just left the table ended (ids are never reused). */
  #remember(id: number, bits: number): void {
    const at = this.#endedNext;
    this.#endedIds[at] = id;
    this.#endedBits[at] = bits;
    this.#endedNext = at + 1 === this.#endedIds.length ? 0 : at + 1;
  }

  /** Where `id` is in the ring of ended streams, or -1 (never seen, or forgotten). */
  #endedAt(id: number): number {
    const ids = this.#endedIds;
    // Newest first: a late frame is most likely for a stream that just ended.
    for (let i = this.#endedNext - 1; i >= 0; i--) if (ids[i] === id) return i;
    for (let i = ids.length - 1; i >= this.#endedNext; i--) if (ids[i] === id) return i;
    return -1;
  }

  /** How stream `id` ended, if it is remembered. */
  #endedOf(id: number): number | undefined {
    const at = this.#endedAt(id);
    return at < 0 ? undefined : this.#endedBits[at];
  }

  /** Adds `bits` to a remembered stream's; with `add`, remembers it if it is not. */
  #markEnded(id: number, bits: number, add: boolean): void {
    const at = this.#endedAt(id);
    if (at >= 0) this.#endedBits[at] |= bits;
    else if (add) this.#remember(id, bits);
  }

  /**
   * A stream error: RST_STREAM with `code`. An open stream is reset (its
   * handler hears of it); for one that is not, only the frame goes out.
   */
  #streamError(id: number, code: number, detail: string, kind: RefusalKind = "stream-error"): void {
    this.#report(kind, code, `stream ${id}: ${detail}`);
    const stream = this.#streams.get(id);
    if (stream) {
      // Reset first (it sends RST_STREAM and drops the stream), so the frame
      // count below may end the connection without a stream left behind.
      stream.reset(code, detail);
    } else {
      this.enqueueControl(rstStreamFrame(id, code));
      if (!this.#isIdle(id)) this.#markEnded(id, LOCAL_RST, true);
      else if (id & 1) this.#closeIdle(id);
    }
    this.#countReset();
  }

  /**
   * Our RST_STREAM (for a bad PRIORITY frame) closed an idle stream of the
   * odd ids, which only the client opens: that id must never open a stream
   * now (RFC 9113 5.1), neither the peer's HEADERS (a server ignores them,
   * as frames sent before our RST_STREAM arrived) nor `openStream`.
   */
  #closeIdle(id: number): void {
    this.#lastStreamId = id;
    if (this.role === "client") this.#nextStreamId = Math.max(this.#nextStreamId, id + 2);
    this.#remember(id, LOCAL_RST);
  }

  /** DATA or HEADERS on a stream that is not open (RFC 9113 5.1). */
  #notOpen(id: number, what: "DATA" | "HEADERS"): void {
    if (this.#isIdle(id)) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, `${what} on idle stream ${id}`);
    }
    const bits = this.#endedOf(id);
    if (bits === undefined) {
      // Closed long ago, or never opened and skipped over by a higher id.
      if (what === "DATA") {
        return this.#streamError(id, H2Error.STREAM_CLOSED, "DATA on a closed stream");
      }
      if (this.role === "client") return; // a response to a stream we dropped long ago
      throw new H2ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `HEADERS on stream ${id}, not above the last stream ${this.#lastStreamId}`,
      );
    }
    if (bits & PEER_RST) {
      return this.#streamError(id, H2Error.STREAM_CLOSED, `${what} after the peer's RST_STREAM`);
    }
    if (bits & LOCAL_RST) return; // sent before our RST_STREAM reached the peer: ignored
    throw new H2ConnectionError(
      H2Error.STREAM_CLOSED,
      `${what} on stream ${id} after its END_STREAM`,
    );
  }

  #goaway(id: number, payload: Uint8Array): void {
    if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
    if (payload.length < GOAWAY_FIXED_BYTES) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes");
    }
    const last = u32(payload, 0) & MAX_WINDOW;
    // A later GOAWAY may only lower it (RFC 9113 6.8).
    const lastStreamId = Math.min(last, this.peerGoAway?.lastStreamId ?? MAX_WINDOW);
    const code = u32(payload, 4);
    const debug = new TextDecoder().decode(payload.subarray(GOAWAY_FIXED_BYTES));
    this.peerGoAway = { lastStreamId, code, debug };
    this.#goingAway = true;
    if (this.role === "client") {
      // Streams the server never saw may be retried elsewhere: REFUSED_STREAM.
      for (const s of this.#streams.values()) {
        if (s.id > lastStreamId) {
          this.#streams.delete(s.id);
          this.blocked.delete(s);
          this.#remember(s.id, LOCAL_RST);
          s.abandon(H2Error.REFUSED_STREAM);
        }
      }
      this.#wakeSlots();
    }
    this.#maybeIdle();
  }

  /** The payload without its padding (RFC 9113 6.1, 6.2). */
  #stripPadding(flags: number, payload: Uint8Array): Uint8Array {
    if (!(flags & Flag.PADDED)) return payload;
    if (payload.length === 0 || payload[0] >= payload.length) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "padding exceeds the frame");
    }
    return payload.subarray(1, payload.length - payload[0]);
  }

  #data(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    const body = this.#stripPadding(flags, payload);
    this.#recvWindow -= payload.length;
    if (this.#recvWindow < 0) {
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window exceeded");
    }
    this.#recvUnacked += payload.length;
    if (this.#recvUnacked >= CONNECTION_WINDOW >>> 2) {
      this.enqueueControl(windowUpdateFrame(0, this.#recvUnacked));
      this.#recvWindow += this.#recvUnacked;
      this.#recvUnacked = 0;
    }
    const stream = this.#streams.get(id);
    if (!stream) return this.#notOpen(id, "DATA");
    if (stream.remoteClosed) {
      return this.#streamError(id, H2Error.STREAM_CLOSED, "DATA after END_STREAM");
    }
    if (this.role === "client" && !stream.responseStarted) {
      return this.#streamError(id, H2Error.PROTOCOL_ERROR, "DATA before the response headers");
    }
    stream.recvWindow -= payload.length;
    if (stream.recvWindow < 0) {
      return this.#streamError(id, H2Error.FLOW_CONTROL_ERROR, "stream window exceeded");
    }
    // Padding counts against the window but is consumed right away.
    stream.consumed(payload.length - body.length);
    const end = (flags & Flag.END_STREAM) !== 0;
    if (stream.contentLength >= 0) {
      stream.received += body.length;
      if (
        stream.received > stream.contentLength ||
        (end && stream.received !== stream.contentLength)
      ) {
        return this.#streamError(
          id,
          H2Error.PROTOCOL_ERROR,
          `content-length ${stream.contentLength}, but the body has ${
            end ? "" : "at least "
          }${stream.received} bytes`,
        );
      }
    }
    if (end) stream.remoteClosed = stream.peerEnded = true;
    stream.handler?.data(body, end);
    if (end) this.forget(stream, false);
  }

  #headers(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "HEADERS on stream 0");
    if ((id & 1) === 0) {
      throw new H2ConnectionError(
        H2Error.PROTOCOL_ERROR,
        this.role === "server"
          ? `HEADERS on even stream ${id} from a client`
          : `HEADERS on even stream ${id}, but push is off`,
      );
    }
    let block = this.#stripPadding(flags, payload);
    this.#blockError = "";
    if (flags & Flag.PRIORITY) {
      if (block.length < PRIORITY_BYTES) {
        throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "HEADERS too short for its priority");
      }
      if ((u32(block, 0) & MAX_WINDOW) === id) this.#blockError = "the stream depends on itself";
      block = block.subarray(PRIORITY_BYTES);
    }
    if (flags & Flag.END_HEADERS) return this.#headerBlockDone(id, flags, block);
    this.#blockId = id;
    this.#blockFlags = flags;
    this.#blockLen = 0;
    this.#blockFrames = 0;
    this.#appendBlock(block);
  }

  /** Adds a fragment to the header block being gathered: amortised linear in its size. */
  #appendBlock(part: Uint8Array): void {
    const need = this.#blockLen + part.length;
    if (need > this.#blockLimit) {
      this.#calm(
        "header-block-size",
        `header block of more than ${this.#blockLimit} bytes (SETTINGS_MAX_HEADER_LIST_SIZE ${this.#limits.maxHeaderListSize})`,
      );
    }
    if (need > this.#blockBuf.length) {
      const grown = new Uint8Array(
        Math.min(this.#blockLimit, Math.max(need, 2 * this.#blockBuf.length, 4096)),
      );
      grown.set(this.#blockBuf.subarray(0, this.#blockLen));
      this.#blockBuf = grown;
    }
    this.#blockBuf.set(part, this.#blockLen);
    this.#blockLen = need;
  }

  #continuation(flags: number, id: number, payload: Uint8Array): void {
    if (this.#blockId === 0 || this.#blockId !== id) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    if (++this.#blockFrames > this.#maxContinuations) {
      this.#calm(
        "header-block-size",
        `header block in more than ${this.#maxContinuations} CONTINUATION frames`,
      );
    }
    this.#appendBlock(payload);
    if (!(flags & Flag.END_HEADERS)) return;
    this.#blockId = 0;
    const block = this.#blockBuf.subarray(0, this.#blockLen);
    if (this.#blockBuf.length > KEEP_BLOCK_BUFFER) this.#blockBuf = EMPTY;
    this.#headerBlockDone(id, this.#blockFlags, block);
  }

  #headerBlockDone(id: number, flags: number, block: Uint8Array): void {
    let headers: [string, string][] | null;
    try {
      headers = this.#hpack.decode(block, this.#limits.maxHeaderListSize);
    } catch (err) {
      if (!(err instanceof HpackListSizeError)) throw err;
      headers = null; // decoded for the table's sake; the message is refused below
    }
    const end = (flags & Flag.END_STREAM) !== 0;
    // Characters a field may not have (RFC 9113 8.2.1), found as it was decoded.
    this.#malformed = headers ? this.#hpack.malformed : "";
    if (this.role === "client") return this.#responseHeaders(id, headers, end);
    const stream = this.#streams.get(id);
    if (stream) return this.#requestTrailers(stream, headers, end);
    if (id <= this.#lastStreamId) return this.#notOpen(id, "HEADERS");
    // A new stream (RFC 9113 5.1.1: its id is above every earlier one).
    this.#lastStreamId = id;
    if (this.#blockError) return this.#streamError(id, H2Error.PROTOCOL_ERROR, this.#blockError);
    if (this.#goingAway) {
      this.enqueueControl(rstStreamFrame(id, H2Error.REFUSED_STREAM));
      this.#remember(id, LOCAL_RST);
      return;
    }
    if (this.#streams.size >= this.#limits.maxConcurrentStreams) {
      return this.#streamError(
        id,
        H2Error.REFUSED_STREAM,
        `more than SETTINGS_MAX_CONCURRENT_STREAMS ${this.#limits.maxConcurrentStreams} streams open`,
        "concurrent-streams",
      );
    }
    if (this.#holdingTooMuch()) {
      // The peer does not read what it asked for: a new request would be
      // answered (its handler run) only to be reset at its first byte.
      // Refused unprocessed, it costs nothing and may be retried (RFC 9113 8.7).
      return this.#streamError(
        id,
        H2Error.REFUSED_STREAM,
        `the peer does not read the ${this.#limits.maxOutputBytes} bytes of output held for it: new streams are refused until it does`,
        "output-backlog",
      );
    }
    const info = this.#fields;
    if (headers) {
      const malformed = this.#malformed || checkFields(headers, "request", info);
      if (malformed) return this.#streamError(id, H2Error.PROTOCOL_ERROR, malformed);
      if (end && info.contentLength > 0) {
        return this.#streamError(
          id,
          H2Error.PROTOCOL_ERROR,
          `content-length ${info.contentLength}, but the request has no body`,
        );
      }
    }
    const created = new H2Stream(id, this, this.#peerInitialWindow);
    this.#streams.set(id, created);
    // Known before onStream, so an immediate answer does not reset a stream
    // the client has already ended.
    if (end) created.remoteClosed = created.peerEnded = true;
    if (!headers) {
      // RFC 9113 10.5.1: a server may answer 431 and go on with the connection.
      this.#report(
        "header-list-size",
        H2Error.NO_ERROR,
        `stream ${id}: request header list above SETTINGS_MAX_HEADER_LIST_SIZE ${this.#limits.maxHeaderListSize}`,
      );
      this.#countReset();
      created.end(TOO_LARGE_RESPONSE);
      return;
    }
    created.contentLength = info.contentLength;
    this.options.onStream?.(created, headers);
    if (end) {
      created.handler?.data(EMPTY, true);
      this.forget(created, false);
    }
  }

  /** Server role: a second header block on an open stream, which must be the client's trailers. */
  #requestTrailers(stream: H2Stream, headers: [string, string][] | null, end: boolean): void {
    const id = stream.id;
    if (stream.remoteClosed) {
      return this.#streamError(id, H2Error.STREAM_CLOSED, "HEADERS after END_STREAM");
    }
    if (this.#blockError) return this.#streamError(id, H2Error.PROTOCOL_ERROR, this.#blockError);
    if (!end) return this.#streamError(id, H2Error.PROTOCOL_ERROR, "trailers without END_STREAM");
    if (!headers) {
      return this.#streamError(
        id,
        H2Error.ENHANCE_YOUR_CALM,
        `trailers above SETTINGS_MAX_HEADER_LIST_SIZE ${this.#limits.maxHeaderListSize}`,
        "header-list-size",
      );
    }
    const malformed = this.#malformed || checkFields(headers, "trailers", this.#fields);
    if (malformed) return this.#streamError(id, H2Error.PROTOCOL_ERROR, malformed);
    if (stream.contentLength >= 0 && stream.received !== stream.contentLength) {
      return this.#streamError(
        id,
        H2Error.PROTOCOL_ERROR,
        `content-length ${stream.contentLength}, but the body has ${stream.received} bytes`,
      );
    }
    stream.remoteClosed = stream.peerEnded = true;
    stream.handler?.data(EMPTY, true);
    this.forget(stream, false);
  }

  /** Client role: response headers, or trailers, of one of our streams. */
  #responseHeaders(id: number, headers: [string, string][] | null, end: boolean): void {
    const stream = this.#streams.get(id);
    if (!stream) return this.#notOpen(id, "HEADERS");
    if (stream.remoteClosed) {
      return this.#streamError(id, H2Error.STREAM_CLOSED, "HEADERS after END_STREAM");
    }
    if (this.#blockError) return this.#streamError(id, H2Error.PROTOCOL_ERROR, this.#blockError);
    if (!headers) {
      return this.#streamError(
        id,
        H2Error.ENHANCE_YOUR_CALM,
        `response header list above SETTINGS_MAX_HEADER_LIST_SIZE ${this.#limits.maxHeaderListSize}`,
        "header-list-size",
      );
    }
    const info = this.#fields;
    if (!stream.responseStarted) {
      const malformed = this.#malformed || checkFields(headers, "response", info);
      if (malformed) return this.#streamError(id, H2Error.PROTOCOL_ERROR, malformed);
      if (info.status < 200) {
        // Informational (1xx): the final response follows; it never ends the stream.
        if (end) {
          return this.#streamError(
            id,
            H2Error.PROTOCOL_ERROR,
            "an informational response ends the stream",
          );
        }
        return;
      }
      stream.responseStarted = true;
      // 304 and 204 have no body whatever their content-length says.
      if (info.status !== 304 && info.status !== 204) stream.contentLength = info.contentLength;
    } else {
      if (!end) return this.#streamError(id, H2Error.PROTOCOL_ERROR, "trailers without END_STREAM");
      const malformed = this.#malformed || checkFields(headers, "trailers", info);
      if (malformed) return this.#streamError(id, H2Error.PROTOCOL_ERROR, malformed);
    }
    if (end && stream.contentLength >= 0 && stream.received !== stream.contentLength) {
      return this.#streamError(
        id,
        H2Error.PROTOCOL_ERROR,
        `content-length ${stream.contentLength}, but the body has ${stream.received} bytes`,
      );
    }
    if (end) stream.remoteClosed = stream.peerEnded = true;
    stream.handler?.headers?.(headers, end);
    if (end) this.forget(stream, false);
  }

  #priority(id: number, payload: Uint8Array): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "PRIORITY on stream 0");
    if (payload.length !== PRIORITY_BYTES) {
      return this.#streamError(id, H2Error.FRAME_SIZE_ERROR, "PRIORITY payload is not 5 bytes");
    }
    if ((u32(payload, 0) & MAX_WINDOW) === id) {
      return this.#streamError(id, H2Error.PROTOCOL_ERROR, "the stream depends on itself");
    }
    // Priorities are advisory (RFC 9113 5.3.2) and we do not use them.
  }

  #rstStream(id: number, payload: Uint8Array): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== U32_FRAME_BYTES) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes");
    }
    const stream = this.#streams.get(id);
    if (!stream) {
      if (this.#isIdle(id)) {
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
      }
      this.#markEnded(id, PEER_RST, false);
      return;
    }
    const code = u32(payload, 0);
    this.#streams.delete(id);
    this.blocked.delete(stream);
    stream.peerReset = true;
    this.#remember(id, PEER_RST | (stream.peerEnded ? PEER_END : 0));
    stream.abandon(code);
    this.#wakeSlots();
    this.#maybeIdle();
    // A server's NO_ERROR after its whole response is the gRPC way to end
    // early (RFC 9113 8.1), not a cancel.
    if (!(code === H2Error.NO_ERROR && stream.peerEnded)) this.#countReset();
  }

  #settings(flags: number, id: number, payload: Uint8Array): void {
    if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0) {
        throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      }
      return;
    }
    if (payload.length % SETTING_BYTES !== 0) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6");
    }
    for (let i = 0; i < payload.length; i += SETTING_BYTES) {
      const key = (payload[i] << 8) | payload[i + 1];
      const value = u32(payload, i + 2);
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (value > 1 || (value === 1 && this.role === "client")) {
            throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
          }
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            throw new H2ConnectionError(
              H2Error.FLOW_CONTROL_ERROR,
              `SETTINGS_INITIAL_WINDOW_SIZE ${value} above 2^31-1`,
            );
          }
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const s of this.#streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > 0) s.windowGranted = true;
            if (s.sendWindow > MAX_WINDOW) {
              throw new H2ConnectionError(
                H2Error.FLOW_CONTROL_ERROR,
                `SETTINGS_INITIAL_WINDOW_SIZE takes stream ${s.id}'s window above 2^31-1`,
              );
            }
          }
          if (delta > 0) { for (const s of this.#streams.values()) s.pump(); }
          break;
        }
        case Setting.MAX_CONCURRENT_STREAMS:
          this.#peerMaxStreams = value;
          this.#wakeSlots();
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_SIZE_LIMIT) {
            throw new H2ConnectionError(
              H2Error.PROTOCOL_ERROR,
              `SETTINGS_MAX_FRAME_SIZE ${value} outside [16384, 2^24-1]`,
            );
          }
          this.peerMaxFrame = value;
          break;
        case Setting.HEADER_TABLE_SIZE:
          this.#encoder.setMaxTableSize(value);
          break;
          // MAX_HEADER_LIST_SIZE is advisory. Unknown settings are ignored (RFC 9113 6.5.2).
      }
    }
    this.enqueueControl(frame(FrameType.SETTINGS, Flag.ACK, 0));
  }

  #windowUpdate(id: number, payload: Uint8Array): void {
    if (payload.length !== U32_FRAME_BYTES) {
      throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes");
    }
    const inc = u32(payload, 0) & MAX_WINDOW;
    if (id === 0) {
      if (inc === 0) {
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, "connection WINDOW_UPDATE of 0");
      }
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) {
        throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      }
      return this.#unblock();
    }
    if (this.#isIdle(id)) {
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    }
    const stream = this.#streams.get(id);
    if (inc === 0) {
      // Malformed whatever the stream's state (RFC 9113 6.9).
      return this.#streamError(id, H2Error.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
    }
    if (!stream) return; // allowed on closed streams (RFC 9113 5.1)
    stream.sendWindow += inc;
    stream.windowGranted = true;
    if (stream.sendWindow > MAX_WINDOW) {
      return this.#streamError(id, H2Error.FLOW_CONTROL_ERROR, "stream window above 2^31-1");
    }
    stream.pump();
  }

  /** Connection-level window came: the streams waiting for it send. */
  #unblock(): void {
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const s of waiting) s.pump();
  }

  /**
   * A stream that put DATA on the output was reset (by us or the peer), or
   * abandoned: what of that DATA is not written yet never will be (RFC 9113
   * 6.4: after RST_STREAM, the peer takes nothing more on the stream; it
   * would cost the peer's connection window and our bandwidth). The flush
   * drops the stream's DATA frames as it reaches them, and gives their bytes
   * back to the connection's send window: bytes never sent are not counted
   * by the peer either (RFC 9113 6.9). HEADERS are never dropped (the HPACK
   * state depends on them). @internal
   */
  dropData(stream: H2Stream): void {
    // Not flushing: nothing of the stream's waits to be written.
    if (!this.#flushing || this.#closed) return;
    (this.#dropping ??= new Map()).set(stream.id, this.#batch);
  }

  /** A new batch of output is taken: reset streams of two batches ago can hold nothing in it. */
  #nextBatch(dropping: Map<number, number>): void {
    const batch = ++this.#batch;
    for (const [id, at] of dropping) if (at < batch - 1) dropping.delete(id);
    if (dropping.size === 0) this.#dropping = null;
  }

  /**
   * `part` (whole frames, after the client preface if it starts with it)
   * without the DATA frames of streams in `#dropping`: itself when it has
   * none, else a copy.
   */
  #strip(part: Uint8Array): Uint8Array {
    const dropping = this.#dropping!;
    let at = startsWith(part, CLIENT_PREFACE) ? CLIENT_PREFACE.length : 0;
    let kept: Uint8Array[] | null = null;
    let keptFrom = 0;
    let payload = 0;
    while (at + FRAME_HEADER_BYTES <= part.length) {
      const next = at + FRAME_HEADER_BYTES + u24(part, at);
      if (part[at + 3] === FrameType.DATA && dropping.has(u32(part, at + 5) & MAX_WINDOW)) {
        (kept ??= []).push(part.subarray(keptFrom, at));
        payload += next - at - FRAME_HEADER_BYTES;
        keptFrom = next;
      }
      at = next;
    }
    if (!kept) return part;
    kept.push(part.subarray(keptFrom));
    const out = concat(kept, 0, kept.length);
    this.#unsent(part.length - out.length, payload);
    return out;
  }

  /** `bytes` of output (`payload` of them DATA payload) will never be written. */
  #unsent(bytes: number, payload: number): void {
    this.sendWindow += payload;
    this.#written(bytes);
    if (payload > 0) this.#unblock();
  }

  /**
   * Queues a HEADERS frame (split into CONTINUATION frames if needed) with
   * `block`, HPACK-encoded now (blocks go on the wire in the order they are
   * encoded), then `tail`. @internal
   */
  enqueueHeaders(
    id: number,
    header: HeaderBlock,
    endStream: boolean,
    tail: Uint8Array = EMPTY,
  ): void {
    if (this.#closed || this.#failed) return;
    const head = this.#encoder.encode(header);
    const max = this.peerMaxFrame;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    const size = head.length + tail.length;
    if (size <= max && FRAME_HEADER_BYTES + size < LARGE_WRITE) {
      const at = this.reserve(FRAME_HEADER_BYTES + size);
      const arena = this.#arena;
      putFrameHeader(arena, at, size, FrameType.HEADERS, Flag.END_HEADERS | endFlag, id);
      arena.set(head, at + FRAME_HEADER_BYTES);
      arena.set(tail, at + FRAME_HEADER_BYTES + head.length);
      return this.commit(FRAME_HEADER_BYTES + size);
    }
    const block = tail.length ? concat([head, tail], 0, 2) : head;
    for (let at = 0; at < block.length; at += max) {
      const last = at + max >= block.length;
      const part = block.subarray(at, at + max);
      const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (at === 0 ? endFlag : 0) | (last ? Flag.END_HEADERS : 0);
      this.enqueueFrame(type, flags, id, part);
    }
  }

  /** Drops a stream once both sides are done. @internal */
  forget(stream: H2Stream, force: boolean): void {
    if (!force && !(stream.localClosed && stream.remoteClosed)) return;
    if (!this.#streams.delete(stream.id)) return;
    this.#remember(
      stream.id,
      (stream.rstSent ? LOCAL_RST : 0) | (stream.peerReset ? PEER_RST : 0) |
        (stream.peerEnded ? PEER_END : 0),
    );
    this.blocked.delete(stream);
    this.#wakeSlots();
    this.#maybeIdle();
  }

  #wakeSlots(): void {
    for (const wake of this.#slotWaiters) {
      if (this.#streams.size >= this.#peerMaxStreams && this.canOpen) return;
      this.#slotWaiters.delete(wake);
      wake();
    }
  }

  /** Queues bytes for the transport; they leave at the end of this turn. */
  enqueue(bytes: Uint8Array): void {
    if (this.#closed || this.#failed) return;
    const n = bytes.length;
    if (n < LARGE_WRITE) {
      const at = this.reserve(n);
      this.#arena.set(bytes, at);
      return this.commit(n);
    }
    this.#seal();
    this.#out.push(bytes);
    this.#added(n);
  }

  /** Queues bulk DATA, framed when it is written. */
  enqueueRun(run: DataRun): void {
    if (this.#closed || this.#failed) return;
    this.#seal();
    this.#out.push(run);
    this.#added(run.size);
  }

  /** Queues one frame, written straight into the output arena. @internal */
  enqueueFrame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#closed || this.#failed) return;
    const n = FRAME_HEADER_BYTES + payload.length;
    if (n >= LARGE_WRITE) return this.enqueue(frame(type, flags, id, payload));
    const at = this.reserve(n);
    const arena = this.#arena;
    putFrameHeader(arena, at, payload.length, type, flags, id);
    arena.set(payload, at + FRAME_HEADER_BYTES);
    this.commit(n);
  }

  /**
   * Makes room for `n` bytes of output in the arena ({@linkcode arena}),
   * and returns where they go; the caller writes them there, then calls
   * {@linkcode commit} with `n` before anything else is queued. @internal
   */
  reserve(n: number): number {
    if (this.#arenaAt + n > this.#arena.length) {
      this.#seal();
      this.#arena = new Uint8Array(Math.max(ARENA_BYTES, n));
      this.#arenaAt = this.#sealed = 0;
    }
    return this.#arenaAt;
  }

  /** The output arena {@linkcode reserve} made room in. @internal */
  get arena(): Uint8Array {
    return this.#arena;
  }

  /** Queues the `n` bytes just written at the offset {@linkcode reserve} returned. @internal */
  commit(n: number): void {
    // Closed, or failed (nothing may follow the GOAWAY): the bytes are dropped.
    if (this.#closed || this.#failed) return;
    this.#arenaAt += n;
    this.#added(n);
  }

  /** The arena's bytes not yet in `#out` go there, as one region. */
  #seal(): void {
    if (this.#arenaAt === this.#sealed) return;
    this.#out.push(this.#arena.subarray(this.#sealed, this.#arenaAt));
    this.#sealed = this.#arenaAt;
  }

  #added(n: number): void {
    this.#backlog += n;
    if (this.#queued + this.#backlog > this.#limits.maxOutputBytes) this.#overOutput();
    if (!this.#replying) this.#urgent = true;
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(this.#hop);
    }
  }

  /**
   * Starts the flush at the end of the turn. Replies to the peer's frames
   * alone (the PING ACK and WINDOW_UPDATE that come with each of grpc-go's
   * calls) wait a few microtask turns for the answer the same frames led
   * to, so that both leave in one write.
   */
  #startFlush(): void {
    if (!this.#urgent && this.#hops < REPLY_HOPS && !this.#closed) {
      this.#hops++;
      queueMicrotask(this.#hop);
      return;
    }
    this.#hops = 0;
    void this.#flush();
  }

  /** Queues a reply to the peer's frames (counted: see `maxQueuedControlFrames`). @internal */
  enqueueControl(bytes: Uint8Array): void {
    if (this.#closed || this.#failed) return;
    if (++this.#controlQueued + this.#controlWriting > this.#limits.maxQueuedControlFrames) {
      const detail =
        `more than ${this.#limits.maxQueuedControlFrames} replies (PING and SETTINGS ACKs, RST_STREAM, WINDOW_UPDATE) unwritten: the peer sends without reading`;
      this.#report("control-backlog", H2Error.ENHANCE_YOUR_CALM, detail);
      this.fail(H2Error.ENHANCE_YOUR_CALM, detail);
      return;
    }
    this.#replying = true;
    this.enqueue(bytes);
    this.#replying = false;
  }

  /** Bytes were queued on (`n` > 0, by `stream`) or left (`n` < 0) a stream's queue. @internal */
  queued(n: number, stream?: H2Stream): void {
    this.#queued += n;
    if (n > 0) {
      if (this.#queued + this.#backlog > this.#limits.maxOutputBytes) {
        this.#overOutput();
        // A stream the peer never let send a byte (a zero initial window and
        // no WINDOW_UPDATE) cannot drain: over the budget, it is not kept.
        if (stream && !stream.windowGranted && !stream.localClosed) this.#starved(stream);
      }
    } else if (this.#overSince && this.#queued + this.#backlog <= this.#limits.maxOutputBytes) {
      this.#overSince = 0;
    }
  }

  /**
   * Whether new streams are refused for the output held: from the time a
   * stream was reset for it ({@link #starved}: over `maxOutputBytes`, and
   * the peer never gave it any window) until the output held is down to half
   * of `maxOutputBytes` (the reset alone takes one answer off, not the
   * backlog that caused it).
   */
  #holdingTooMuch(): boolean {
    if (!this.#refusing) return false;
    if (this.#queued + this.#backlog > this.#limits.maxOutputBytes / 2) return true;
    this.#refusing = false;
    return false;
  }

  #starved(stream: H2Stream): void {
    this.#refusing = true;
    const detail =
      `stream ${stream.id}: more than ${this.#limits.maxOutputBytes} bytes of output held, and the peer never gave this stream any window`;
    this.#report("output-backlog", H2Error.ENHANCE_YOUR_CALM, detail);
    stream.reset(H2Error.ENHANCE_YOUR_CALM, detail);
  }

  /** Output went above maxOutputBytes: it must come back down within outputStallMs. */
  #overOutput(): void {
    if (this.#overSince) return;
    this.#overSince = performance.now();
    if (!this.#stallTimer) this.#armStall(this.#limits.outputStallMs);
  }

  #armStall(ms: number): void {
    this.#stallTimer = after(ms, () => {
      this.#stallTimer = null;
      if (!this.#overSince || this.#closed) return;
      const stall = this.#limits.outputStallMs;
      const over = performance.now() - this.#overSince;
      if (over < stall - 1) return this.#armStall(stall - over);
      const detail =
        `more than ${this.#limits.maxOutputBytes} bytes of output held for ${stall} ms: the peer does not read`;
      this.#report("output-backlog", H2Error.ENHANCE_YOUR_CALM, detail);
      this.fail(H2Error.ENHANCE_YOUR_CALM, detail);
    });
  }

  async #flush(): Promise<void> {
    while (!this.#closed) {
      this.#urgent = false;
      this.#seal();
      if (!this.#out.length) break;
      if (this.#dropping) this.#nextBatch(this.#dropping);
      const parts = this.#out;
      this.#out = [];
      const control = this.#controlQueued;
      this.#controlQueued = 0;
      this.#controlWriting += control;
      try {
        await this.#writeParts(parts);
      } catch {
        this.close("write failed");
        return;
      }
      this.#controlWriting -= control;
      if (!this.#urgent && this.#arenaAt > this.#sealed && !this.#closed) {
        // Only replies came in while the write was under way (the next
        // call's PING ACK, its answer still being made): they wait for it
        // as at the start of a flush.
        queueMicrotask(this.#hop);
        return;
      }
    }
    this.#flushing = false;
    this.#dropping = null;
    const reason = this.#failed ?? this.#closeAfterFlush;
    if (reason) this.close(reason);
  }

  /**
   * Writes one batch of output in order. Small parts leave together in one
   * write (a view, when they are one region of an arena); a large piece is
   * written as it is. Bulk DATA is framed into the write buffer and written
   * a chunk at a time, the buffer reused once each write is done; the small
   * parts just before it (its HEADERS) open its first chunk, and those just
   * after it (its trailers, the next calls' frames) close its last while
   * they fit. DATA of a stream reset meanwhile (`dropData`) is left out as
   * each part is taken, and again after each wait before it is written.
   */
  async #writeParts(parts: readonly OutPart[]): Promise<void> {
    /** Small parts not yet written, when the write buffer is empty. */
    let small: Uint8Array[] = [];
    let smallBytes = 0;
    /** Bytes in the write buffer. */
    let fill = 0;
    let buf = this.#chunk;
    for (const whole of parts) {
      if (this.#closed) return;
      if (whole instanceof Uint8Array) {
        let part = whole;
        if (this.#dropping && !(part = this.#strip(part)).length) continue;
        if (fill > 0) {
          if (part.length < LARGE_WRITE && fill + part.length <= buf.length) {
            buf.set(part, fill);
            fill += part.length;
            continue;
          }
          await this.#write(buf.subarray(0, fill));
          fill = 0;
          if (this.#dropping && !(part = this.#strip(part)).length) continue;
        }
        if (part.length < LARGE_WRITE) {
          small.push(part);
          smallBytes += part.length;
          continue;
        }
        if (small.length) {
          await this.#write(concat(small, 0, small.length));
          if (this.#dropping && !(part = this.#strip(part)).length) continue;
        }
        small = [];
        smallBytes = 0;
        await this.#write(part);
        continue;
      }
      const part = whole;
      if (buf.length === 0) buf = this.#chunk = new Uint8Array(CHUNK_BYTES);
      if (small.length) {
        if (smallBytes + FRAME_HEADER_BYTES + part.frameBytes <= buf.length) {
          for (const s of small) {
            buf.set(s, fill);
            fill += s.length;
          }
        } else await this.#write(concat(small, 0, small.length));
        small = [];
        smallBytes = 0;
      }
      const { pieces, frameBytes, id } = part;
      let left = part.bytes;
      let piece = 0;
      let offset = 0;
      while (left > 0) {
        const n = Math.min(frameBytes, left);
        if (fill + FRAME_HEADER_BYTES + n > buf.length) {
          await this.#write(buf.subarray(0, fill));
          fill = 0;
          if (this.#closed) return;
        }
        // Reset before (or during the write just made): the frames not framed yet never go out.
        if (this.#dropping?.has(id)) {
          this.#unsent(dataWireBytes(left, frameBytes), left);
          break;
        }
        left -= n;
        putFrameHeader(
          buf,
          fill,
          n,
          FrameType.DATA,
          left === 0 && part.end ? Flag.END_STREAM : 0,
          id,
        );
        fill += FRAME_HEADER_BYTES;
        for (let need = n; need > 0;) {
          const p = pieces[piece];
          const take = Math.min(p.length - offset, need);
          buf.set(offset === 0 && take === p.length ? p : p.subarray(offset, offset + take), fill);
          fill += take;
          need -= take;
          offset += take;
          if (offset === p.length) {
            piece++;
            offset = 0;
          }
        }
      }
    }
    if (fill > 0) await this.#write(buf.subarray(0, fill));
    else if (small.length) await this.#write(concat(small, 0, small.length));
  }

  async #write(data: Uint8Array): Promise<void> {
    this.#writing = true;
    if (!this.#writeTimer) this.#armWrite();
    await this.transport.write(data);
    this.#writing = false;
    this.#writesDone++;
    this.#written(data.length);
  }

  /** `n` bytes of output left the backlog (written, or dropped). */
  #written(n: number): void {
    this.#backlog -= n;
    if (this.#backlog < CONNECTION_HIGH_WATER) this.#wakeBacklog();
    if (this.#overSince && this.#queued + this.#backlog <= this.#limits.maxOutputBytes) {
      this.#overSince = 0;
    }
  }

  /**
   * Watches the writes: a timer every half timeout while writing, however
   * many writes there are. Two ticks in a row with a write pending and none
   * completed since (so stuck for between one and one and a half timeouts)
   * close the connection.
   */
  #armWrite(): void {
    this.#writesSeen = this.#writesDone;
    this.#stuckTicks = 0;
    this.#writeTimer = after(this.#limits.writeTimeoutMs / 2, () => this.#writeTick());
  }

  #writeTick(): void {
    this.#writeTimer = null;
    if (!this.#writing || this.#closed) return;
    if (this.#writesDone !== this.#writesSeen) return this.#armWrite();
    if (++this.#stuckTicks < 2) {
      this.#writeTimer = after(this.#limits.writeTimeoutMs / 2, () => this.#writeTick());
      return;
    }
    const detail =
      `a socket write did not complete in ${this.#limits.writeTimeoutMs} ms: the peer does not read`;
    this.#report("write-timeout", H2Error.NO_ERROR, detail);
    this.close(detail);
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
      this.enqueue(goawayFrame(this.#goawayLastId(), H2Error.NO_ERROR));
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
   * The last stream id of our next GOAWAY: the highest the peer opened, and
   * never above one we already sent (RFC 9113 6.8). A client's own stream
   * ids do not count (the server never pushes): 0.
   */
  #goawayLastId(): number {
    const id = Math.min(this.role === "client" ? 0 : this.#lastStreamId, this.#goawaySent);
    this.#goawaySent = id;
    return id;
  }

  /**
   * Ends the connection with a GOAWAY carrying `code`, after what is queued;
   * if that cannot be written within a second, it closes anyway.
   */
  fail(code: number, message: string): void {
    if (this.#closed || this.#failed) return;
    this.enqueue(goawayFrame(this.#goawayLastId(), code, message));
    this.#failed = message; // nothing else may be queued; close once written
    this.#failTimer = after(FAIL_FLUSH_MS, () => this.close(message));
    // Nothing more can go out: drop the streams now (their handlers are
    // cancelled and what they queued is freed) rather than at the close.
    this.#abandonAll(H2Error.CANCEL, message);
  }

  #abandonAll(code: number, cause?: string): void {
    const streams = this.#streams.values();
    this.#streams.clear();
    this.blocked.clear();
    for (const s of streams) s.abandon(code, cause);
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
    this.#chunk = EMPTY;
    this.#arena = EMPTY;
    this.#arenaAt = this.#sealed = 0;
    for (
      const cancel of [this.#prefaceTimer, this.#writeTimer, this.#stallTimer, this.#failTimer]
    ) {
      cancel?.();
    }
    this.#prefaceTimer =
      this.#writeTimer =
      this.#stallTimer =
      this.#failTimer =
        null;
    this.#blockBuf = EMPTY;
    this.#partial = null;
    try {
      this.transport.close();
    } catch {
      // already closed
    }
    this.#abandonAll(H2Error.CANCEL);
    this.#wakeBacklog();
    this.#wakeSlots();
    for (const w of this.#closeWaiters.splice(0)) w();
    this.options.onClose(this, reason);
  }
}
