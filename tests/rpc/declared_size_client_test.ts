/**
 * The client role: 100 calls of our `Channel` answered by a raw server whose
 * responses each declare the largest message (256 MiB) and send 1 KiB of it;
 * `Deno.memoryUsage().external` must grow by less than 64 MiB (with a buffer
 * of the declared size made at each prefix: 25 GiB). One byte over the limit
 * is still RESOURCE_EXHAUSTED. The server role: declared_size_server_test.ts.
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../constants.ts";
import { CLIENT_PREFACE, FrameType, settingsFrame } from "../../h2/frame.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { concat, dataFrame, type Frame, headersFrame } from "../h2/_h2client.ts";
import {
  assertBounded,
  declared,
  FrameReader,
  PING,
  pingAcked,
  sink,
  STREAMS,
  writeAll,
} from "./_declared_size.ts";
import { withRawServer } from "../h2/_socket_frames.ts";

Deno.test("client: 100 responses each declaring the largest message and sending 1 KiB hold ~64 KiB each, not 256 MiB", () =>
  withRawServer(DEFAULT_MAX_MESSAGE_BYTES, async (channel, sock) => {
    const calls: Promise<unknown>[] = [];
    try {
      const reader = new FrameReader(sock, CLIENT_PREFACE.length);
      await writeAll(sock, concat(settingsFrame([]), PING));
      await reader.until(pingAcked, "the client's PING ACK");
      reader.frames = [];
      const before = Deno.memoryUsage().external;
      for (let i = 0; i < STREAMS; i++) calls.push(channel.unary(sink, "x").catch((e) => e));
      const requests = (frames: Frame[]) =>
        frames.filter((f) => f.type === FrameType.HEADERS).map((f) => f.streamId);
      await reader.until((frames) => requests(frames).length === STREAMS, "the calls' HEADERS");
      const response = [[":status", "200"], ["content-type", "application/grpc"]] as [
        string,
        string,
      ][];
      const parts: Uint8Array[] = [];
      for (const id of requests(reader.frames)) {
        parts.push(headersFrame(id, response), dataFrame(id, declared(DEFAULT_MAX_MESSAGE_BYTES)));
      }
      reader.frames = [];
      await writeAll(sock, concat(...parts, PING));
      await reader.until(pingAcked, "the PING ACK after the responses");
      assertBounded(before, "responses");
      // One byte over the limit: RESOURCE_EXHAUSTED, as ever.
      const over = channel.unary(sink, "x").catch((e) => e);
      await reader.until((frames) => requests(frames).length === 1, "the last call's HEADERS");
      const id = requests(reader.frames)[0];
      await writeAll(
        sock,
        concat(headersFrame(id, response), dataFrame(id, declared(DEFAULT_MAX_MESSAGE_BYTES + 1))),
      );
      const err = await over;
      assert(err instanceof RpcError, `the over-limit call gave ${err}`);
      assertEquals(err.code, Status.RESOURCE_EXHAUSTED);
    } finally {
      channel.close();
      await Promise.all(calls);
    }
  }));
