/**
 * Tests of the message reader (`rpc/message_reader.ts`) by itself: messages
 * cut anywhere, its identity path, decompression order and failures, and
 * what its messages hold of the budget on every way they end (the budget's
 * own rule: message_budget_test.ts; on the public paths: unread_*_test.ts
 * and partial_budget_*_test.ts).
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import { MESSAGE_OVERHEAD_BYTES, MessageReader } from "../../rpc/message_reader.ts";
import { MessageBudget } from "../../rpc/message_budget.ts";
import { gzip } from "../../rpc/wire.ts";
import { WHOLE_AT_ONCE } from "../../rpc/partial_message.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { concat, grpcMessage } from "../h2/_h2client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("MessageReader: messages cut anywhere, compressed and oversized ones refused", () => {
  const got: number[][] = [];
  const reader = new MessageReader(10, (m) => got.push([...m]));
  const wire = concat(grpcMessage(new Uint8Array([1, 2, 3])), grpcMessage(new Uint8Array(0)));
  for (let i = 0; i < wire.length; i++) {
    reader.push(wire.subarray(i, i + 1));
    if (i < wire.length - 1) assertEquals(reader.atBoundary, i === 7);
  }
  assert(reader.atBoundary);
  assertEquals(got, [[1, 2, 3], []]);
  const compressed = assertThrows(
    () => new MessageReader(10, () => {}).push(grpcMessage("x", true)),
    RpcError,
  );
  assertEquals(compressed.code, Status.INTERNAL);
  const big = assertThrows(
    () => new MessageReader(10, () => {}).push(grpcMessage("x".repeat(11)).subarray(0, 5)),
    RpcError,
    /11 vs\. 10/,
  );
  assertEquals(big.code, Status.RESOURCE_EXHAUSTED);
});

Deno.test("MessageReader: large messages, cut in pieces of every kind of size, arrive whole and exact", () => {
  // Above WHOLE_AT_ONCE a message is gathered in chunks until half has come
  // (partial_message.ts): sizes around the chunks' and the half's edges.
  const MiB = 1 << 20;
  for (const size of [WHOLE_AT_ONCE, WHOLE_AT_ONCE + 1, 3 * MiB + 7, 8 * MiB + (64 << 10)]) {
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i++) body[i] = (i * 7 + (i >>> 11)) & 0xff;
    const wire = concat(grpcMessage(body), grpcMessage(new Uint8Array([9])));
    for (const piece of [16384 + 9, 65536, 1 << 20, 1]) {
      if (piece === 1 && size > WHOLE_AT_ONCE + 1) continue; // byte by byte: one size is enough
      const got: Uint8Array[] = [];
      const reader = new MessageReader(16 * MiB, (m) => got.push(m));
      for (let at = 0; at < wire.length; at += piece) reader.push(wire.subarray(at, at + piece));
      assert(reader.atBoundary, `${size} in pieces of ${piece}: not at a boundary`);
      assertEquals(got.length, 2, `${size} in pieces of ${piece}`);
      assertEquals(got[0].length, size);
      assert(got[0].every((b, i) => b === body[i]), `${size} in pieces of ${piece}: bytes differ`);
      assertEquals([...got[1]], [9]);
    }
  }
});

Deno.test("MessageReader: the identity path delivers during push, with no promise", () => {
  const got: [string, boolean][] = [];
  const reader = new MessageReader(100, (m, c) => got.push([dec.decode(m), c]));
  reader.encoding = "gzip"; // allowed, yet these messages are not compressed
  reader.push(concat(grpcMessage("a"), grpcMessage("b")));
  assertEquals(got, [["a", false], ["b", false]]);
  assertEquals(reader.pending, null);
  assertEquals(reader.backlog, 0);
});

Deno.test("MessageReader: compressed and plain messages are delivered in arrival order", async () => {
  const got: [string, boolean][] = [];
  const reader = new MessageReader(100, (m, c) => got.push([dec.decode(m), c]));
  reader.encoding = "gzip";
  const wire = concat(
    grpcMessage(await gzip(enc.encode("one")), true),
    grpcMessage("two"),
    grpcMessage(await gzip(enc.encode("three")), true),
    grpcMessage("four"),
  );
  // Byte by byte: the prefixes and bodies are cut everywhere.
  for (let i = 0; i < wire.length; i++) reader.push(wire.subarray(i, i + 1));
  // Nothing delivered yet: "two" and "four" wait behind the compressed ones.
  assertEquals(got, []);
  assertEquals(reader.backlog, 4);
  await reader.pending;
  assertEquals(got, [["one", true], ["two", false], ["three", true], ["four", false]]);
  assertEquals([reader.pending, reader.backlog], [null, 0]);
  // Once the chain is empty, plain messages take the synchronous path again.
  reader.push(grpcMessage("five"));
  assertEquals(got.at(-1), ["five", false]);
});

Deno.test("MessageReader: a failed decompression reports once and delivers nothing after it", async () => {
  const got: string[] = [];
  const errors: unknown[] = [];
  // 40 bytes: more than the compressed messages, less than the second one decompressed.
  const reader = new MessageReader(40, (m) => got.push(dec.decode(m)), (e) => errors.push(e));
  reader.encoding = "gzip";
  reader.push(concat(
    grpcMessage(await gzip(enc.encode("ok")), true),
    grpcMessage(await gzip(enc.encode("a".repeat(100))), true),
    grpcMessage("late"),
  ));
  await reader.pending;
  assertEquals(got, ["ok"]);
  assertEquals(errors.length, 1);
  assertEquals((errors[0] as RpcError).code, Status.RESOURCE_EXHAUSTED);
  reader.push(grpcMessage("after"));
  assertEquals(got, ["ok"]);
});

Deno.test("MessageReader: compressed messages without gzip, and bad flags, are INTERNAL", () => {
  const identity = assertThrows(
    () => new MessageReader(10, () => {}).push(grpcMessage("x", true)),
    RpcError,
    /without a grpc-encoding/,
  );
  assertEquals(identity.code, Status.INTERNAL);
  const deflate = new MessageReader(10, () => {});
  deflate.encoding = "deflate";
  assertEquals(
    assertThrows(() => deflate.push(grpcMessage("x", true)), RpcError, /"deflate"/).code,
    Status.INTERNAL,
  );
  const flag2 = grpcMessage("x");
  flag2[0] = 2;
  assertEquals(
    assertThrows(() => new MessageReader(10, () => {}).push(flag2), RpcError, /flag 2/).code,
    Status.INTERNAL,
  );
});

/** A reader of gzip messages on `budget`, recording what it delivers and reports. */
function gzipReader(budget: MessageBudget, onMessage?: (m: Uint8Array) => void) {
  const got: Uint8Array[] = [];
  const errors: RpcError[] = [];
  const reader = new MessageReader(
    1 << 30,
    (m) => {
      got.push(m);
      onMessage?.(m);
    },
    (e) => errors.push(e as RpcError),
    budget,
  );
  reader.encoding = "gzip";
  return { reader, got, errors };
}

const OVERHEAD = MESSAGE_OVERHEAD_BYTES;

Deno.test("MessageReader budget: a compressed message waiting counts its compressed size, then what it came to, until taken", async () => {
  const budget = new MessageBudget(1 << 30);
  const { reader, got } = gzipReader(budget);
  const a = await gzip(enc.encode("a".repeat(1000)));
  const b = await gzip(enc.encode("b".repeat(3000)));
  reader.push(concat(grpcMessage(a, true), grpcMessage(b, true), grpcMessage("plain")));
  // Nothing decompressed yet: each waits, counted by its bytes and overhead.
  assertEquals(budget.held, a.length + b.length + 5 + 3 * OVERHEAD);
  await reader.pending;
  assertEquals(got.map((m) => m.length), [1000, 3000, 5]);
  assertEquals(budget.held, 1000 + 3000 + 5 + 3 * OVERHEAD);
  for (const m of got) reader.taken(m);
  assertEquals(budget.held, 0);
});

Deno.test("MessageReader budget: nothing is left held when the reader stops mid-decompression, on a bad gzip, or when delivery throws", async () => {
  const budget = new MessageBudget(1 << 30);
  const packed = await gzip(new Uint8Array(4 << 20));
  // Stopped while the drain decompresses: what came out after the stop is given back too.
  const stopped = gzipReader(budget);
  stopped.reader.push(grpcMessage(packed, true));
  await null;
  await null;
  stopped.reader.stop();
  await stopped.reader.pending;
  assertEquals([stopped.got.length, budget.held], [0, 0]);
  // Bytes that are not gzip: one error, nothing held.
  const bad = gzipReader(budget);
  bad.reader.push(concat(grpcMessage(enc.encode("not gzip"), true), grpcMessage("after")));
  await bad.reader.pending;
  assertEquals([bad.errors.length, bad.got.length, budget.held], [1, 0, 0]);
  // The call refuses the second message (a unary one that got two): nothing held.
  let calls = 0;
  const refusing = gzipReader(budget, () => {
    if (++calls === 2) throw new RpcError(Status.UNIMPLEMENTED, "one request only");
  });
  refusing.reader.push(concat(grpcMessage(packed, true), grpcMessage("second")));
  await refusing.reader.pending;
  assertEquals([refusing.errors.length, budget.held], [1, 0]);
});

Deno.test("MessageReader budget: a message refused at its prefix (its overhead charged, its size refused) leaves nothing held once stopped", () => {
  const budget = new MessageBudget(64 << 10);
  const other = budget.account();
  other.grow(32 << 10);
  const reader = new MessageReader(1 << 20, () => {}, undefined, budget);
  // A 48 KiB message, its prefix and 1 KiB: refused there (others hold 32 KiB).
  const err = assertThrows(
    () => reader.push(grpcMessage(new Uint8Array(48 << 10)).subarray(0, 5 + 1024)),
    RpcError,
  );
  assertEquals(err.code, Status.RESOURCE_EXHAUSTED);
  reader.stop();
  assertEquals(budget.held, 32 << 10);
  other.release();
  assertEquals(budget.held, 0);
});

Deno.test("MessageReader budget: two streams decompressing past the budget at once: one is refused, the other delivered", async () => {
  const budget = new MessageBudget(256 << 10);
  const packed = await gzip(new Uint8Array(1 << 20).fill(0x61));
  const one = gzipReader(budget);
  const two = gzipReader(budget);
  one.reader.push(grpcMessage(packed, true));
  two.reader.push(grpcMessage(packed, true));
  await Promise.all([one.reader.pending, two.reader.pending]);
  const refused = [one, two].filter((r) => r.errors.length === 1);
  const delivered = [one, two].filter((r) => r.got.length === 1);
  assertEquals([refused.length, delivered.length], [1, 1]);
  assertEquals(refused[0].errors[0].code, Status.RESOURCE_EXHAUSTED);
  assertEquals(budget.held, (1 << 20) + OVERHEAD);
  delivered[0].reader.taken(delivered[0].got[0]);
  assertEquals(budget.held, 0);
});
