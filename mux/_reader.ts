/**
 * Private: reading yamux frames from the connection through one buffer.
 * The session reads a header, decides whether the payload is acceptable
 * (the window), then takes it (a copy the stream keeps) or skips it; a
 * payload larger than what is buffered is read straight into its own array.
 *
 * @module
 */

import { HEADER_BYTES, READ_BUFFER_BYTES } from "./constants.ts";
import { getHeader, type Header } from "./_frame.ts";
import { YamuxProtocolError } from "./errors.ts";

/** What the reader needs of the connection. */
export interface Readable {
  /** Reads into `buf`; `null` at end of file. */
  read(buf: Uint8Array): Promise<number | null>;
}

/** Reads frames off a connection. */
export class FrameReader {
  readonly #conn: Readable;
  readonly #buf = new Uint8Array(READ_BUFFER_BYTES);
  #start = 0;
  #end = 0;

  /** @param conn The connection. */
  constructor(conn: Readable) {
    this.#conn = conn;
  }

  /** Bytes buffered and not yet taken. */
  get #available(): number {
    return this.#end - this.#start;
  }

  /**
   * The next header, or `null` if the connection ended cleanly between
   * frames.
   *
   * @throws {YamuxProtocolError} If the connection ends inside a header.
   */
  async header(): Promise<Header | null> {
    while (this.#available < HEADER_BYTES) {
      if (!(await this.#fill())) {
        if (this.#available === 0) return null;
        throw new YamuxProtocolError("yamux: the connection ended inside a frame header");
      }
    }
    const header = getHeader(this.#buf, this.#start);
    this.#start += HEADER_BYTES;
    return header;
  }

  /**
   * The next `n` bytes, as a new array.
   *
   * @throws {YamuxProtocolError} If the connection ends first.
   */
  async payload(n: number): Promise<Uint8Array> {
    if (this.#available >= n) {
      const out = this.#buf.slice(this.#start, this.#start + n);
      this.#start += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = this.#available;
    out.set(this.#buf.subarray(this.#start, this.#end));
    this.#start = this.#end = 0;
    while (filled < n) {
      const got = await this.#conn.read(out.subarray(filled));
      if (got === null) throw this.#truncated(n);
      filled += got;
    }
    return out;
  }

  /**
   * Drops the next `n` bytes.
   *
   * @throws {YamuxProtocolError} If the connection ends first.
   */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.#available === 0 && !(await this.#fill())) throw this.#truncated(n);
      const take = Math.min(n, this.#available);
      this.#start += take;
      n -= take;
    }
  }

  /** Reads more into the buffer; false at end of file. */
  async #fill(): Promise<boolean> {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    } else if (this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const got = await this.#conn.read(this.#buf.subarray(this.#end));
    if (got === null) return false;
    this.#end += got;
    return true;
  }

  #truncated(n: number): YamuxProtocolError {
    return new YamuxProtocolError(
      `yamux: the connection ended inside a data frame (${n} bytes missing at most)`,
    );
  }
}
