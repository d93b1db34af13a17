/**
 * yamux, the stream multiplexer of hashicorp/yamux (wire format of its
 * `spec.md`), both roles, over any byte duplex with `Deno.Conn`'s `read`,
 * `write` and `close`. go-plugin runs it in multiplexed broker mode: the
 * host is the client (odd stream ids), the plugin the server (even ids),
 * and every gRPC connection is one stream.
 *
 * What the session does, and the limits it keeps:
 * - per-stream flow control: every stream starts with a 256 KiB window
 *   each way; we grant more as the application reads; a write waits on the
 *   peer's window; a peer that sends beyond ours is a protocol error;
 * - a protocol error (bad version or type, data beyond the window, a
 *   duplicate stream, a second FIN, ...) sends go-away "protocol error" and
 *   ends the session;
 * - pings are answered; {@linkcode YamuxSession.ping} measures the round
 *   trip; keepalive pings are off unless `keepAliveIntervalMs` is set
 *   (go-plugin's peers ping every 30 s: we answer);
 * - streams the peer opens wait in a bounded accept backlog (more are
 *   reset; with `maxStreams`, so are those beyond that many open) and are
 *   acknowledged by `accept()`; streams we open that are not yet
 *   acknowledged are bounded by the same number, and one not
 *   acknowledged within `streamOpenTimeoutMs` ends the session;
 * - a connection write that takes longer than `connectionWriteTimeoutMs`
 *   ends the session, and so does a ping without answer in that time.
 *
 * @example A client and a server session over an in-process pipe of your own
 * ```ts ignore
 * import { YamuxSession } from "./yamux.ts";
 * const conn = await Deno.connect({ transport: "unix", path: "/tmp/plugin.sock" });
 * const session = new YamuxSession(conn, "client");
 * const stream = await session.open();
 * await stream.write(new TextEncoder().encode("hello"));
 * await stream.closeWrite();
 * await session.close();
 * ```
 *
 * @module
 */

import { after } from "../_timer.ts";
import {
  Flag,
  FrameType,
  GoAwayCode,
  INITIAL_STREAM_WINDOW,
  MAX_PENDING_PONGS,
  MAX_STREAM_ID,
  PROTOCOL_ERROR_FLUSH_MS,
  SESSION_ID,
  YAMUX_DEFAULTS,
  YAMUX_VERSION,
} from "./constants.ts";
import { controlFrame, goAwayFrame, type Header, typeName } from "./_frame.ts";
import { FrameReader } from "./_reader.ts";
import { Stream, type StreamOwner } from "./_stream.ts";
import { FrameWriter } from "./_writer.ts";
import {
  YamuxError,
  YamuxGoAwayError,
  YamuxProtocolError,
  YamuxSessionClosedError,
  YamuxStreamsExhaustedError,
  YamuxTimeoutError,
} from "./errors.ts";
import type { YamuxStream } from "./stream.ts";

export type { YamuxStream } from "./stream.ts";
export {
  YamuxError,
  YamuxGoAwayError,
  YamuxProtocolError,
  YamuxSessionClosedError,
  YamuxStreamsExhaustedError,
  YamuxTimeoutError,
} from "./errors.ts";
export { type DuplexSource, toNodeDuplex } from "./node_duplex.ts";

/** Which end of the session we are: the client opens odd stream ids (go-plugin's host), the server even ones (the plugin). */
export type YamuxRole = "client" | "server";

/** The byte duplex under a session: `Deno.Conn` has this shape. */
export interface YamuxConn {
  /** Reads into `buf`; `null` at end of file. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; resolves to how much. */
  write(data: Uint8Array): Promise<number>;
  /** Closes the connection; a pending `read` then ends (resolves `null` or rejects). */
  close(): void;
  /** The local address, given to the streams (a placeholder if absent). */
  readonly localAddr?: Deno.Addr;
  /** The remote address, given to the streams (a placeholder if absent). */
  readonly remoteAddr?: Deno.Addr;
}

/** Settings of a session; the defaults are in `YAMUX_DEFAULTS` (mux/constants.ts). */
export interface YamuxOptions {
  /** Streams opened by the peer that may wait for `accept()`; more are reset. Also bounds our unacknowledged opens. @default {256} */
  acceptBacklog?: number;
  /** Streams open at once (ours and the peer's) beyond which a stream the peer opens is reset; 0: no limit. @default {0} */
  maxStreams?: number;
  /** Send a keepalive ping this often, ending the session if one is not answered; 0: off. @default {0} */
  keepAliveIntervalMs?: number;
  /** Longest a connection write, or a ping's answer, may take before the session ends. @default {10000} */
  connectionWriteTimeoutMs?: number;
  /** Largest receive window we grant a stream, at least 256 KiB. @default {262144} */
  maxStreamWindow?: number;
  /** A stream we opened that the peer has not acknowledged in this time ends the session; 0: no limit. @default {75000} */
  streamOpenTimeoutMs?: number;
  /** A stream we closed whose peer has not sent FIN in this time is reset; 0: no limit. @default {300000} */
  streamCloseTimeoutMs?: number;
  /** Called once when the session has ended, with the error that ended it (none after `close()`). */
  onClose?: (error: YamuxError | undefined) => void;
  /**
   * Called once, when the first frame the peer sent has been handled without
   * error: the peer speaks yamux (a listener's proof that it is not a silent socket).
   */
  onPeerFrame?: () => void;
}

/** Options of {@linkcode YamuxSession.accept}. */
export interface AcceptOptions {
  /** Reject with {@linkcode YamuxTimeoutError} if no stream arrives in this time. */
  timeoutMs?: number;
  /** Reject with the signal's reason when it aborts. */
  signal?: AbortSignal;
}

interface AcceptWaiter {
  resolve(stream: YamuxStream | null): void;
  reject(err: unknown): void;
}

interface PendingPing {
  resolve(): void;
  reject(err: unknown): void;
}

const PLACEHOLDER_ADDR: Deno.Addr = { transport: "unix", path: "" };

/**
 * A yamux session over one connection.
 *
 * @example Serve every stream a peer opens (the plugin side)
 * ```ts ignore
 * import { YamuxSession } from "./yamux.ts";
 * const listener = Deno.listen({ transport: "unix", path: "/tmp/plugin.sock" });
 * const session = new YamuxSession(await listener.accept(), "server");
 * for await (const stream of session) {
 *   void (async () => {
 *     const buf = new Uint8Array(65536);
 *     for (let n; (n = await stream.read(buf)) !== null;) await stream.write(buf.subarray(0, n));
 *     stream.close();
 *   })();
 * }
 * ```
 */
export class YamuxSession implements AsyncIterable<YamuxStream> {
  /** Which end we are. */
  readonly role: YamuxRole;
  readonly #conn: YamuxConn;
  readonly #reader: FrameReader;
  #onPeerFrame: (() => void) | undefined;
  readonly #writer: FrameWriter;
  readonly #owner: StreamOwner;
  readonly #backlogLimit: number;
  readonly #maxStreams: number;
  readonly #writeTimeoutMs: number;
  readonly #openTimeoutMs: number;
  readonly #onClose?: (error: YamuxError | undefined) => void;
  readonly #streams = new Map<number, Stream>();
  readonly #backlog: Stream[] = [];
  readonly #acceptWaiters: AcceptWaiter[] = [];
  readonly #inflight = new Set<number>();
  readonly #openWaiters: (() => void)[] = [];
  readonly #pings = new Map<number, PendingPing>();
  #nextId: number;
  #pingId = 0;
  /** Replies to the peer's frames (pongs, refusals) queued since a connection write last completed. */
  #repliesSinceWrite = 0;
  #writesSeen = 0;
  #localGoAway = false;
  #remoteGoAway = false;
  #ending = false;
  #error: YamuxError | undefined;
  #cancelKeepAlive = () => {};
  #closing: Promise<void> | null = null;
  readonly #reading: Promise<void>;

  /**
   * Starts a session: it reads the connection at once.
   *
   * @param conn The connection (a `Deno.Conn`, or anything of its shape); the session closes it.
   * @param role `"client"` (go-plugin's host) or `"server"` (the plugin).
   * @param options Limits and timeouts.
   * @throws {RangeError} If an option is out of range.
   */
  constructor(conn: YamuxConn, role: YamuxRole, options: YamuxOptions = {}) {
    const o = { ...YAMUX_DEFAULTS, ...options };
    if (!(o.acceptBacklog >= 1)) throw new RangeError("yamux: acceptBacklog must be at least 1");
    if (!(o.maxStreamWindow >= INITIAL_STREAM_WINDOW && o.maxStreamWindow <= 0xffff_ffff)) {
      throw new RangeError(
        `yamux: maxStreamWindow must be between ${INITIAL_STREAM_WINDOW} and 2^32-1 bytes`,
      );
    }
    if (!(o.connectionWriteTimeoutMs > 0)) {
      throw new RangeError("yamux: connectionWriteTimeoutMs must be positive");
    }
    this.role = role;
    this.#conn = conn;
    this.#nextId = role === "client" ? 1 : 2;
    this.#backlogLimit = o.acceptBacklog;
    this.#maxStreams = o.maxStreams;
    this.#writeTimeoutMs = o.connectionWriteTimeoutMs;
    this.#openTimeoutMs = o.streamOpenTimeoutMs;
    this.#onClose = options.onClose;
    this.#onPeerFrame = options.onPeerFrame;
    this.#reader = new FrameReader(conn);
    this.#writer = new FrameWriter(conn, o.connectionWriteTimeoutMs, (err) =>
      this.#shutdown(
        err instanceof YamuxError ? err : new YamuxSessionClosedError(
          `yamux: writing to the connection failed: ${(err as Error)?.message ?? err}`,
          { cause: err },
        ),
        null,
      ));
    const writer = this.#writer;
    this.#owner = {
      maxWindow: o.maxStreamWindow,
      closeTimeoutMs: o.streamCloseTimeoutMs,
      localAddr: conn.localAddr ?? PLACEHOLDER_ADDR,
      remoteAddr: conn.remoteAddr ?? PLACEHOLDER_ADDR,
      send: (frame) => writer.send(frame),
      writable: () => writer.ready(),
      release: (stream) => this.#release(stream),
      established: (stream) => this.#established(stream),
    };
    this.#reading = this.#readLoop();
    if (o.keepAliveIntervalMs > 0) this.#keepAlive(o.keepAliveIntervalMs);
  }

  /** Whether the session has ended (or is ending). */
  get closed(): boolean {
    return this.#ending;
  }

  /** The error that ended the session; `undefined` while open or after `close()`. */
  get error(): YamuxError | undefined {
    return this.#error;
  }

  /** Resolves once the session has ended, stopped reading and writing, and closed its connection. */
  async done(): Promise<void> {
    await this.#reading; // every way out of the read loop starts the shutdown
    await this.#closing;
  }

  /** Streams open (not yet closed both ways or reset), including those waiting for `accept()`. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Opens a stream. It is usable at once (the peer acknowledges it later);
   * this waits only while `acceptBacklog` of our streams are unacknowledged.
   *
   * @throws {YamuxSessionClosedError} If the session has ended.
   * @throws {YamuxGoAwayError} If the peer accepts no new streams.
   * @throws {YamuxStreamsExhaustedError} If every stream id is used.
   */
  async open(): Promise<YamuxStream> {
    while (true) {
      this.#checkOpen();
      if (this.#inflight.size < this.#backlogLimit) break;
      await new Promise<void>((resolve) => this.#openWaiters.push(resolve));
    }
    if (this.#nextId > MAX_STREAM_ID) {
      throw new YamuxStreamsExhaustedError(
        "yamux: every stream id is used: open a new session",
      );
    }
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new Stream(this.#owner, id, false);
    this.#streams.set(id, stream);
    this.#inflight.add(id);
    if (this.#openTimeoutMs > 0) {
      stream.cancelOpenTimer = after(this.#openTimeoutMs, () =>
        this.#shutdown(
          new YamuxTimeoutError(
            `yamux: the peer did not acknowledge stream ${id} within ${this.#openTimeoutMs} ms`,
          ),
          null,
        ));
    }
    stream.sendOpening(Flag.syn);
    return stream;
  }

  /**
   * The next stream the peer opened (acknowledging it), or `null` once the
   * session has ended.
   *
   * @throws {YamuxTimeoutError} If `timeoutMs` passes first.
   */
  accept(options: AcceptOptions = {}): Promise<YamuxStream | null> {
    const ready = this.#backlog.shift();
    if (ready) return Promise.resolve(this.#acknowledge(ready));
    if (this.#ending) return Promise.resolve(null);
    options.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      let cancelTimer = () => {};
      const onAbort = () => settle(() => reject(options.signal!.reason));
      const waiter: AcceptWaiter = {
        resolve: (s) => settle(() => resolve(s)),
        reject: (e) => settle(() => reject(e)),
      };
      const settle = (fn: () => void) => {
        const i = this.#acceptWaiters.indexOf(waiter);
        if (i < 0) return;
        this.#acceptWaiters.splice(i, 1);
        cancelTimer();
        options.signal?.removeEventListener("abort", onAbort);
        fn();
      };
      this.#acceptWaiters.push(waiter);
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        cancelTimer = after(
          ms,
          () => waiter.reject(new YamuxTimeoutError(`yamux: no stream arrived within ${ms} ms`)),
        );
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** The streams the peer opens, each acknowledged, until the session ends. */
  async *[Symbol.asyncIterator](): AsyncIterator<YamuxStream> {
    for (let s; (s = await this.accept()) !== null;) yield s;
  }

  /**
   * Pings the peer.
   *
   * @returns The round trip, in milliseconds.
   * @throws {YamuxTimeoutError} If no answer comes within `connectionWriteTimeoutMs`.
   * @throws {YamuxSessionClosedError} If the session ends first.
   */
  ping(): Promise<number> {
    if (this.#ending) return Promise.reject(this.#closedError());
    const id = this.#pingId;
    this.#pingId = (this.#pingId + 1) >>> 0;
    const start = performance.now();
    return new Promise<number>((resolve, reject) => {
      const cancel = after(this.#writeTimeoutMs, () => {
        this.#pings.delete(id);
        reject(new YamuxTimeoutError(`yamux: no ping answer within ${this.#writeTimeoutMs} ms`));
      });
      this.#pings.set(id, {
        resolve: () => {
          cancel();
          resolve(performance.now() - start);
        },
        reject: (err) => {
          cancel();
          reject(err);
        },
      });
      this.#writer.send(controlFrame(FrameType.ping, Flag.syn, SESSION_ID, id));
    });
  }

  /**
   * Tells the peer we accept no new streams (go-away, normal). Streams it
   * opens later are reset; streams already open go on.
   */
  goAway(): void {
    if (this.#ending || this.#localGoAway) return;
    this.#localGoAway = true;
    this.#writer.send(goAwayFrame(GoAwayCode.normal));
  }

  /**
   * Ends the session: sends go-away (normal), writes what is queued (within
   * the connection write timeout), closes the connection. Every stream's
   * reads (after its buffer) and writes then fail; a pending `accept()`
   * gives `null`. Resolves once the session has stopped reading.
   */
  async close(): Promise<void> {
    this.#shutdown(undefined, GoAwayCode.normal);
    await this.done();
  }

  // ---- reading ----

  async #readLoop(): Promise<void> {
    try {
      while (true) {
        const header = await this.#reader.header();
        if (header === null) {
          this.#shutdown(
            new YamuxSessionClosedError("yamux: the peer closed the connection"),
            null,
          );
          return;
        }
        if (this.#ending) {
          // Draining until our last frames are out: ignore what comes.
          if (header.type === FrameType.data) await this.#reader.skip(header.length);
          continue;
        }
        await this.#onFrame(header);
        if (this.#onPeerFrame) {
          const spoke = this.#onPeerFrame;
          this.#onPeerFrame = undefined;
          spoke();
        }
      }
    } catch (err) {
      if (this.#ending) return; // our own close of the connection
      if (err instanceof YamuxProtocolError) {
        this.#shutdown(err, GoAwayCode.protocolError);
      } else {
        this.#shutdown(
          new YamuxSessionClosedError(
            `yamux: reading the connection failed: ${(err as Error)?.message ?? err}`,
            { cause: err },
          ),
          null,
        );
      }
    }
  }

  async #onFrame(h: Header): Promise<void> {
    if (h.version !== YAMUX_VERSION) {
      throw new YamuxProtocolError(
        `yamux: the peer sent a frame of protocol version ${h.version} (only 0 exists)`,
      );
    }
    switch (h.type) {
      case FrameType.data:
      case FrameType.windowUpdate:
        return await this.#onStreamFrame(h);
      case FrameType.ping:
        return this.#onPing(h);
      case FrameType.goAway:
        return this.#onGoAway(h);
      default:
        throw new YamuxProtocolError(`yamux: the peer sent a frame of ${typeName(h.type)}`);
    }
  }

  async #onStreamFrame(h: Header): Promise<void> {
    const { type, flags, streamId: id, length } = h;
    let stream = this.#streams.get(id);
    if (flags & Flag.syn) {
      this.#checkPeerId(id, stream);
      stream = this.#incoming(id);
    }
    if (!stream) {
      // A stream already closed or reset (or refused just now): drop its frames.
      if (type === FrameType.data) await this.#reader.skip(length);
      return;
    }
    if (flags & Flag.ack) stream.receiveAck();
    if (type === FrameType.windowUpdate) {
      if (!stream.receiveWindow(length)) {
        throw new YamuxProtocolError(
          `yamux: the peer's window update on stream ${id} takes its window past 2^32-1`,
        );
      }
    } else if (length > 0) {
      if (stream.remoteFin) {
        throw new YamuxProtocolError(`yamux: the peer sent data on stream ${id} after its FIN`);
      }
      if (length > stream.recvWindow) {
        throw new YamuxProtocolError(
          `yamux: the peer sent ${length} bytes on stream ${id}, beyond its window of ${stream.recvWindow}`,
        );
      }
      stream.receiveData(await this.#reader.payload(length));
    }
    if (flags & Flag.fin && !stream.receiveFin()) {
      throw new YamuxProtocolError(`yamux: the peer sent a second FIN on stream ${id}`);
    }
    if (flags & Flag.rst) stream.receiveReset();
  }

  /** Checks the id of a stream the peer opens. */
  #checkPeerId(id: number, existing: Stream | undefined): void {
    const peerParity = this.role === "client" ? 0 : 1;
    if (id === SESSION_ID || id % 2 !== peerParity) {
      throw new YamuxProtocolError(
        `yamux: the peer opened stream ${id}, an id of the wrong parity (the ${
          this.role === "client" ? "server opens even" : "client opens odd"
        } ids)`,
      );
    }
    if (existing) {
      throw new YamuxProtocolError(`yamux: the peer opened stream ${id} twice`);
    }
  }

  /** A stream the peer opens: into the backlog, or refused (RST). */
  #incoming(id: number): Stream | undefined {
    if (
      this.#localGoAway || this.#backlog.length >= this.#backlogLimit ||
      (this.#maxStreams > 0 && this.#streams.size >= this.#maxStreams)
    ) {
      this.#reply(controlFrame(FrameType.windowUpdate, Flag.rst, id, 0), "streams we refused");
      return undefined;
    }
    const stream = new Stream(this.#owner, id, true);
    this.#streams.set(id, stream);
    const waiter = this.#acceptWaiters[0];
    if (waiter) waiter.resolve(this.#acknowledge(stream));
    else this.#backlog.push(stream);
    return stream;
  }

  /** Sends the ACK of a stream the peer opened, as `accept()` hands it out. */
  #acknowledge(stream: Stream): Stream {
    if (!stream.released) stream.sendOpening(Flag.ack);
    return stream;
  }

  #onPing(h: Header): void {
    if (h.flags & Flag.syn) {
      this.#reply(controlFrame(FrameType.ping, Flag.ack, SESSION_ID, h.length), "pings");
      return;
    }
    const ping = this.#pings.get(h.length);
    if (ping) {
      this.#pings.delete(h.length);
      ping.resolve();
    }
  }

  /**
   * Queues a reply to the peer's frame. A peer that sends frames needing one
   * (pings, streams we refuse) while it reads nothing would make us queue
   * them without end: past {@linkcode MAX_PENDING_PONGS} since a connection
   * write last completed, a protocol error.
   */
  #reply(frame: Uint8Array, what: string): void {
    if (this.#writer.writes !== this.#writesSeen) {
      this.#writesSeen = this.#writer.writes;
      this.#repliesSinceWrite = 0;
    }
    if (++this.#repliesSinceWrite > MAX_PENDING_PONGS) {
      throw new YamuxProtocolError(
        `yamux: the peer made us answer ${MAX_PENDING_PONGS} frames (${what}) while we could ` +
          "not write one answer: it does not read",
      );
    }
    this.#writer.send(frame);
  }

  #onGoAway(h: Header): void {
    switch (h.length) {
      case GoAwayCode.normal:
        this.#remoteGoAway = true;
        for (const w of this.#openWaiters.splice(0)) w();
        return;
      case GoAwayCode.protocolError:
        this.#shutdown(
          new YamuxProtocolError("yamux: the peer ended the session: it saw a protocol error"),
          null,
        );
        return;
      case GoAwayCode.internalError:
        this.#shutdown(
          new YamuxProtocolError("yamux: the peer ended the session: it had an internal error"),
          null,
        );
        return;
      default:
        throw new YamuxProtocolError(`yamux: the peer sent go-away with unknown code ${h.length}`);
    }
  }

  // ---- streams ----

  #release(stream: Stream): void {
    if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
    this.#established(stream);
    const i = this.#backlog.indexOf(stream);
    if (i >= 0) this.#backlog.splice(i, 1);
  }

  /** A stream we opened no longer awaits its ACK. */
  #established(stream: Stream): void {
    stream.cancelOpenTimer();
    if (this.#inflight.delete(stream.id)) this.#openWaiters.shift()?.();
  }

  #checkOpen(): void {
    if (this.#ending) throw this.#closedError();
    if (this.#remoteGoAway) {
      throw new YamuxGoAwayError("yamux: the peer accepts no new streams (it sent go-away)");
    }
  }

  #closedError(): YamuxSessionClosedError {
    return new YamuxSessionClosedError(
      `yamux: the session is closed${this.#error ? `: ${this.#error.message}` : ""}`,
      { cause: this.#error },
    );
  }

  // ---- keepalive and shutdown ----

  #keepAlive(intervalMs: number): void {
    const tick = () => {
      this.ping().then(
        () => {
          if (!this.#ending) this.#cancelKeepAlive = after(intervalMs, tick);
        },
        (err) => {
          if (err instanceof YamuxTimeoutError) {
            this.#shutdown(
              new YamuxTimeoutError(`yamux: keepalive failed: ${err.message}`, { cause: err }),
              null,
            );
          }
        },
      );
    };
    this.#cancelKeepAlive = after(intervalMs, tick);
  }

  /**
   * Ends the session once: fails what waits, sends go-away `code` (if not
   * null) after what is queued, then closes the connection.
   */
  #shutdown(error: YamuxError | undefined, code: number | null): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#error = error;
    this.#cancelKeepAlive();
    const reason = error ?? new YamuxSessionClosedError("yamux: the session was closed");
    for (const w of this.#openWaiters.splice(0)) w();
    for (const w of [...this.#acceptWaiters]) w.resolve(null);
    for (const p of this.#pings.values()) p.reject(this.#closedError());
    this.#pings.clear();
    this.#backlog.length = 0;
    for (const s of [...this.#streams.values()]) s.fail(reason);
    // A peer that broke the protocol gets its go-away, not our queued data
    // nor the connection write timeout: the flush is short (hashicorp/yamux
    // closes at once).
    const broken = code === GoAwayCode.protocolError;
    if (broken) this.#writer.discard();
    if (code !== null) this.#writer.send(goAwayFrame(code));
    this.#closing = (async () => {
      if (broken) {
        let cancel = () => {};
        await Promise.race([
          this.#writer.idle(),
          new Promise<void>((resolve) => (cancel = after(PROTOCOL_ERROR_FLUSH_MS, resolve))),
        ]);
        cancel();
      } else {
        await this.#writer.idle();
      }
      this.#writer.stop();
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
      await this.#writer.stopped();
      this.#onClose?.(error);
    })();
  }
}
