/**
 * The messages a streaming call's handler has not read yet: bounded in
 * bytes for its stream, and counted toward its connection's
 * `maxPartialMessageBytes`. Without both, a client could queue 16 messages
 * of up to the message limit (256 MiB) on each of 128 streams of a handler
 * that does not read. The fixture plugin (serve(), the native engine) with
 * a 256 KiB budget, a raw HTTP/2 client on its unix socket that grants its
 * streams no window at first, so Echo/Chat's handler, once it has read a
 * 1 MiB request, waits to write its answer and reads no more. Three more
 * requests of 1 MiB then queue on its stream: the server gives back the
 * first one's window, not all three's (it holds the rest back once 1 MiB
 * waits unread); and a second stream's 1 KiB unary request, arriving whole in one
 * frame, is refused with RESOURCE_EXHAUSTED naming the option (the queue
 * holds 12 times the budget). Granted a window, the handler answers, reads
 * the queue, and the server gives the held window back; then the budget is
 * free again (a third stream's request is answered), and Chat ends OK.
 * Requests left open by unary calls: unread_budget_server_test.ts.
 *
 * @module
 */

import * as h2 from "../../h2/frame.ts";
import { STREAM_WINDOW, STREAM_WINDOW_STEP } from "../../h2/connection.ts";
import { assert } from "../_util/assert.ts";
import * as raw from "./_partial_budget.ts";
import { withBudgetConnection } from "./_budget_peers.ts";

const { CHAT_PATH, LATER_PATH } = raw;
const { concat, dataFrame, dataFrames, headersFrame, messageBytes } = raw;
const { requestHeaders, statusOf, writeAll } = raw;
type Frame = raw.Frame;

/** Each queued request: 1 MiB, three of them within the server's 4 MiB stream window. */
const REQUEST = 1 << 20;
/** The unary requests beside it: 1 KiB, one DATA frame. */
const SMALL = 1 << 10;

Deno.test("server: a streaming call's unread requests hold its client's window back past 1 MiB and count toward maxPartialMessageBytes", () =>
  withBudgetConnection(async ({ sock, reader }) => {
    const step = (what: string, ...frames: Uint8Array[]) => raw.step(sock, reader, what, ...frames);
    const seen: Frame[] = [];
    const keep = () => seen.push(...reader.frames);

    // What the check below needs of the h2 layer: the three queued requests fit a stream's
    // window (the first one's comes back as it is read), and the server gives consumed bytes
    // back in steps of at most one request (else it would give none back for three, held or not).
    assert(3 * (5 + REQUEST) <= STREAM_WINDOW, `a stream window of ${STREAM_WINDOW} bytes`);
    assert(STREAM_WINDOW_STEP <= REQUEST, `a window step of ${STREAM_WINDOW_STEP} bytes`);
    // Chat reads a 1 MiB request and waits to write its answer: our streams' window is 0.
    const request = messageBytes(REQUEST, 0, 5 + REQUEST);
    await step(
      "Chat's first request",
      headersFrame(1, requestHeaders(CHAT_PATH)),
      dataFrames(1, request),
    );
    keep();
    const first = raw.windowGranted(seen, 1);
    // Three more queue unread; stream 3's request, whole in one frame, is refused.
    const queued = concat(request, request, request);
    await step(
      "three queued requests and a unary call",
      dataFrames(1, queued),
      headersFrame(3, requestHeaders(LATER_PATH)),
      dataFrame(3, messageBytes(SMALL, 0, 5 + SMALL), true),
    );
    keep();
    const back = raw.windowGranted(seen, 1);
    // The window of the first (it completes while nothing waits unread), not of all three.
    assert(
      back - first < 2 * REQUEST,
      `the server gave back ${back - first} bytes of window for three 1 MiB requests its ` +
        "handler has not read",
    );
    const refused = statusOf(seen, 3);
    assert(refused, "stream 3 was answered, though stream 1's unread requests hold 3 MiB");
    raw.assertRefusedForUnread(refused);

    // Granted a window, Chat answers and reads the queue: once its fourth answer is out
    // (it took the last request before it), and a PING after, the held window has come back.
    reader.frames = [];
    await writeAll(sock, h2.windowUpdateFrame(1, 1 << 30));
    await reader.until(
      (f) => raw.wholeMessages(f, 1).length === 4,
      "Chat's answers to its four requests",
    );
    const answered = reader.frames;
    await step("a PING after Chat's answers");
    const sent = request.length + queued.length;
    const returned = back + raw.windowGranted([...answered, ...reader.frames], 1);
    assert(
      returned > sent - REQUEST,
      `the server gave back ${returned} of the ${sent} bytes of window once Chat read them`,
    );
    // The budget is free again: stream 5's request is answered; Chat ends OK.
    await raw.freeAgainAndChatEnds(sock, reader);
  }, 0));
