/**
 * The TLS 1.3 record layer (RFC 8446 §5) of our server: framing, record
 * protection with ChaCha20-Poly1305 (nonce = IV XOR sequence number, the
 * record header as additional data), the inner content type and padding,
 * the size limits (record_overflow), alerts and close_notify.
 *
 * Reads decrypt in place in one read buffer (several records per socket
 * read; no allocation per record but the payload's view). Writes seal a
 * batch as full records (2^14 bytes of content each, whatever the frames
 * inside) into one buffer, reused while no write is under way, and leave in
 * ONE socket write; a bulk batch (over `BULK_CHUNK`) is sealed and written
 * a chunk of 16 records at a time through two reused buffers in turn, so the
 * next chunk is sealed while the last one waits for the socket, the peer
 * decrypts a chunk while the next is sealed, and no batch-sized buffer is made.
 *
 * Records are protected by the WebAssembly AEAD (tls13/chacha20_poly1305_wasm.ts)
 * from the first: faster at every size (bench/aead.ts), and cold too, since its
 * module is compiled when a connection is accepted, while its ClientHello is
 * on the way (tls13/server.ts). The TypeScript AEAD
 * (tls13/chacha20_poly1305.ts) only where WebAssembly SIMD cannot run.
 *
 * @module
 */

import { ChaCha20Poly1305 } from "./chacha20_poly1305.ts";
import { WasmChaCha20Poly1305 } from "./chacha20_poly1305_wasm.ts";
import { cryptoWasmAvailable } from "./crypto_wasm.ts";
import {
  AlertDescription,
  AlertLevel,
  BULK_READ_BUFFER_BYTES,
  ContentType,
  MAX_CIPHERTEXT,
  MAX_PLAINTEXT,
  READ_BUFFER_BYTES,
  RECORD_HEADER_BYTES,
  TLS12,
} from "./constants.ts";
import { TlsAlertError } from "./errors.ts";
import type { TrafficKeys } from "./key_schedule.ts";
import { after } from "../_timer.ts";
import { concat } from "./_bytes.ts";

/** The socket under TLS: a `Deno.Conn`, or a yamux stream. */
export interface ByteStream {
  /** Reads into `buf`; `null` at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some or all of `data`. */
  write(data: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
  /** Ends our direction (the peer reads end of stream); reading goes on. */
  closeWrite?(): Promise<void>;
}

/** Bytes a protected record adds to its content: header, inner type, tag. */
const PROTECTED_OVERHEAD = RECORD_HEADER_BYTES + 1 + 16;
/** The reusable output buffer's first size. */
const WRITE_BUFFER_BYTES = 64 << 10;
/** How long an alert or close_notify may take to leave before the socket is closed anyway. */
const ALERT_WRITE_MS = 1000;
/** After a fatal alert, longest that what the peer still sends is read and dropped before the socket is closed. */
const LINGER_MS = 1000;
/** After a fatal alert, most bytes of the peer's read and dropped before the socket is closed. */
const LINGER_BYTES = 64 << 10;
/** A batch larger than this is sealed and written in chunks of this size (16 full records). */
export const BULK_CHUNK = 16 * MAX_PLAINTEXT;

/** One direction's record protection. */
class Protection {
  readonly aead: ChaCha20Poly1305;
  #wasm: WasmChaCha20Poly1305 | null = null;
  readonly #key: Uint8Array;
  readonly #iv: Uint8Array;
  readonly #nonce = new Uint8Array(12);
  #seq = 0;

  constructor(keys: TrafficKeys) {
    this.aead = new ChaCha20Poly1305(keys.key);
    this.#key = keys.key;
    this.#iv = keys.iv;
  }

  /** The WebAssembly AEAD; null for the TypeScript one (no WebAssembly SIMD here). */
  wasm(): WasmChaCha20Poly1305 | null {
    if (this.#wasm !== null) return this.#wasm;
    if (!cryptoWasmAvailable()) return null;
    return this.#wasm = new WasmChaCha20Poly1305(this.#key);
  }

  /** The next record's nonce (a view reused by every record). */
  nonce(): Uint8Array {
    const n = this.#nonce;
    n.set(this.#iv);
    const seq = this.#seq++;
    const hi = Math.floor(seq / 0x1_0000_0000);
    const lo = seq >>> 0;
    n[4] ^= hi >>> 24;
    n[5] ^= (hi >>> 16) & 0xff;
    n[6] ^= (hi >>> 8) & 0xff;
    n[7] ^= hi & 0xff;
    n[8] ^= lo >>> 24;
    n[9] ^= (lo >>> 16) & 0xff;
    n[10] ^= (lo >>> 8) & 0xff;
    n[11] ^= lo & 0xff;
    return n;
  }
}

/** Bytes `n` bytes of content take as records (protected or not). */
function sealedSize(n: number, protect: boolean): number {
  const chunks = Math.max(1, Math.ceil(n / MAX_PLAINTEXT));
  return n + chunks * (protect ? PROTECTED_OVERHEAD : RECORD_HEADER_BYTES);
}

/** A bulk chunk, sealed: the largest batch the reused buffers hold. */
const BULK_SEALED_BYTES = sealedSize(BULK_CHUNK, true);

async function writeAll(sock: ByteStream, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await sock.write(at ? data.subarray(at) : data);
}

/** The record layer over one socket. */
export class RecordLayer {
  /** The socket. */
  readonly sock: ByteStream;
  /** The content of the record {@linkcode next} returned (a view valid until the next {@linkcode fill}). */
  payload: Uint8Array = new Uint8Array(0);
  #buf = new Uint8Array(READ_BUFFER_BYTES);
  #start = 0;
  #end = 0;
  #read: Protection | null = null;
  #write: Protection | null = null;
  #writeGate: Promise<void> | null = null;
  #writing: Promise<void> | null = null;
  #out = new Uint8Array(0);
  /** The two bulk buffers (made on first use), and when each one's write is over. */
  readonly #bulk: (Uint8Array | undefined)[] = [undefined, undefined];
  readonly #bulkDone: (Promise<void> | null)[] = [null, null];
  #bulkNext = 0;
  #bulkBusy = false;
  /** Why a socket write failed: every later write is refused with it (a bulk write no caller awaits, too). */
  #writeError: unknown = null;
  readonly #aad = new Uint8Array(RECORD_HEADER_BYTES);
  #raw: Uint8Array[] | null = [];

  /** @param sock The socket; the layer owns it from now on. */
  constructor(sock: ByteStream) {
    this.sock = sock;
  }

  /**
   * Every byte read so far, while they are kept (until {@linkcode forgetRaw}):
   * what a fallback TLS stack must be given first.
   */
  raw(): Uint8Array {
    return concat(this.#raw ?? []);
  }

  /** Stops keeping the bytes read. */
  forgetRaw(): void {
    this.#raw = null;
  }

  /** Bytes read but not yet taken as records. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Reads more from the socket.
   * @returns false at the end of the stream.
   */
  async fill(): Promise<boolean> {
    let buf = this.#buf;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    else if (buf.length - this.#end < RECORD_HEADER_BYTES + MAX_CIPHERTEXT) {
      buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const room = buf.length - this.#end;
    const n = await this.sock.read(buf.subarray(this.#end));
    if (n === null) return false;
    if (this.#raw) this.#raw.push(buf.slice(this.#end, this.#end + n));
    this.#end += n;
    if (n === room && buf.length < BULK_READ_BUFFER_BYTES && this.#raw === null) {
      // The peer sends faster than one buffer per read: grow once (bounded),
      // keeping what is buffered. Views of the old buffer (`payload`) are
      // valid only until this fill, so nothing still reads it.
      const bigger = new Uint8Array(BULK_READ_BUFFER_BYTES);
      bigger.set(buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = buf = bigger;
    }
    return true;
  }

  /**
   * Takes the next complete record from what was read: decrypts it in
   * place when read protection is on, strips its padding, and returns its
   * (inner) content type, its content in {@linkcode payload}; 0 when no
   * complete record is buffered.
   *
   * @param joinAt Where in the read buffer the content may go instead (the
   *   end of the previous record's {@linkcode payload}, still unconsumed),
   *   so that consecutive records' contents lie end to end and can be taken
   *   as one view; -1 for in place. Used when the WebAssembly AEAD opens the
   *   record (it decrypts in its own memory, so any destination costs the
   *   same copy); the TypeScript AEAD decrypts in place.
   * @throws {TlsAlertError} record_overflow, bad_record_mac, unexpected_message.
   */
  next(joinAt = -1): number {
    const b = this.#buf;
    const at = this.#start;
    if (this.#end - at < RECORD_HEADER_BYTES) return 0;
    const type = b[at];
    const len = (b[at + 3] << 8) | b[at + 4];
    const protectedRecord = this.#read !== null && type === ContentType.applicationData;
    if (type < ContentType.changeCipherSpec || type > ContentType.applicationData) {
      throw new TlsAlertError(
        AlertDescription.unexpectedMessage,
        `record of unknown content type ${type}`,
      );
    }
    if (len > (protectedRecord ? MAX_CIPHERTEXT : MAX_PLAINTEXT)) {
      throw new TlsAlertError(
        AlertDescription.recordOverflow,
        `record of ${len} bytes: over the ${
          protectedRecord ? MAX_CIPHERTEXT : MAX_PLAINTEXT
        } allowed`,
      );
    }
    if (this.#end - at < RECORD_HEADER_BYTES + len) return 0;
    this.#start = at + RECORD_HEADER_BYTES + len;
    const body = b.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len);
    if (!protectedRecord) {
      if (this.#read && type === ContentType.handshake) {
        throw new TlsAlertError(
          AlertDescription.unexpectedMessage,
          "unprotected handshake record after ServerHello",
        );
      }
      if (type === ContentType.applicationData) {
        throw new TlsAlertError(
          AlertDescription.unexpectedMessage,
          "application data before the handshake",
        );
      }
      if (len === 0 && type !== ContentType.changeCipherSpec) {
        throw new TlsAlertError(
          AlertDescription.unexpectedMessage,
          `empty record of content type ${type}`,
        );
      }
      this.payload = body;
      return type;
    }
    const aad = this.#aad;
    aad[0] = type;
    aad[1] = b[at + 1];
    aad[2] = b[at + 2];
    aad[3] = b[at + 3];
    aad[4] = b[at + 4];
    const read = this.#read!;
    const wasm = read.wasm();
    const plain = wasm !== null
      ? wasm.open(read.nonce(), body, aad, joinAt >= 0 ? b.subarray(joinAt, joinAt + len) : body)
      : read.aead.open(read.nonce(), body, aad, body);
    if (!plain) {
      throw new TlsAlertError(
        AlertDescription.badRecordMac,
        "a record does not decrypt (bad_record_mac)",
      );
    }
    // RFC 8446 §5.4: the whole TLSInnerPlaintext, padding included, is at
    // most 2^14 + 1 bytes.
    if (plain.length > MAX_PLAINTEXT + 1) {
      throw new TlsAlertError(
        AlertDescription.recordOverflow,
        `record of ${plain.length} bytes with its padding: over 2^14 + 1`,
      );
    }
    let end = plain.length;
    while (end > 0 && plain[end - 1] === 0) end--;
    if (end === 0) {
      throw new TlsAlertError(
        AlertDescription.unexpectedMessage,
        "protected record with no content type",
      );
    }
    const inner = plain[end - 1];
    if (
      inner === ContentType.changeCipherSpec ||
      inner < ContentType.changeCipherSpec || inner > ContentType.applicationData
    ) {
      throw new TlsAlertError(
        AlertDescription.unexpectedMessage,
        `protected record of content type ${inner}`,
      );
    }
    if (end === 1 && inner !== ContentType.applicationData) {
      throw new TlsAlertError(
        AlertDescription.unexpectedMessage,
        `empty protected record of content type ${inner}`,
      );
    }
    this.payload = plain.subarray(0, end - 1);
    return inner;
  }

  /** Protects what is read from now on with `keys` (sequence number 0). */
  setReadKeys(keys: TrafficKeys): void {
    this.#read = new Protection(keys);
  }

  /** Protects what is written from now on with `keys` (sequence number 0). */
  setWriteKeys(keys: TrafficKeys): void {
    this.#write = new Protection(keys);
  }

  /**
   * Writes made from now on wait for `keys`, then use them (KeyUpdate:
   * the message itself must already be sealed with the old keys).
   */
  changeWriteKeys(keys: Promise<TrafficKeys>): void {
    const gate: Promise<void> = keys.then((k) => {
      this.#write = new Protection(k);
      if (this.#writeGate === gate) this.#writeGate = null;
    });
    this.#writeGate = gate;
  }

  /**
   * Encodes `data` as records of `type`: protected when write keys are set,
   * at most 2^14 bytes of content each. The result is a view of a buffer
   * reused by the next seal unless `fresh` (or a write is under way).
   */
  seal(type: number, data: Uint8Array, fresh = false): Uint8Array {
    const size = sealedSize(data.length, this.#write !== null);
    let out: Uint8Array;
    if (!fresh && this.#writing === null && size <= BULK_SEALED_BYTES) {
      // Grown once to the largest batch (at most a bulk chunk), then reused:
      // fresh memory costs page faults on every batch.
      if (this.#out.length < size) this.#out = new Uint8Array(Math.max(size, WRITE_BUFFER_BYTES));
      out = this.#out;
    } else out = new Uint8Array(size);
    return this.#sealInto(type, data, out);
  }

  /** Seals `data` as records of `type` into `out` (room for them all); the records. */
  #sealInto(type: number, data: Uint8Array, out: Uint8Array): Uint8Array {
    const prot = this.#write;
    const n = data.length;
    const chunks = Math.max(1, Math.ceil(n / MAX_PLAINTEXT));
    let o = 0;
    for (let i = 0, at = 0; i < chunks; i++) {
      const len = Math.min(MAX_PLAINTEXT, n - at);
      const bodyLen = prot ? len + 1 + 16 : len;
      out[o] = prot ? ContentType.applicationData : type;
      out[o + 1] = TLS12 >> 8;
      out[o + 2] = TLS12 & 0xff;
      out[o + 3] = bodyLen >> 8;
      out[o + 4] = bodyLen & 0xff;
      const body = o + RECORD_HEADER_BYTES;
      const content = at === 0 && len === n ? data : data.subarray(at, at + len);
      const wasm = prot ? prot.wasm() : null;
      if (wasm !== null) {
        wasm.sealRecord(
          prot!.nonce(),
          content,
          type,
          out.subarray(o, body),
          out.subarray(body, body + bodyLen),
        );
      } else if (prot) {
        out.set(content, body);
        out[body + len] = type;
        prot.aead.seal(
          prot.nonce(),
          out.subarray(body, body + len + 1),
          out.subarray(o, body),
          out.subarray(body, body + bodyLen),
        );
      } else out.set(content, body);
      o = body + bodyLen;
      at += len;
    }
    return out.subarray(0, o);
  }

  /**
   * Sends `message` (a KeyUpdate) with the current write keys, then
   * protects every later write with `keys()`.
   */
  sendThenRekey(type: number, message: Uint8Array, keys: () => Promise<TrafficKeys>): void {
    const run = () => {
      this.writeRaw(this.seal(type, message)).catch(() => {});
      this.changeWriteKeys(keys());
    };
    if (this.#writeGate) void this.#writeGate.then(run);
    else run();
  }

  /**
   * Seals `data` as records of `type` and writes them: in one socket write,
   * or, over {@linkcode BULK_CHUNK} bytes, one write per chunk.
   */
  send(type: number, data: Uint8Array): Promise<void> {
    if (this.#writeGate) return this.#writeGate.then(() => this.send(type, data));
    if (this.#writeError !== null) return Promise.reject(this.#writeError);
    if (data.length > BULK_CHUNK && !this.#bulkBusy) return this.#sendBulk(type, data);
    return this.writeRaw(this.seal(type, data));
  }

  /**
   * A large batch: sealed a chunk at a time into two bulk buffers in turn,
   * so the next chunk is sealed while the socket write of the last one
   * waits for the peer to read. A buffer is sealed into only once its
   * previous write is done, so no socket write ever reads a buffer being
   * sealed, and records keep their sequence order (each chunk's write is
   * queued as it is sealed). Settles once all of `data` is sealed (it is the
   * caller's again): at most two chunks are then still being written, and a
   * failure of those writes is thrown by the next send.
   */
  async #sendBulk(type: number, data: Uint8Array): Promise<void> {
    this.#bulkBusy = true;
    try {
      for (let at = 0; at < data.length; at += BULK_CHUNK) {
        const k = this.#bulkNext;
        this.#bulkNext ^= 1;
        const done = this.#bulkDone[k];
        if (done !== null) await done;
        if (this.#writeError !== null) throw this.#writeError;
        if (this.#writeGate) await this.#writeGate;
        const buf = this.#bulk[k] ??= new Uint8Array(BULK_SEALED_BYTES);
        const end = Math.min(data.length, at + BULK_CHUNK);
        const written = this.writeRaw(this.#sealInto(type, data.subarray(at, end), buf));
        // A failure is kept by writeRaw (#writeError) and thrown by the next send.
        const over: Promise<void> = written.catch(() => {}).finally(() => {
          if (this.#bulkDone[k] === over) this.#bulkDone[k] = null;
        });
        this.#bulkDone[k] = over;
      }
    } finally {
      this.#bulkBusy = false;
    }
  }

  /** Writes bytes already sealed, after any write under way. */
  writeRaw(bytes: Uint8Array): Promise<void> {
    // Once a write has failed, nothing more goes out: the records after it
    // would leave a hole in the sequence the peer can only reject.
    const write = () =>
      this.#writeError !== null
        ? Promise.reject(this.#writeError)
        : writeAll(this.sock, bytes).catch((err) => {
          this.#writeError ??= err;
          throw err;
        });
    const prev = this.#writing;
    const p = prev ? prev.then(write, write) : write();
    this.#writing = p;
    const done = () => {
      if (this.#writing === p) this.#writing = null;
    };
    p.then(done, done);
    return p;
  }

  /**
   * Sends an alert (close_notify and user_canceled as warnings, the rest
   * fatal), waiting at most a second for it to leave; never throws.
   */
  async alert(code: number): Promise<void> {
    const level = code === AlertDescription.closeNotify || code === AlertDescription.userCanceled
      ? AlertLevel.warning
      : AlertLevel.fatal;
    let cancel = () => {};
    try {
      await Promise.race([
        this.send(ContentType.alert, new Uint8Array([level, code])),
        new Promise<void>((resolve) => (cancel = after(ALERT_WRITE_MS, resolve))),
      ]);
    } catch {
      // the peer is gone
    } finally {
      cancel();
    }
  }

  /**
   * Closes the socket after a fatal alert so that the peer reads it: our
   * write side ended (the alert, then end of stream), then what the peer
   * still sends read and dropped until it closes, for at most a second or
   * 64 KiB. Closed with the peer's bytes unread, the kernel would answer with
   * a reset, and a peer still writing its flight would get that reset (on its
   * next write) instead of our alert. Never throws.
   */
  async lingerClose(): Promise<void> {
    const sock = this.sock;
    if (!sock.closeWrite) return this.close();
    const stop = after(LINGER_MS, () => this.close());
    try {
      await sock.closeWrite();
      const scratch = new Uint8Array(READ_BUFFER_BYTES);
      for (let left = LINGER_BYTES; left > 0;) {
        const n = await sock.read(scratch.subarray(0, Math.min(left, scratch.length)));
        if (n === null) break;
        left -= n;
      }
    } catch {
      // the peer reset, or the timer closed it
    } finally {
      stop();
      this.close();
    }
  }

  /** Closes the socket (no alert: see {@linkcode alert}). */
  close(): void {
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }
}
