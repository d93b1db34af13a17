/**
 * A request counts toward `maxPartialMessageBytes` until its call takes it,
 * not only while it arrives: otherwise a peer could send a whole request on
 * each of 128 streams and never end them (a unary call takes its request at
 * END_STREAM), or a few KiB of gzip that come to the message limit each,
 * and make one connection hold 128 times the limit. A gzip-compressed
 * request counts by what it decompresses to, an uncompressed one by its
 * size. The fixture plugin (serve(), the native engine) with a 256 KiB
 * budget, a raw HTTP/2 client on its unix socket. Two streams (the unary
 * Echo/Later) each send a request and leave it open, so their calls hold
 * them: gzip, a 1 MiB request as 1 KiB; uncompressed, a 192 KiB one. The
 * first received is held (one stream alone may, past the budget), the other
 * refused with RESOURCE_EXHAUSTED naming the option. The held one's request
 * ends and its call takes it and answers; then a second pair behaves the
 * same (the bytes went back), its held one is reset by the client, and a
 * third pair again (they went back again). A streaming call (Echo/Chat)
 * whose handler has taken its request holds nothing of the budget while the
 * call goes on: a fourth pair has one held. The messages a streaming call's
 * handler has not read: unread_window_server_test.ts.
 *
 * @module
 */

import * as h2 from "../../h2/frame.ts";
import { gzip, percentDecode } from "../../rpc/wire.ts";
import { Status } from "../../rpc/status.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import * as raw from "./_partial_budget.ts";
import { withBudgetConnection } from "./_budget_peers.ts";

const { CHAT_PATH, LATER_PATH } = raw;
const { compressedMessage, concat, dataFrame, dataFrames, header, headersFrame } = raw;
const { requestHeaders, statusOf, writeAll } = raw;
type Frame = raw.Frame;

/** The calls' deadline: far off, only so that a missing refusal fails the test instead of hanging it. */
const DEADLINE = "20S";
/** What each gzip request decompresses to: 1 MiB, four times the budget. */
const INFLATED = 1 << 20;
/** An uncompressed request: 192 KiB, so that two pass the 256 KiB budget. */
const WHOLE = 192 << 10;

/** The request each stream sends, and the headers that say how it is encoded. */
interface Form {
  message: Uint8Array;
  headers: [string, string][];
}

/** A 1 MiB request as 1 KiB of gzip. */
async function gzipForm(): Promise<Form> {
  const message = compressedMessage(await gzip(new Uint8Array(INFLATED).fill(0x61)));
  assert(message.length < 8 << 10, `the gzip request is ${message.length} bytes`);
  return { message, headers: [["grpc-encoding", "gzip"]] };
}

/** The steps of the module's doc, each request sent as `form` says. */
const heldUntilTaken = (form: Form) =>
  withBudgetConnection(async ({ sock, reader }) => {
    const { message, headers } = form;
    const step = (what: string, ...frames: Uint8Array[]) => raw.step(sock, reader, what, ...frames);
    /** Stream `id`'s Later call with the request, its request left open. */
    const open = (id: number) =>
      concat(
        headersFrame(
          id,
          requestHeaders(LATER_PATH, [...headers, ["grpc-timeout", DEADLINE]]),
        ),
        dataFrames(id, message),
      );
    /**
     * Streams `a` and `b` send their requests together: the one received first is held
     * (alone, past the budget), the other refused, with a status that names the
     * option; the held one's request then ends, and its call takes it and answers.
     */
    const pair = async (a: number, b: number) => {
      reader.frames = [];
      await writeAll(sock, concat(open(a), open(b)));
      const one = (f: Frame[]) => statusOf(f, a) ?? statusOf(f, b);
      // Without the refusal, the calls' deadline ends them (DEADLINE_EXCEEDED): no hang.
      await reader.until((f) => one(f) !== undefined, `a status on stream ${a} or ${b}`);
      const refused = one(reader.frames)!;
      assertEquals(
        header(refused.headers, "grpc-status"),
        String(Status.RESOURCE_EXHAUSTED),
        `stream ${refused.streamId}: ${
          percentDecode(header(refused.headers, "grpc-message") ?? "")
        }`,
      );
      const message = percentDecode(header(refused.headers, "grpc-message") ?? "");
      assert(
        /maxPartialMessageBytes \(262144 bytes\).*raise/.test(message),
        `the refusal's message does not name the option and its fix: ${message}`,
      );
      return refused.streamId === a ? b : a;
    };
    const answered = async (id: number) => {
      await writeAll(sock, dataFrame(id, new Uint8Array(0), true));
      await reader.until((f) => statusOf(f, id) !== undefined, `stream ${id}'s status`);
      assertEquals(header(statusOf(reader.frames, id)!.headers, "grpc-status"), "0");
    };

    // One held, one refused; the held one taken by its call.
    await answered(await pair(1, 3));
    // Its bytes went back: again one held (not both refused), and reset by the client.
    const kept = await pair(5, 7);
    await step(`stream ${kept}'s reset`, h2.rstStreamFrame(kept, h2.H2Error.CANCEL));
    // Its bytes went back too.
    await answered(await pair(9, 11));
    // A streaming call's message counts until its handler takes it: Echo/Chat's has, once
    // its answer's headers come; its call still open, a pair again has one held.
    reader.frames = [];
    await writeAll(
      sock,
      concat(
        headersFrame(13, requestHeaders(CHAT_PATH, headers)),
        dataFrames(13, message),
      ),
    );
    await reader.until((f) => f.some((x) => x.streamId === 13 && x.headers), "Chat's answer");
    await answered(await pair(15, 17));
  });

Deno.test("server: gzip requests count toward maxPartialMessageBytes by their decompressed size until the call takes them", async () => {
  await heldUntilTaken(await gzipForm());
});

Deno.test("server: whole uncompressed requests count toward maxPartialMessageBytes until the call takes them", () =>
  heldUntilTaken({ message: raw.messageBytes(WHOLE, 0, 5 + WHOLE), headers: [] }));
