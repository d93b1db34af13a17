/**
 * The server role: 100 streams of a raw client on the native engine's unix
 * socket each declare the largest message (256 MiB) and send 1 KiB of it;
 * `Deno.memoryUsage().external` must grow by less than 64 MiB (with a buffer
 * of the declared size made at each prefix: 25 GiB). The PING ACK after the
 * streams' frames says they were all handled. One byte over the limit is
 * still RESOURCE_EXHAUSTED. The client role is in
 * declared_size_client_test.ts: one role per file, so that the memory one
 * frees cannot offset what the other holds.
 *
 * @module
 */

import { createLogger } from "../../log/logger.ts";
import { Status } from "../../rpc/status.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../constants.ts";
import { CLIENT_PREFACE, settingsFrame } from "../../h2/frame.ts";
import { assertEquals } from "../_util/assert.ts";
import {
  concat,
  dataFrame,
  type Frame,
  header,
  headersFrame,
  requestHeaders,
} from "../h2/_h2client.ts";
import {
  assertBounded,
  declared,
  FrameReader,
  PING,
  pingAcked,
  sink,
  sinkService,
  STREAMS,
  writeAll,
} from "./_declared_size.ts";

Deno.test("server: 100 streams each declaring the largest message and sending 1 KiB hold ~64 KiB each, not 256 MiB", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-declared-" });
  const path = `${dir}/plugin.sock`;
  const engine = createNativeEngine({
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    logger: createLogger({ level: "off", write: () => {} }),
  });
  engine.addService(sinkService);
  await engine.bind("unix", path);
  const sock = await Deno.connect({ transport: "unix", path });
  try {
    const reader = new FrameReader(sock);
    await writeAll(sock, concat(CLIENT_PREFACE, settingsFrame([]), PING));
    await reader.until(pingAcked, "the first PING ACK");
    reader.frames = [];
    const before = Deno.memoryUsage().external;
    const parts: Uint8Array[] = [];
    for (let i = 0, id = 1; i < STREAMS; i++, id += 2) {
      parts.push(headersFrame(id, requestHeaders(sink.path)));
      parts.push(dataFrame(id, declared(DEFAULT_MAX_MESSAGE_BYTES)));
    }
    await writeAll(sock, concat(...parts, PING));
    await reader.until(pingAcked, "the PING ACK after the streams");
    assertBounded(before, "streams");
    // One byte over the limit: RESOURCE_EXHAUSTED, as ever.
    const over = 2 * STREAMS + 1;
    await writeAll(
      sock,
      concat(
        headersFrame(over, requestHeaders(sink.path)),
        dataFrame(over, declared(DEFAULT_MAX_MESSAGE_BYTES + 1)),
      ),
    );
    const status = (frames: Frame[]) =>
      frames.find((f) => f.streamId === over && f.headers && header(f.headers, "grpc-status"));
    await reader.until((frames) => status(frames) !== undefined, "the over-limit stream's status");
    assertEquals(
      header(status(reader.frames)!.headers, "grpc-status"),
      String(Status.RESOURCE_EXHAUSTED),
    );
  } finally {
    sock.close();
    await engine.shutdown(0);
    await Deno.remove(dir, { recursive: true });
  }
});
