import { fromTsProto, implement, mapHandlers } from "../../rpc/service.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { GRPCStdioDefinition } from "../../gen/plugin/grpc_stdio_pb.ts";
import { ConnInfo, GRPCBrokerDefinition } from "../../gen/plugin/grpc_broker_pb.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { serveInProcess } from "../../testing/mod.ts";

Deno.test("fromTsProto() derives wire paths, call kinds and codecs", () => {
  const kv = fromTsProto(KVDefinition);
  assertEquals([kv.name, kv.methods.get.path, kv.methods.put.kind], [
    "proto.KV",
    "/proto.KV/Get",
    "unary",
  ]);
  assertEquals(fromTsProto(GRPCStdioDefinition).methods.streamStdio.kind, "serverStream");
  assertEquals(fromTsProto(GRPCBrokerDefinition).methods.startStream.kind, "bidiStream");
  const bytes = kv.methods.put.request.encode({ key: "k", value: new Uint8Array([1, 2]) });
  assertEquals([...bytes], [10, 1, 107, 18, 2, 1, 2]);
  const back = kv.methods.put.request.decode(bytes);
  assertEquals([back.key, [...back.value]], ["k", [1, 2]]);
});

Deno.test("fromTsProto() codecs reuse one writer: each message's bytes are its own, after a failed or a large one too", () => {
  const put = fromTsProto(KVDefinition).methods.put.request;
  const first = put.encode({ key: "a", value: new Uint8Array([1]) });
  const second = put.encode({ key: "bb", value: new Uint8Array([2, 3]) });
  assertEquals([...first], [10, 1, 97, 18, 1, 1]);
  assertEquals([...second], [10, 2, 98, 98, 18, 2, 2, 3]);
  // A value that is not bytes fails inside the writer, half written.
  assertThrows(() => put.encode({ key: "c", value: 7 as unknown as Uint8Array }), Error);
  assertEquals([...put.encode({ key: "d", value: new Uint8Array() })], [10, 1, 100]);
  const big = put.encode({ key: "e", value: new Uint8Array(100_000).fill(9) });
  assertEquals([big.length, big[big.length - 1]], [100_007, 9]);
  assertEquals([...put.encode({ key: "f", value: new Uint8Array([4]) })], [10, 1, 102, 18, 1, 4]);
  assertEquals([...first], [10, 1, 97, 18, 1, 1]); // not overwritten by the later ones
});

Deno.test("fromTsProto() codecs take ts-proto's bytes without finish()'s copy, as finish() gives them", () => {
  const put = fromTsProto(KVDefinition).methods.put.request;
  put.encode({ key: "warm", value: new Uint8Array([1]) }); // the writer class's first message is checked
  // Small messages: views into one shared buffer, each its own bytes.
  const a = put.encode({ key: "a", value: new Uint8Array([1]) });
  const b = put.encode({ key: "b", value: new Uint8Array([2]) });
  assertEquals(a.buffer, b.buffer);
  assert(a.buffer.byteLength > a.length, "a small message is no ArrayBuffer of its own");
  assertEquals([...a], [10, 1, 97, 18, 1, 1]);
  assertEquals([...b], [10, 1, 98, 18, 1, 2]);
  // A large one: a view of its writer's buffer (no second copy of 200 kB).
  const value = new Uint8Array(200_000).map((_, i) => i);
  const big = put.encode({ key: "e", value });
  assert(big.buffer.byteLength > big.length, "a large message is a view of its writer's buffer");
  assertEquals(big.length, 200_007);
  assert(big.subarray(7).every((v, i) => v === value[i]), "the large message's value");
  // The next message does not write over it (its writer was given up).
  put.encode({ key: "f", value: new Uint8Array(100_000).fill(7) });
  assert(big.subarray(7).every((v, i) => v === value[i]), "the large message is not written over");
  // Nested messages (fork/join), against ts-proto's own finish().
  const conn = fromTsProto(GRPCBrokerDefinition).methods.startStream.request;
  for (const address of ["x", "y".repeat(300), "z".repeat(70_000)]) {
    const info = {
      serviceId: 3,
      network: "unix",
      address,
      knock: { knock: true, ack: false, error: address.slice(0, 5) },
    };
    assertEquals([...conn.encode(info)], [...ConnInfo.encode(info).finish()]);
  }
});

Deno.test("fromTsProto() codecs take a writer of another kind through its finish()", () => {
  let made = 0;
  const fns = {
    encode: (_m: unknown, _w?: unknown) => ({ finish: () => new Uint8Array([1, 2, ++made]) }),
    decode: () => ({}),
  };
  const def = fromTsProto({
    fullName: "t.T",
    methods: {
      m: {
        name: "M",
        requestType: fns,
        responseType: fns,
        requestStream: false,
        responseStream: false,
      },
    },
  });
  for (let i = 1; i <= 3; i++) assertEquals([...def.methods.m.request.encode({})], [1, 2, i]);
});

/** A one-method definition over `fns`, to drive fromTsProto()'s codecs with a writer of ours. */
function oneMethod(fns: { encode: (m: unknown, w?: never) => unknown; decode: () => unknown }) {
  return fromTsProto({
    fullName: "t.T",
    methods: {
      m: {
        name: "M",
        requestType: fns as never,
        responseType: fns as never,
        requestStream: false,
        responseStream: false,
      },
    },
  }).methods.m.request;
}

/** How often each writer's finish() ran (kept off the writers: an own field is a case below). */
const finishes = new WeakMap<object, number>();

/**
 * A writer with ts-proto's `buffer`/`pos`/`stackPos` and nothing else,
 * writing `[marker, k]` for its `k`-th message.
 */
class LookalikeWriter {
  buffer = new Uint8Array(64);
  pos = 0;
  stackPos: number[] = [];
  static marker = 0;
  write(): this {
    this.buffer[this.pos++] = (this.constructor as typeof LookalikeWriter).marker;
    this.buffer[this.pos++] = (finishes.get(this) ?? 0) + 1;
    return this;
  }
  finish(): Uint8Array {
    finishes.set(this, (finishes.get(this) ?? 0) + 1);
    const out = this.buffer.slice(0, this.pos);
    this.pos = 0;
    return out;
  }
}

Deno.test("fromTsProto() codecs take a writer that only looks like ts-proto's through its finish(), every message", () => {
  // A writer class lacking what the copy-free path relies on, or with more; and, as the
  // control, one with just ts-proto's fields, copy-free after its first message.
  const cases: [string, typeof LookalikeWriter, number][] = [
    [
      "ts-proto's fields only (the control)",
      class extends LookalikeWriter {
        static override marker = 1;
      },
      1,
    ],
    [
      "another field, which finish() resets",
      class extends LookalikeWriter {
        static override marker = 2;
        pending = 0;
        override write(): this {
          this.pending++;
          return super.write();
        }
        override finish(): Uint8Array {
          this.pending = 0;
          return super.finish();
        }
      },
      4,
    ],
    [
      "no stackPos",
      class extends LookalikeWriter {
        static override marker = 3;
        constructor() {
          super();
          delete (this as { stackPos?: unknown }).stackPos;
        }
      },
      4,
    ],
    [
      "finish() other than buffer[0, pos)",
      class extends LookalikeWriter {
        static override marker = 4;
        override finish(): Uint8Array {
          return super.finish().reverse();
        }
      },
      4,
    ],
  ];
  for (const [what, Writer, finished] of cases) {
    let writer: LookalikeWriter | undefined;
    const encode = oneMethod({
      encode: (_m, given?: LookalikeWriter) => (writer = given ?? new Writer()).write(),
      decode: () => ({}),
    }).encode;
    const out = [0, 1, 2, 3].map(() => [...encode({})]);
    assertEquals(finishes.get(writer!), finished, `${what}: finish() calls for 4 messages`);
    const reversed = what.startsWith("finish()");
    for (const [i, bytes] of out.entries()) {
      // Copy-free, the k-th message counts only the finish() calls before it.
      const k = Math.min(i, finished) + 1;
      const expected = [Writer.marker, k];
      assertEquals(bytes, reversed ? expected.reverse() : expected, `${what}: message ${i + 1}`);
    }
  }
});

Deno.test("fromTsProto() codecs: large and small responses side by side arrive intact through serveInProcess()", async () => {
  const store = new Map<string, Uint8Array>();
  const impl = implement(KVDefinition, {
    get: (req: { key: string }) => ({ value: store.get(req.key) ?? new Uint8Array() }),
    put: (req: { key: string; value: Uint8Array }) => {
      store.set(req.key, req.value);
      return {};
    },
  });
  await using plugin = serveInProcess({ services: [impl] });
  const kv = plugin.client(fromTsProto(KVDefinition));
  const big = new Uint8Array(5 << 20).map((_, i) => (i * 31 + (i >>> 16)) & 0xff);
  store.set("big", big);
  store.set("small", new Uint8Array([1, 2, 3]));
  // Bulk DATA and small calls interleaved on one connection, several rounds.
  for (let round = 0; round < 3; round++) {
    const calls = [kv.get({ key: "big" }), kv.get({ key: "small" }), kv.get({ key: "big" })];
    const [a, b, c] = await Promise.all(calls);
    for (const r of [a, c]) {
      assertEquals(r.value.length, big.length);
      assert(r.value.every((v, i) => v === big[i]), `round ${round}: the 5 MiB value`);
    }
    assertEquals([...b.value], [1, 2, 3]);
  }
});

Deno.test("implement() binds a class instance's methods and takes ts-proto's definition directly", async () => {
  class Kv {
    #store = new Map<string, Uint8Array>();
    notAMethod = 42;
    get(req: { key: string }) {
      return { value: this.#store.get(req.key) ?? new Uint8Array() };
    }
    put(req: { key: string; value: Uint8Array }) {
      this.#store.set(req.key, req.value);
      return {};
    }
  }
  const impl = implement(KVDefinition, new Kv());
  assertEquals(impl.definition.name, "proto.KV");
  assertEquals(Object.keys(impl.handlers).sort(), ["get", "put"]);
  const plugin = serveInProcess({ services: [impl] });
  try {
    const kv = plugin.client(fromTsProto(KVDefinition));
    await kv.put({ key: "a", value: new Uint8Array([7]) });
    assertEquals([...(await kv.get({ key: "a" })).value], [7]);
  } finally {
    await plugin.kill();
  }
});

Deno.test("implement() ignores a handlers object's other properties; the wrapping serve() does takes it", async () => {
  const handlers = {
    get: (req: { key: string }) => ({ value: new TextEncoder().encode(req.key) }),
    put: () => ({}),
    version: "1.2.3",
    helper: () => "not a method of the service",
  };
  const impl = implement(KVDefinition, handlers);
  assertEquals(Object.keys(impl.handlers).sort(), ["get", "put"]);
  // serve() wraps every handler (in-flight tracking, rate limit) with mapHandlers.
  const wrapped = mapHandlers(impl, (fn, method) => {
    assertEquals(typeof method.path, "string");
    return fn;
  });
  await using plugin = serveInProcess({ services: [wrapped] });
  const kv = plugin.client(fromTsProto(KVDefinition));
  assertEquals(new TextDecoder().decode((await kv.get({ key: "k" })).value), "k");
});
