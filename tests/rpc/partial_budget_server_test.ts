/**
 * The server role of `maxPartialMessageBytes`: the fixture plugin (serve(),
 * the native engine) with a 256 KiB budget, and a raw HTTP/2 client on its
 * unix socket. One stream alone (a bidi call) sends half of a 3 MiB request
 * (its whole buffer, far past the budget: allowed); a second stream's 1 KiB
 * of another 3 MiB request is then refused with RESOURCE_EXHAUSTED naming
 * the option at its prefix (messages are charged their declared size there,
 * and never refused part-way); the first request completes, its call still
 * open. Then two streams declare exactly the budget together (192 KiB +
 * 64 KiB less what the two messages cost besides their bytes,
 * `MESSAGE_OVERHEAD_BYTES` each; each partly sent): neither is refused, which
 * says every byte of the first two went back; reset by the client, they
 * give theirs back too (two more hold the budget again). A PING after each
 * step's frames says they were handled (frames are handled, and answered,
 * in order). The client role: partial_budget_client_test.ts.
 *
 * @module
 */

import * as h2 from "../../h2/frame.ts";
import { MESSAGE_OVERHEAD_BYTES } from "../../rpc/message_reader.ts";
import { assertEquals } from "../_util/assert.ts";
import * as raw from "./_partial_budget.ts";
import { withBudgetConnection } from "./_budget_peers.ts";

const { BUDGET, FIRST_PART, LARGE, LATER_PATH, SMALL_PART } = raw;
const { dataFrame, header, headersFrame, messageFrames, requestHeaders, writeAll } = raw;
const { statusOf } = raw;

Deno.test("server: streams together hold at most maxPartialMessageBytes of requests still arriving; one alone may hold a large one; bytes go back", () =>
  withBudgetConnection(async ({ sock, reader }) => {
    const step = (what: string, ...frames: Uint8Array[]) => raw.step(sock, reader, what, ...frames);
    const open = (id: number) => headersFrame(id, requestHeaders(LATER_PATH));

    // Stream 1 alone, a bidi call: half of a 3 MiB request, its whole buffer (12 times the
    // budget); stream 3: 1 KiB of another: refused, with a status that names the option.
    await raw.refusedBesideALargeOne(sock, reader);
    // Stream 1's message completes (its call goes on): its bytes go back.
    await step("stream 1's rest", messageFrames(1, LARGE, 5 + FIRST_PART, 5 + LARGE));
    assertEquals(statusOf(reader.frames, 1), undefined, "stream 1 was refused");

    // Exactly the budget on two streams, by their declared sizes and overheads (192 KiB +
    // 64 KiB, each partly sent): all of the first two's went back.
    const fill = async (a: number, b: number) => {
      await step(
        `streams ${a} and ${b}`,
        open(a),
        messageFrames(a, BUDGET - (64 << 10) - 2 * MESSAGE_OVERHEAD_BYTES, 0, 5 + SMALL_PART),
        open(b),
        messageFrames(b, 64 << 10, 0, 5 + SMALL_PART),
      );
      assertEquals(statusOf(reader.frames, a), undefined, `stream ${a} was refused`);
      assertEquals(
        statusOf(reader.frames, b),
        undefined,
        `stream ${b} was refused: bytes leaked`,
      );
    };
    await fill(5, 7);
    // Reset by the client, they give it back.
    await step(
      "the resets",
      h2.rstStreamFrame(5, h2.H2Error.CANCEL),
      h2.rstStreamFrame(7, h2.H2Error.CANCEL),
    );
    await fill(9, 11);
    // Stream 1's call ends well: its message was taken whole.
    reader.frames = [];
    await writeAll(sock, dataFrame(1, new Uint8Array(0), true));
    await reader.until((f) => statusOf(f, 1) !== undefined, "stream 1's status");
    assertEquals(header(statusOf(reader.frames, 1)!.headers, "grpc-status"), "0");
  }));
