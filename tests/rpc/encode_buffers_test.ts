/**
 * Tests of the lent buffers of large encoded messages (rpc/encode_buffers.ts):
 * ts-proto's encoder writes the next large message into a buffer given
 * back, only a buffer given back is written again, and a server's large
 * responses, several at once, arrive as they were made.
 *
 * @module
 */

import { fromTsProto, implement } from "../../rpc/service.ts";
import { isLent, recycleEncoded } from "../../rpc/encode_buffers.ts";
import { GetResponse, KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { assert, assertEquals } from "../_util/assert.ts";

const KV = fromTsProto(KVDefinition);
const encode = KV.methods.get.response.encode as (v: { value: Uint8Array }) => Uint8Array;

/** A value of `n` bytes patterned by `seed`, so two values and a misplaced chunk differ. */
function value(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17 + (i >>> 11)) & 0xff;
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

Deno.test("encode buffers: a large message's buffer, given back, takes the next one; one not given back never does", () => {
  // The writer class is checked on its first message (service.ts, finishChecked).
  assert(!isLent(encode({ value: value(100, 0) })), "a small message is not lent");
  const first = encode({ value: value(300_000, 1) });
  assert(isLent(first), "a large message is lent");
  recycleEncoded(first);
  assert(!isLent(first), "given back");
  const second = encode({ value: value(300_000, 3) });
  assert(second.buffer === first.buffer, "the buffer given back is written into");
  assert(same(GetResponse.decode(second).value, value(300_000, 3)), "the second message");
  const third = encode({ value: value(300_000, 4) });
  assert(third.buffer !== second.buffer, "a buffer not given back is not written into");
  assert(same(GetResponse.decode(second).value, value(300_000, 3)), "the second, unchanged");
  assert(same(GetResponse.decode(third).value, value(300_000, 4)), "the third message");
  recycleEncoded(new Uint8Array(300_000)); // not lent: ignored
  recycleEncoded(second);
  recycleEncoded(second); // twice: the second time is ignored
  const fourth = encode({ value: value(300_000, 5) });
  const fifth = encode({ value: value(300_000, 6) });
  assert(fourth.buffer === second.buffer && fifth.buffer !== second.buffer, "given back once");
});

Deno.test("encode buffers: a server's large responses, several at once and one after another, arrive as made", async () => {
  const SIZE = 700_000;
  const plugin = serveInProcess({
    services: [implement(KV, {
      get: (req) => ({ value: value(SIZE, Number(req.key)) }),
      put: () => ({}),
    })],
  });
  try {
    const client = plugin.client(KV);
    for (let round = 0; round < 4; round++) {
      // Several responses encoded in the same turns, while the ones before
      // are still being framed: a buffer given back too early would carry
      // another call's bytes.
      const keys = [0, 1, 2, 3].map((i) => String(round * 4 + i));
      const got = await Promise.all(keys.map((key) => client.get({ key })));
      for (const [i, res] of got.entries()) {
        assert(same(res.value, value(SIZE, Number(keys[i]))), `round ${round}, call ${i}`);
      }
      assertEquals((await client.get({ key: "99" })).value.length, SIZE);
    }
  } finally {
    await plugin.kill();
  }
});
