/**
 * What a streaming call's queue of unread requests holds, on the fixture
 * plugin (serve(), the native engine, a 256 KiB budget) driven by a raw
 * HTTP/2 client on its unix socket:
 *
 * - Tiny requests count by what they cost, not by their bytes on the wire.
 *   Echo/Chat's handler, once it has read a 1 MiB request, waits to write its
 *   answer (our streams' window is 0) and reads no more; 2,200 empty
 *   requests then queue on its stream, 11 KB on the wire, within the window
 *   the server granted at the start (holding it back stops new grants only).
 *   Each counts {@linkcode MESSAGE_OVERHEAD_BYTES} toward the budget, so the
 *   queue holds more than the budget and a second stream's 1 KiB request is
 *   refused with RESOURCE_EXHAUSTED. Counted by their bytes alone, a peer
 *   could queue 839,000 of them per stream (4 MiB of window), ~100 MB of heap.
 *   Granted a window, Chat reads and answers them all, and the budget is
 *   free again.
 * - A call reset by its client lets its queue go: Echo/Drain's handler reads
 *   one of the two requests of one DATA frame, waits for its signal, and
 *   reads again after the client's RST_STREAM. It gets the cancellation, not
 *   the request that was still queued (which would otherwise stay in memory,
 *   uncounted, until the handler ends); Echo/Drained on a second stream says
 *   what it got.
 *
 * The window held back: unread_window_server_test.ts.
 *
 * @module
 */

import * as h2 from "../../h2/frame.ts";
import { STREAM_WINDOW } from "../../h2/connection.ts";
import { MESSAGE_OVERHEAD_BYTES } from "../../rpc/message_reader.ts";
import { EchoDefinition } from "../fixtures/echo.ts";
import { grpcMessage } from "../h2/_h2client.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import * as raw from "./_partial_budget.ts";
import { withBudgetConnection } from "./_budget_peers.ts";

const { BUDGET, CHAT_PATH, LATER_PATH } = raw;
const { concat, dataFrame, dataFrames, header, headersFrame, messageBytes } = raw;
const { requestHeaders, statusOf, writeAll } = raw;
type Frame = raw.Frame;

const dec = new TextDecoder();

/** Chat's first request: 1 MiB, so that its answer waits for a window (it is past the stream's output high water). */
const FIRST = 1 << 20;
/** The empty requests queued behind it: their overheads pass the budget, their bytes are 5 each. */
const EMPTIES = Math.ceil((BUDGET + 1) / MESSAGE_OVERHEAD_BYTES) + 150;
/** The unary request beside them: 1 KiB, one DATA frame. */
const SMALL = 1 << 10;

/** The whole messages stream `id` sent back in `frames` so far, as text. */
function answers(frames: Frame[], id: number): string[] {
  return raw.wholeMessages(frames, id).map((m) => dec.decode(m));
}

Deno.test("server: a streaming call's unread empty requests count toward maxPartialMessageBytes by what they cost, not their 5 bytes", () =>
  withBudgetConnection(async ({ sock, reader }) => {
    const step = (what: string, ...frames: Uint8Array[]) => raw.step(sock, reader, what, ...frames);
    const empties = new Uint8Array(5 * EMPTIES);
    assert(
      FIRST + 5 + empties.length < STREAM_WINDOW,
      "the requests must fit the stream window the server grants at the start",
    );
    await step(
      "Chat's first request",
      headersFrame(1, requestHeaders(CHAT_PATH)),
      dataFrames(1, messageBytes(FIRST, 0, 5 + FIRST)),
    );
    assertEquals(statusOf(reader.frames, 1), undefined, "Chat ended early");
    await step(
      `${EMPTIES} empty requests and a unary call`,
      dataFrames(1, empties),
      headersFrame(3, requestHeaders(LATER_PATH)),
      dataFrame(3, messageBytes(SMALL, 0, 5 + SMALL), true),
    );
    const refused = statusOf(reader.frames, 3);
    assert(
      refused,
      `stream 3 was answered, though stream 1's ${EMPTIES} unread requests hold ` +
        `${EMPTIES * MESSAGE_OVERHEAD_BYTES} bytes (a ${BUDGET}-byte budget)`,
    );
    raw.assertRefusedForUnread(refused);

    // Granted a window, Chat answers its first request and every empty one.
    reader.frames = [];
    await writeAll(sock, h2.windowUpdateFrame(1, 1 << 30));
    await reader.until(
      (f) => answers(f, 1).length === 1 + EMPTIES,
      `Chat's ${1 + EMPTIES} answers`,
    );
    // The budget is free again: stream 5's request is answered; Chat ends OK.
    await raw.freeAgainAndChatEnds(sock, reader);
  }, 0));

Deno.test("server: a call reset by its client lets its queued requests go; its handler reading on gets the cancellation", () =>
  withBudgetConnection(async ({ sock, reader }) => {
    const { drain, drained } = EchoDefinition.methods;
    reader.frames = [];
    // Both requests in one DATA frame: the second is queued before the handler runs.
    await writeAll(
      sock,
      concat(
        headersFrame(1, requestHeaders(drain.path)),
        dataFrame(1, concat(grpcMessage("one"), grpcMessage("two"))),
      ),
    );
    await reader.until((f) => answers(f, 1).length === 1, "Drain's answer to its first request");
    assertEquals(answers(reader.frames, 1), ["read: one"]);
    reader.frames = [];
    await writeAll(
      sock,
      concat(
        h2.rstStreamFrame(1, h2.H2Error.CANCEL),
        headersFrame(3, requestHeaders(drained.path)),
        dataFrame(3, grpcMessage(""), true),
      ),
    );
    await reader.until((f) => statusOf(f, 3) !== undefined, "Drained's status");
    assertEquals(header(statusOf(reader.frames, 3)!.headers, "grpc-status"), "0");
    assertEquals(answers(reader.frames, 3), ["threw: call cancelled by the client"]);
  }));
