/**
 * Private: the session's one writer. Frames are queued whole (each is a
 * complete header plus payload, never interleaved) and written in order;
 * small queued frames are joined into one connection write. Every write
 * must finish within the connection write timeout, else the session fails
 * (yamux's "safety valve" against a peer that stopped reading).
 *
 * @module
 */

import { after } from "../_timer.ts";
import { COALESCE_BYTES, WRITE_HIGH_WATER } from "./constants.ts";
import { YamuxTimeoutError } from "./errors.ts";

/** What the writer needs of the connection. */
export interface Writable {
  /** Writes some of `data`; resolves to how much. */
  write(data: Uint8Array): Promise<number>;
}

/** Writes frames to the connection in order. */
export class FrameWriter {
  readonly #conn: Writable;
  readonly #timeoutMs: number;
  readonly #onFail: (err: unknown) => void;
  #queue: Uint8Array[] = [];
  #head = 0;
  #queued = 0;
  #running = false;
  #failed = false;
  #writes = 0;
  #drainWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #stopWaiters: (() => void)[] = [];

  /**
   * @param conn The connection.
   * @param timeoutMs Longest a connection write may take.
   * @param onFail Called once when a write fails or times out.
   */
  constructor(conn: Writable, timeoutMs: number, onFail: (err: unknown) => void) {
    this.#conn = conn;
    this.#timeoutMs = timeoutMs;
    this.#onFail = onFail;
  }

  /** Bytes queued and not yet written. */
  get queued(): number {
    return this.#queued;
  }

  /** Connection writes completed so far. */
  get writes(): number {
    return this.#writes;
  }

  /** Queues a frame (the writer keeps the array: do not change it). */
  send(frame: Uint8Array): void {
    if (this.#failed) return;
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (!this.#running) void this.#run();
  }

  /** Resolves once the queue is below the high-water mark (or the writer failed). */
  ready(): Promise<void> {
    if (this.#queued < WRITE_HIGH_WATER || this.#failed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Resolves once everything queued is written (or the writer failed). */
  idle(): Promise<void> {
    if (!this.#running || this.#failed) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Resolves once no connection write is in progress (after `stop()`: once the last one ended). */
  stopped(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#stopWaiters.push(resolve));
  }

  /** Drops the frames not yet being written (the write in progress goes on). */
  discard(): void {
    for (let i = this.#head; i < this.#queue.length; i++) this.#queued -= this.#queue[i].length;
    this.#queue = [];
    this.#head = 0;
    this.#release();
  }

  /** Stops writing: drops the queue and releases every waiter. */
  stop(): void {
    this.#failed = true;
    this.#queue = [];
    this.#head = 0;
    this.#queued = 0;
    this.#release();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#head < this.#queue.length && !this.#failed) {
        const batch = this.#take();
        await this.#writeAll(batch);
        if (this.#failed) break;
        this.#writes++;
        this.#queued -= batch.length;
        if (this.#queued < WRITE_HIGH_WATER) {
          for (const w of this.#drainWaiters.splice(0)) w();
        }
      }
    } catch (err) {
      if (!this.#failed) {
        this.stop();
        this.#onFail(err);
      }
    } finally {
      this.#running = false;
      this.#release();
      for (const w of this.#stopWaiters.splice(0)) w();
    }
  }

  /** The next frame, or several small ones joined. */
  #take(): Uint8Array {
    const first = this.#queue[this.#head++];
    let total = first.length;
    let end = this.#head;
    while (end < this.#queue.length && total + this.#queue[end].length <= COALESCE_BYTES) {
      total += this.#queue[end++].length;
    }
    let batch = first;
    if (end > this.#head) {
      batch = new Uint8Array(total);
      batch.set(first);
      let at = first.length;
      for (; this.#head < end; this.#head++) {
        batch.set(this.#queue[this.#head], at);
        at += this.#queue[this.#head].length;
      }
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let timedOut = false;
    const cancel = after(this.#timeoutMs, () => {
      timedOut = true;
      if (this.#failed) return;
      this.stop();
      this.#onFail(
        new YamuxTimeoutError(
          `yamux: a write to the connection took longer than ${this.#timeoutMs} ms (the peer stopped reading)`,
        ),
      );
    });
    try {
      let at = 0;
      while (at < data.length && !timedOut) {
        at += await this.#conn.write(at ? data.subarray(at) : data);
      }
    } finally {
      cancel();
    }
  }

  #release(): void {
    for (const w of this.#drainWaiters.splice(0)) w();
    if (!this.#running || this.#failed) { for (const w of this.#idleWaiters.splice(0)) w(); }
  }
}
