import { TokenBucket } from "../../server/ratelimit.ts";
import { fromTsProto, implement } from "../../rpc/service.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

Deno.test("TokenBucket allows a burst, then refills at the rate", () => {
  let t = 0;
  const b = new TokenBucket({ rate: 2, burst: 3 }, () => t);
  assertEquals([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  t = 499;
  assertEquals(b.take(), false);
  t = 500; // one token after 0.5 s at 2/s
  assertEquals([b.take(), b.take()], [true, false]);
  t = 100_000; // never more than the burst
  assertEquals([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
});

Deno.test("TokenBucket rejects nonsense settings", () => {
  assertThrows(() => new TokenBucket({ rate: 0, burst: 1 }), RangeError, /rate > 0 and burst >= 1/);
  assertThrows(() => new TokenBucket({ rate: 1, burst: 0 }), RangeError, /got rate 1, burst 0/);
});

Deno.test("TokenBucket.guard() answers RESOURCE_EXHAUSTED over the limit", async () => {
  const kv = implement(fromTsProto(KVDefinition), {
    get: () => ({ value: new Uint8Array([1]) }),
    put: () => ({}),
  });
  const guarded = new TokenBucket({ rate: 1, burst: 1 }, () => 0).guard(kv);
  assertEquals((await guarded.handlers.get({ key: "a" }) as { value: Uint8Array }).value.length, 1);
  const err = assertThrows(
    () => guarded.handlers.get({ key: "a" }),
    RpcError,
    /rate limit exceeded for \/proto.KV\/Get/,
  );
  assert(err.code === Status.RESOURCE_EXHAUSTED, "status");
});
