/**
 * Shared by partial_budget_server_test.ts and partial_budget_client_test.ts
 * (and the raw plugin the client test launches): the messages a peer leaves
 * unfinished on several streams of one connection, the DATA frames that
 * carry them, and the server-role tests' steps.
 *
 * Each stream may hold a message up to the message limit (256 MiB) while
 * its bytes arrive; a peer can open 128 streams. The streams of one
 * connection share `maxPartialMessageBytes`: a stream alone may receive a
 * message of any size up to the limit, but one whose message would pass
 * the budget while others hold some is refused with RESOURCE_EXHAUSTED.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME, FrameType, windowUpdateFrame } from "../../h2/frame.ts";
import { concat, dataFrame } from "../h2/_h2client.ts";

export { concat, dataFrame };
export { type Frame, header, headersFrame, requestHeaders } from "../h2/_h2client.ts";
import { type Frame, header, headersFrame, requestHeaders } from "../h2/_h2client.ts";
export { FrameReader, PING, pingAcked, writeAll } from "../h2/_socket_frames.ts";
import { type FrameReader, PING, pingAcked, writeAll } from "../h2/_socket_frames.ts";
import { percentDecode } from "../../rpc/wire.ts";
import { Status } from "../../rpc/status.ts";
import { assert, assertEquals } from "../_util/assert.ts";

/** The budget the tests set: 256 KiB. */
export const BUDGET = 256 << 10;
/** The large message's declared size: 3 MiB, gathered in chunks (above WHOLE_AT_ONCE), under one stream's 4 MiB window. */
export const LARGE = 3 << 20;
/** What the large message's stream sends first: past half, so it holds its whole 3 MiB buffer. */
export const FIRST_PART = (3 << 20) >>> 1;
/** What the second stream sends of its large message: 1 KiB, in a 64 KiB first chunk. */
export const SMALL_PART = 1 << 10;
/** The unary method the streams call (the fixture plugin's Echo/Later). */
export const LATER_PATH = "/rpcplugin.test.Echo/Later";
/** A bidi method: its call goes on after a message (the fixture plugin's Echo/Chat). */
export const CHAT_PATH = "/rpcplugin.test.Echo/Chat";

/** The bytes `[from, to)` of a message declaring `size` (its 5-byte prefix first), body bytes `a`. */
export function messageBytes(size: number, from: number, to: number): Uint8Array {
  const prefix = new Uint8Array(5);
  new DataView(prefix.buffer).setUint32(1, size);
  const out = new Uint8Array(to - from).fill(0x61);
  for (let i = from; i < Math.min(to, 5); i++) out[i - from] = prefix[i];
  return out;
}

/** `bytes` as DATA frames of stream `id` (at most the default frame size each), END_STREAM on the last if `end`. */
export function dataFrames(id: number, bytes: Uint8Array, end = false): Uint8Array {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length || frames.length === 0; at += DEFAULT_MAX_FRAME) {
    const last = at + DEFAULT_MAX_FRAME >= bytes.length;
    frames.push(dataFrame(id, bytes.subarray(at, at + DEFAULT_MAX_FRAME), end && last));
  }
  return concat(...frames);
}

/** The message `[from, to)` of a message declaring `size` on stream `id`, as DATA frames. */
export function messageFrames(
  id: number,
  size: number,
  from: number,
  to: number,
  end = false,
): Uint8Array {
  return dataFrames(id, messageBytes(size, from, to), end);
}

/** A compressed gRPC message: its prefix (flag 1) and `body` (already gzip). */
export function compressedMessage(body: Uint8Array): Uint8Array {
  const prefix = new Uint8Array(5);
  prefix[0] = 1;
  new DataView(prefix.buffer).setUint32(1, body.length);
  return concat(prefix, body);
}

/** The frame that carries stream `id`'s grpc-status, if its status came. */
export function statusOf(frames: Frame[], id: number): Frame | undefined {
  return frames.find((f) => f.streamId === id && f.headers && header(f.headers, "grpc-status"));
}

/**
 * Sends `frames` and a PING on `sock`, and resolves once its ACK says the
 * server handled them all (frames are handled, and answered, in order);
 * `reader.frames` then holds what came back meanwhile.
 */
export async function step(
  sock: Deno.Conn,
  reader: FrameReader,
  what: string,
  ...frames: Uint8Array[]
): Promise<void> {
  reader.frames = [];
  await writeAll(sock, concat(...frames, PING));
  await reader.until(pingAcked, `the PING ACK after ${what}`);
}

/**
 * The opening of the server-role budget tests, with a {@linkcode BUDGET}
 * budget: stream 1 alone, a bidi call, sends half of a 3 MiB request (its
 * whole buffer, 12 times the budget: allowed); stream 3's first 1 KiB of
 * another (a unary call) is then refused with RESOURCE_EXHAUSTED, its
 * message naming the option, its value and the fix. Stream 1's request is
 * left unfinished.
 */
export async function refusedBesideALargeOne(sock: Deno.Conn, reader: FrameReader): Promise<void> {
  await step(
    sock,
    reader,
    "stream 1's half",
    headersFrame(1, requestHeaders(CHAT_PATH)),
    messageFrames(1, LARGE, 0, 5 + FIRST_PART),
  );
  assertEquals(statusOf(reader.frames, 1), undefined, "stream 1 alone was refused");
  await step(
    sock,
    reader,
    "stream 3's start",
    headersFrame(3, requestHeaders(LATER_PATH)),
    messageFrames(3, LARGE, 0, 5 + SMALL_PART),
  );
  const refused = statusOf(reader.frames, 3);
  assert(refused, "stream 3 was not refused though stream 1 holds 12 times the budget");
  assertEquals(header(refused.headers, "grpc-status"), String(Status.RESOURCE_EXHAUSTED));
  const message = percentDecode(header(refused.headers, "grpc-message") ?? "");
  assert(
    /maxPartialMessageBytes \(262144 bytes\).*raise/.test(message),
    `the refusal's message does not name the option and its fix: ${message}`,
  );
}

/**
 * The end of the unread_*_server tests: the budget is free again, so stream
 * 5's 1 KiB unary request (Echo/Later) is answered OK; and stream 1, a
 * Chat call whose handler has read everything, half-closed, ends OK.
 */
export async function freeAgainAndChatEnds(sock: Deno.Conn, reader: FrameReader): Promise<void> {
  reader.frames = [];
  await writeAll(
    sock,
    concat(
      headersFrame(5, requestHeaders(LATER_PATH)),
      windowUpdateFrame(5, 1 << 20),
      dataFrame(5, messageBytes(SMALL_PART, 0, 5 + SMALL_PART), true),
      dataFrame(1, new Uint8Array(0), true),
    ),
  );
  await reader.until(
    (f) => statusOf(f, 5) !== undefined && statusOf(f, 1) !== undefined,
    "the statuses of streams 5 and 1",
  );
  assertEquals(header(statusOf(reader.frames, 5)!.headers, "grpc-status"), "0");
  assertEquals(header(statusOf(reader.frames, 1)!.headers, "grpc-status"), "0");
}

/**
 * Checks that `refused` (a stream's status frame) is RESOURCE_EXHAUSTED for
 * messages not yet read, its message naming the cause, the option, its
 * value and the fix.
 */
export function assertRefusedForUnread(refused: Frame): void {
  const message = percentDecode(header(refused.headers, "grpc-message") ?? "");
  assertEquals(header(refused.headers, "grpc-status"), String(Status.RESOURCE_EXHAUSTED), message);
  assert(
    /not yet read.*maxPartialMessageBytes \(262144 bytes\).*raise/.test(message),
    `the refusal's message does not name the cause, the option and its fix: ${message}`,
  );
}

/** The window given back (WINDOW_UPDATE) on stream `id` in `frames`, all together. */
export function windowGranted(frames: Frame[], id: number): number {
  let sum = 0;
  for (const f of frames) {
    if (f.type === FrameType.WINDOW_UPDATE && f.streamId === id) {
      sum += new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0) & 0x7fffffff;
    }
  }
  return sum;
}

/** The whole messages stream `id` sent in `frames` so far (one still arriving left out). */
export function wholeMessages(frames: Frame[], id: number): Uint8Array[] {
  const body = concat(
    ...frames.filter((f) => f.type === FrameType.DATA && f.streamId === id).map((f) => f.payload),
  );
  const out: Uint8Array[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  for (let at = 0; at + 5 <= body.length;) {
    const end = at + 5 + view.getUint32(at + 1);
    if (end > body.length) break;
    out.push(body.subarray(at + 5, end));
    at = end;
  }
  return out;
}
