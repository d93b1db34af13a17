/**
 * The rule of rpc/message_budget.ts as PartialMessage applies it: a message
 * is charged its declared size at its prefix, so it is admitted whole or
 * refused there, never part-way; and the default budget lets every stream
 * of a connection (128) have a message of up to WHOLE_AT_ONCE on the way.
 * The public paths: partial_budget_server_test.ts, partial_budget_client_test.ts.
 *
 * @module
 */

import { DEFAULT_MAX_PARTIAL_MESSAGE_BYTES } from "../../constants.ts";
import { DEFAULT_H2_LIMITS } from "../../h2/connection.ts";
import { MessageBudget } from "../../rpc/message_budget.ts";
import { PartialMessage, WHOLE_AT_ONCE } from "../../rpc/partial_message.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { MessageReader } from "../../rpc/message_reader.ts";
import { messagePrefix } from "../../rpc/wire.ts";
import { concat } from "../h2/_h2client.ts";
import { assert, assertEquals } from "../_util/assert.ts";

Deno.test("message budget: by default every stream of a connection may have a 1 MiB message on the way", () => {
  const budget = new MessageBudget();
  assertEquals(budget.maxBytes, DEFAULT_MAX_PARTIAL_MESSAGE_BYTES);
  const accounts = [];
  for (let i = 0; i < DEFAULT_H2_LIMITS.maxConcurrentStreams; i++) {
    const account = budget.account();
    new PartialMessage(WHOLE_AT_ONCE, false, account);
    accounts.push(account);
  }
  for (const a of accounts) a.release();
  assertEquals(budget.held, 0);
});

Deno.test("message budget: a message admitted is never refused part-way; the next one is refused at its prefix", () => {
  const budget = new MessageBudget(4 << 20);
  const small = budget.account();
  new PartialMessage(1 << 20, false, small);
  // Admitted: 1 MiB + 3 MiB is the budget. A message this large is gathered in chunks, then
  // gets its own buffer at half (1.5 times its bytes for a moment): nothing refuses it.
  const large = budget.account();
  const size = 3 << 20;
  assert(size > WHOLE_AT_ONCE);
  const largeMessage = new PartialMessage(size, false, large);
  const piece = new Uint8Array(64 << 10);
  for (let at = 0; at < size; at += piece.length) largeMessage.add(piece, 0, piece.length);
  assert(largeMessage.done);
  // A third message, while the two are held: refused at its prefix, naming the option.
  let refused: unknown;
  try {
    new PartialMessage(1, false, budget.account());
  } catch (err) {
    refused = err;
  }
  assert(refused instanceof RpcError && refused.code === Status.RESOURCE_EXHAUSTED);
  assert(/maxPartialMessageBytes/.test(refused.message), refused.message);
  large.release();
  small.release();
  assertEquals(budget.held, 0);
});

Deno.test("message budget: a reader stopped by the message it delivers takes nothing more of the bytes, nor of the budget", () => {
  const budget = new MessageBudget(1 << 20);
  const got: number[] = [];
  const reader: MessageReader = new MessageReader(
    1 << 20,
    (m) => {
      got.push(m.length);
      reader.stop(); // the call ended on its first message
    },
    undefined,
    budget,
  );
  // One whole message, then the start of a second (cut across reads: it would be charged).
  reader.push(concat(messagePrefix(3), new Uint8Array(3), messagePrefix(1000), new Uint8Array(10)));
  assertEquals(got, [3]);
  assertEquals(budget.held, 0);
});
