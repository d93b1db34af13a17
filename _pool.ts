/**
 * Small byte arrays carved out of shared buffers, for the wire's hot path:
 * allocating an `ArrayBuffer` per header block, message prefix or small
 * message costs more than the work done with it. Each result is a view the
 * caller owns (its bytes are never handed out again), into a larger buffer:
 * mind `byteOffset` if you use `.buffer`. A view kept alive keeps its whole
 * buffer alive, which is why only small arrays come from a pool.
 *
 * @module
 */

/** A pool of small byte arrays, each a view into a shared buffer. */
export class BytePool {
  /** The buffer being carved up (replaced, never reused, when full). */
  buf: Uint8Array;
  /** Where the next array starts in `buf`. */
  used = 0;

  /**
   * @param size Bytes of each shared buffer.
   * @param largest Arrays larger than this get a buffer of their own.
   */
  constructor(readonly size: number, readonly largest: number) {
    this.buf = new Uint8Array(size);
  }

  /**
   * Makes room for up to `n` bytes at `buf[used]` (a fresh buffer if they
   * do not fit); the caller writes there and moves `used` past what it used.
   * Only for `n` up to `largest`.
   */
  room(n: number): void {
    if (this.used + n > this.size) {
      this.buf = new Uint8Array(this.size);
      this.used = 0;
    }
  }

  /** `n` zeroed bytes (from the pool when `n` is at most `largest`). */
  take(n: number): Uint8Array {
    if (n > this.largest) return new Uint8Array(n);
    this.room(n);
    return this.buf.subarray(this.used, this.used += n);
  }

  /** A copy of `bytes[at, at + n)`. */
  copy(bytes: Uint8Array, at: number, n: number): Uint8Array {
    if (n > this.largest) return bytes.slice(at, at + n);
    const out = this.take(n);
    out.set(bytes.subarray(at, at + n));
    return out;
  }
}
