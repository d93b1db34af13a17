/**
 * An in-memory connection pair with `Deno.Conn`'s read/write/close, each
 * direction holding at most `capacity` bytes (a writer waits for room, as
 * on a socket), and a raw yamux peer for driving a session frame by frame.
 *
 * @module
 */

import { HEADER_BYTES } from "../../mux/constants.ts";
import { controlFrame, dataFrame, getHeader, type Header } from "../../mux/_frame.ts";
import type { YamuxConn } from "../../mux/yamux.ts";

/** One direction of a pipe. */
class Lane {
  chunks: Uint8Array[] = [];
  queued = 0;
  /** The writing end closed: the reader sees EOF after the data. */
  writerClosed = false;
  /** The reading end closed: writes fail. */
  readerClosed = false;
  #waiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** One end of a pipe. */
export class PipeEnd implements YamuxConn {
  #closed = false;
  /** Bytes written by this end so far. */
  written = 0;

  constructor(readonly incoming: Lane, readonly outgoing: Lane) {}

  async read(buf: Uint8Array): Promise<number | null> {
    const lane = this.incoming;
    while (true) {
      if (this.#closed) throw new Deno.errors.BadResource("pipe end closed");
      if (lane.queued > 0) {
        let n = 0;
        while (n < buf.length && lane.chunks.length) {
          const c = lane.chunks[0];
          const take = Math.min(c.length, buf.length - n);
          buf.set(c.subarray(0, take), n);
          n += take;
          if (take === c.length) lane.chunks.shift();
          else lane.chunks[0] = c.subarray(take);
        }
        lane.queued -= n;
        lane.wake();
        return n;
      }
      if (lane.writerClosed) return null;
      await lane.wait();
    }
  }

  async write(data: Uint8Array): Promise<number> {
    const lane = this.outgoing;
    while (true) {
      if (this.#closed) throw new Deno.errors.BadResource("pipe end closed");
      if (lane.readerClosed) throw new Deno.errors.BrokenPipe("the other end closed");
      const room = lane.capacity - lane.queued;
      if (room > 0) {
        const n = Math.min(room, data.length);
        lane.chunks.push(data.slice(0, n));
        lane.queued += n;
        this.written += n;
        lane.wake();
        return n;
      }
      await lane.wait();
    }
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("pipe end already closed");
    this.#closed = true;
    this.outgoing.writerClosed = true;
    this.incoming.readerClosed = true;
    this.incoming.wake();
    this.outgoing.wake();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** A connected pair of pipe ends. */
export function pipePair(capacity = 64 * 1024): [PipeEnd, PipeEnd] {
  const ab = new Lane(capacity), ba = new Lane(capacity);
  return [new PipeEnd(ba, ab), new PipeEnd(ab, ba)];
}

/** A frame the raw peer read. */
export interface RawFrame extends Header {
  /** The payload of a data frame. */
  payload: Uint8Array;
}

/** Drives one end of a pipe by hand: writes raw frames, reads the session's frames. */
export class RawPeer {
  #buf = new Uint8Array(0);

  constructor(readonly end: PipeEnd) {}

  async send(...frames: Uint8Array[]): Promise<void> {
    for (const f of frames) {
      for (let at = 0; at < f.length;) at += await this.end.write(f.subarray(at));
    }
  }

  /** Sends a frame without payload. */
  control(type: number, flags: number, id: number, length: number): Promise<void> {
    return this.send(controlFrame(type, flags, id, length));
  }

  /** Sends a data frame. */
  data(id: number, flags: number, payload: Uint8Array): Promise<void> {
    return this.send(dataFrame(id, flags, payload));
  }

  /** The next frame the session sent, or null at EOF. */
  async next(): Promise<RawFrame | null> {
    if (!(await this.#fill(HEADER_BYTES))) return null;
    const h = getHeader(this.#buf, 0);
    const len = h.type === 0 ? h.length : 0;
    if (!(await this.#fill(HEADER_BYTES + len))) return null;
    const payload = this.#buf.slice(HEADER_BYTES, HEADER_BYTES + len);
    this.#buf = this.#buf.slice(HEADER_BYTES + len);
    return { ...h, payload };
  }

  /** Frames until one matches `pred` (returned), or null at EOF. */
  async until(pred: (f: RawFrame) => boolean): Promise<RawFrame | null> {
    for (let f; (f = await this.next()) !== null;) if (pred(f)) return f;
    return null;
  }

  async #fill(n: number): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    while (this.#buf.length < n) {
      let got: number | null;
      try {
        got = await this.end.read(chunk);
      } catch {
        return false;
      }
      if (got === null) return false;
      const joined = new Uint8Array(this.#buf.length + got);
      joined.set(this.#buf);
      joined.set(chunk.subarray(0, got), this.#buf.length);
      this.#buf = joined;
    }
    return true;
  }
}
