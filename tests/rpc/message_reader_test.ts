/**
 * Tests of the message reader (`rpc/message_reader.ts`) by itself: messages
 * cut anywhere, its identity path, decompression order and failures. What
 * it holds of the budget: message_budget_test.ts; on the public paths:
 * unread_*_test.ts and partial_budget_*_test.ts.
 *
 * @module
 */

import { RpcError, Status } from "../../rpc/status.ts";
import { MessageReader } from "../../rpc/message_reader.ts";
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
