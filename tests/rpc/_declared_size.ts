/**
 * Shared by declared_size_server_test.ts and declared_size_client_test.ts (one
 * role per file, so that the memory one test frees cannot offset what the
 * other holds).
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
import { textMethod } from "./_engines.ts";

/** Streams the hostile peer opens. */
export const STREAMS = 100;
/** Bytes of its message each one sends. */
export const SENT = 1024;
/** What the 100 streams may add to `external`: 64 KiB each, and room for noise. */
export const BOUND_BYTES = 64 << 20;

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

export { FrameReader, PING, pingAcked, writeAll } from "../h2/_socket_frames.ts";
