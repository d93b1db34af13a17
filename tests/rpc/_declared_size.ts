/**
 * Shared by declared_size_server_test.ts and declared_size_client_test.ts (one
 * role per file: each file's test runs in its own isolate, so the memory one
 * test frees cannot hide what the other holds).
 *
 * A message prefix declares a size, up to the message limit (256 MiB by
 * default): the memory a message holds must follow the bytes that came, not
 * the size declared. A hostile peer opens 100 streams, declares the largest
 * message on each and sends 1 KiB of it; with a buffer of the declared size
 * made at the prefix, that was 100 x 256 MiB of ArrayBuffers (25 GiB of
 * `Deno.memoryUsage().external`, pages untouched; V8 may also refuse such an
 * allocation). Both roles: the native engine's server (a raw client on its
 * unix socket) and our client (`connect()`, against a raw server). A PING
 * sent after the streams' frames is what says they were all read: frames are
 * handled in order. A message over the limit is still refused with
 * RESOURCE_EXHAUSTED.
 *
 * @module
 */

import { assert } from "../_util/assert.ts";
import { implement } from "../../rpc/service.ts";
import { Flag, frame, FrameType } from "../../h2/frame.ts";
import { HpackDecoder } from "../../h2/hpack.ts";
import { concat, decodeHeaderBlocks, type Frame, parseFrames } from "../h2/_h2client.ts";
import { textMethod } from "./_engines.ts";

/** Streams the hostile peer opens. */
export const STREAMS = 100;
/** Bytes of its message each one sends. */
export const SENT = 1024;
/** What the 100 streams may add to `external`: 64 KiB each, and room for noise. */
export const BOUND_BYTES = 64 << 20;
/** A PING: its ACK says every frame sent before it was handled. */
export const PING = frame(FrameType.PING, 0, 0, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));

/** A unary method whose requests never end here. */
export const sink = textMethod("test.Sink", "Put", "unary");
/** Its service. */
export const sinkService = implement({ name: "test.Sink", methods: { put: sink } }, {
  put: () => "never: no request ends",
});

/** The first bytes of a message declaring `size`, with `SENT` bytes of its body. */
export function declared(size: number): Uint8Array {
  const out = new Uint8Array(5 + SENT);
  new DataView(out.buffer).setUint32(1, size);
  return out;
}

/** Frames read from a socket, gathered; `until` reads more until a condition holds. */
export class FrameReader {
  frames: Frame[] = [];
  #rest: Uint8Array = new Uint8Array(0);
  #decoder = new HpackDecoder();
  #buf = new Uint8Array(64 << 10);
  constructor(readonly sock: Deno.Conn, skip = 0) {
    this.#skip = skip;
  }
  #skip: number;
  async until(cond: (frames: Frame[]) => boolean, what: string): Promise<void> {
    while (!cond(this.frames)) {
      const n = await this.sock.read(this.#buf);
      if (n === null) throw new Error(`the peer hung up before ${what}`);
      let bytes = concat(this.#rest, this.#buf.subarray(0, n));
      if (this.#skip) {
        const cut = Math.min(this.#skip, bytes.length);
        this.#skip -= cut;
        bytes = bytes.subarray(cut);
      }
      const { frames, rest } = parseFrames(bytes);
      this.#rest = rest;
      this.frames.push(...decodeHeaderBlocks(frames, this.#decoder));
    }
  }
}

/** Whether a PING ACK came. */
export const pingAcked = (frames: Frame[]) =>
  frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK));

/** Writes all of `data`. */
export async function writeAll(sock: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await sock.write(data.subarray(at));
}

/** Fails unless `external` grew by less than {@linkcode BOUND_BYTES} since `before`. */
export function assertBounded(before: number, what: string): void {
  const grew = Deno.memoryUsage().external - before;
  assert(
    grew < BOUND_BYTES,
    `${STREAMS} ${what} that sent ${SENT} bytes each grew external memory by ${
      (grew / 1048576).toFixed(0)
    } MiB (bound ${BOUND_BYTES >> 20} MiB): buffers of the declared size`,
  );
}
