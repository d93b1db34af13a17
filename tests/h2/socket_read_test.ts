/**
 * The Deno socket pump's read buffer: it grows once, bounded, when reads
 * fill it (a bulk upload), and nothing read before or across the growth is
 * lost or changed.
 *
 * @module
 */

import { CLIENT_PREFACE, settingsFrame } from "../../h2/frame.ts";
import { pumpDenoSocket } from "../../h2/socket.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  concat,
  dataFrame,
  H2TestClient,
  headersFrame,
  type RecordedStream,
  recordingOnStream,
  requestHeaders,
} from "./_h2client.ts";

Deno.test("pumpDenoSocket: the read buffer grows once to 256 KiB under a bulk upload, the body intact", async () => {
  const streams: RecordedStream[] = [];
  const client = new H2TestClient(recordingOnStream(streams));
  const body = Uint8Array.from({ length: 600 << 10 }, (_, i) => (i * 13 + (i >>> 14)) & 0xff);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < body.length; at += 16384) {
    const end = Math.min(body.length, at + 16384);
    frames.push(dataFrame(1, body.subarray(at, end), end === body.length));
  }
  let wire = concat(
    CLIENT_PREFACE,
    settingsFrame([]),
    headersFrame(1, requestHeaders("/test.T/M")),
    ...frames,
  );
  const sizes: number[] = [];
  // A socket holding the whole upload: every read fills the buffer it is given.
  const sock = {
    read(buf: Uint8Array): Promise<number | null> {
      sizes.push(buf.length);
      if (wire.length === 0) return Promise.resolve(null);
      const n = Math.min(buf.length, wire.length);
      buf.set(wire.subarray(0, n));
      wire = wire.subarray(n);
      return Promise.resolve(n);
    },
  } as unknown as Deno.Conn;
  await pumpDenoSocket(sock, client.conn, (err) => {
    throw err;
  });
  assertEquals(streams.length, 1);
  assert(streams[0].ended, "END_STREAM arrived");
  assertEquals(streams[0].body.length, body.length);
  assert(streams[0].body.every((b, i) => b === body[i]), "every byte, in order");
  assertEquals(sizes[0], 64 << 10, "starts at 64 KiB");
  assertEquals(Math.max(...sizes), 256 << 10, "grows to 256 KiB, no further");
});
