/**
 * Private: one yamux stream's state, both directions: the receive buffer
 * and window (what the peer may still send us), the send window (what we
 * may still send), half-closes (FIN each way) and resets. The session feeds
 * it the peer's frames and gives it a way to queue its own.
 *
 * @module
 */

import { after } from "../_timer.ts";
import { Flag, FrameType, INITIAL_STREAM_WINDOW, MAX_DATA_FRAME, MAX_U32 } from "./constants.ts";
import { controlFrame, dataFrame } from "./_frame.ts";
import type { YamuxStream } from "./stream.ts";

/** What a stream needs of its session. */
export interface StreamOwner {
  /** Largest receive window we grant. */
  readonly maxWindow: number;
  /** How long a stream we closed waits for the peer's FIN before a reset (0: forever). */
  readonly closeTimeoutMs: number;
  /** The session connection's local address. */
  readonly localAddr: Deno.Addr;
  /** The session connection's remote address. */
  readonly remoteAddr: Deno.Addr;
  /** Queues a frame for the connection. */
  send(frame: Uint8Array): void;
  /** Resolves when the connection's queue has room for more data. */
  writable(): Promise<void>;
  /** The stream is done with (both FINs, a reset, or the session's end). */
  release(stream: Stream): void;
  /** The peer acknowledged a stream we opened. */
  established(stream: Stream): void;
}

const noop = () => {};

/** One stream. */
export class Stream implements YamuxStream {
  /** The stream id. */
  readonly id: number;
  readonly #owner: StreamOwner;
  #chunks: Uint8Array[] = [];
  #chunkHead = 0;
  #chunkOff = 0;
  #buffered = 0;
  #recvWindow = INITIAL_STREAM_WINDOW;
  #sendWindow = INITIAL_STREAM_WINDOW;
  #acked: boolean;
  #remoteFin = false;
  #finSent = false;
  #closed = false;
  #released = false;
  /** Why reads (after the buffer) and writes fail: a reset or the session's end. */
  #error: Error | null = null;
  #readWaiters: (() => void)[] = [];
  #sendWaiters: (() => void)[] = [];
  #writeChain: Promise<unknown> = Promise.resolve();
  #cancelCloseTimer = noop;
  #readable?: ReadableStream<Uint8Array<ArrayBuffer>>;
  #writable?: WritableStream<Uint8Array<ArrayBufferLike>>;
  /** Cancels the session's open timer (set by the session). */
  cancelOpenTimer: () => void = noop;

  /**
   * @param owner The session.
   * @param id The stream id.
   * @param acked Whether the stream needs no ACK from the peer (the peer opened it).
   */
  constructor(owner: StreamOwner, id: number, acked: boolean) {
    this.#owner = owner;
    this.id = id;
    this.#acked = acked;
  }

  // ---- Deno.Conn ----

  /** The session connection's local address. */
  get localAddr(): Deno.Addr {
    return this.#owner.localAddr;
  }

  /** The session connection's remote address. */
  get remoteAddr(): Deno.Addr {
    return this.#owner.remoteAddr;
  }

  /** Reads data into `buf`; `null` after the peer's FIN. */
  async read(buf: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.#closed) throw new Deno.errors.BadResource(`yamux stream ${this.id} is closed`);
      if (this.#buffered > 0) {
        if (buf.length === 0) return 0;
        const n = this.#take(buf);
        this.#updateWindow(0);
        return n;
      }
      if (this.#remoteFin) return null;
      if (this.#error) throw this.#error;
      if (buf.length === 0) return 0;
      await new Promise<void>((resolve) => this.#readWaiters.push(resolve));
    }
  }

  /** Queues all of `data` for the peer, waiting on its window; resolves to `data.length`. */
  write(data: Uint8Array): Promise<number> {
    const run = this.#writeChain.then(() => this.#write(data));
    this.#writeChain = run.catch(noop);
    return run;
  }

  /** Sends FIN after the writes queued before it. */
  async closeWrite(): Promise<void> {
    await this.#writeChain;
    if (this.#finSent || this.#error || this.#released) return;
    this.#sendFin();
  }

  /** Closes both directions: FIN if not sent, buffered data dropped, reads fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropBuffer();
    this.#wake();
    if (this.#released) return;
    if (!this.#finSent && !this.#error) this.#sendFin();
    if (this.#released || !this.#owner.closeTimeoutMs) return;
    // The peer has not sent its FIN: reset the stream if it never does.
    this.#cancelCloseTimer = after(this.#owner.closeTimeoutMs, () => this.reset());
  }

  /** Sends RST: the stream ends both ways. */
  reset(): void {
    if (this.#released) return;
    this.#owner.send(controlFrame(FrameType.windowUpdate, Flag.rst, this.id, 0));
    this.#error ??= new Deno.errors.ConnectionReset(`yamux stream ${this.id} was reset locally`);
    this.#dropBuffer();
    this.#release();
  }

  /** Does nothing: the session's connection keeps the process alive. */
  ref(): void {}

  /** Does nothing: the session's connection keeps the process alive. */
  unref(): void {}

  /** The data read, as a web stream (built on first use). */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (controller) => {
        const buf = new Uint8Array(MAX_DATA_FRAME);
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.subarray(0, n));
      },
      cancel: () => this.close(),
    });
  }

  /** Writes to the stream, as a web stream (built on first use); closing it sends FIN. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#writable ??= new WritableStream<Uint8Array<ArrayBufferLike>>({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.closeWrite(),
      abort: () => this.reset(),
    });
  }

  /** Closes the stream. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- the session's side ----

  /** Bytes the peer may still send before a window update. */
  get recvWindow(): number {
    return this.#recvWindow;
  }

  /** Whether the peer has sent FIN. */
  get remoteFin(): boolean {
    return this.#remoteFin;
  }

  /** Whether the stream is done with. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Sends the frame that opens (SYN) or accepts (ACK) the stream, raising
   * our receive window to the session's maximum.
   */
  sendOpening(flag: number): void {
    this.#updateWindow(flag);
  }

  /** The peer's ACK of a stream we opened. */
  receiveAck(): void {
    if (this.#acked) return;
    this.#acked = true;
    this.#owner.established(this);
  }

  /** Adds the peer's window update; false if the window would pass 2^32-1 (a protocol error). */
  receiveWindow(delta: number): boolean {
    if (this.#sendWindow + delta > MAX_U32) return false;
    this.#sendWindow += delta;
    if (delta > 0) this.#wakeSenders();
    return true;
  }

  /** The peer's data (its length within our receive window, checked by the session). */
  receiveData(payload: Uint8Array): void {
    this.#recvWindow -= payload.length;
    if (this.#closed || this.#error) return; // dropped
    this.#chunks.push(payload);
    this.#buffered += payload.length;
    this.#wakeReaders();
  }

  /** The peer's FIN; false if it already sent one (a protocol error). */
  receiveFin(): boolean {
    if (this.#remoteFin) return false;
    this.#remoteFin = true;
    this.#wakeReaders();
    if (this.#finSent) this.#release();
    return true;
  }

  /** The peer's RST. */
  receiveReset(): void {
    if (this.#released) return;
    this.#error ??= new Deno.errors.ConnectionReset(
      `yamux stream ${this.id} was reset by the peer`,
    );
    this.#release();
  }

  /** The session ended: reads after the buffer and all writes fail with `err`. */
  fail(err: Error): void {
    if (this.#released) return;
    this.#error ??= new Deno.errors.ConnectionReset(
      `yamux stream ${this.id}: ${err.message}`,
      { cause: err },
    );
    this.#release();
  }

  // ---- internals ----

  async #write(data: Uint8Array): Promise<number> {
    let at = 0;
    while (at < data.length) {
      this.#checkWritable();
      if (this.#sendWindow === 0) {
        await new Promise<void>((resolve) => this.#sendWaiters.push(resolve));
        continue;
      }
      await this.#owner.writable();
      this.#checkWritable();
      const n = Math.min(this.#sendWindow, data.length - at, MAX_DATA_FRAME);
      this.#owner.send(dataFrame(this.id, 0, data.subarray(at, at + n)));
      this.#sendWindow -= n;
      at += n;
    }
    return data.length;
  }

  #checkWritable(): void {
    if (this.#closed) throw new Deno.errors.BadResource(`yamux stream ${this.id} is closed`);
    if (this.#error) throw this.#error;
    if (this.#finSent) {
      throw new Deno.errors.BrokenPipe(`yamux stream ${this.id}: write after closeWrite()`);
    }
  }

  /** Copies buffered data into `buf`. */
  #take(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && this.#chunkHead < this.#chunks.length) {
      const chunk = this.#chunks[this.#chunkHead];
      const take = Math.min(buf.length - n, chunk.length - this.#chunkOff);
      buf.set(chunk.subarray(this.#chunkOff, this.#chunkOff + take), n);
      n += take;
      this.#chunkOff += take;
      if (this.#chunkOff === chunk.length) {
        this.#chunkHead++;
        this.#chunkOff = 0;
      }
    }
    if (this.#chunkHead === this.#chunks.length) {
      this.#chunks = [];
      this.#chunkHead = 0;
    } else if (this.#chunkHead > 64) {
      this.#chunks = this.#chunks.slice(this.#chunkHead);
      this.#chunkHead = 0;
    }
    this.#buffered -= n;
    return n;
  }

  /**
   * Grants the peer the room we have (the maximum window less what is
   * buffered) once it is at least half the maximum, or at once with `flag`.
   */
  #updateWindow(flag: number): void {
    if (this.#released || (this.#remoteFin && !flag)) return;
    const max = this.#owner.maxWindow;
    const delta = max - this.#buffered - this.#recvWindow;
    if (!flag && delta < max / 2) return;
    this.#recvWindow += delta;
    this.#owner.send(controlFrame(FrameType.windowUpdate, flag, this.id, delta));
  }

  #sendFin(): void {
    this.#finSent = true;
    this.#owner.send(controlFrame(FrameType.windowUpdate, Flag.fin, this.id, 0));
    if (this.#remoteFin) this.#release();
  }

  #dropBuffer(): void {
    this.#chunks = [];
    this.#chunkHead = this.#chunkOff = 0;
    this.#buffered = 0;
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#cancelCloseTimer();
    this.cancelOpenTimer();
    this.#owner.release(this);
    this.#wake();
  }

  #wake(): void {
    this.#wakeReaders();
    this.#wakeSenders();
  }

  #wakeReaders(): void {
    for (const w of this.#readWaiters.splice(0)) w();
  }

  #wakeSenders(): void {
    for (const w of this.#sendWaiters.splice(0)) w();
  }
}
