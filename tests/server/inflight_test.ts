import { InFlight } from "../../server/inflight.ts";
import { fromTsProto, implement } from "../../rpc/service.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { assert, assertEquals } from "../_util/assert.ts";

const KV = fromTsProto(KVDefinition);

Deno.test("InFlight.track counts a unary call until its answer settles: value, throw, promise, rejection", async () => {
  const inFlight = new InFlight();
  let release!: (v: { value: Uint8Array }) => void;
  let fail!: (err: Error) => void;
  const modes = ["value", "throw", "promise", "reject"];
  let mode = 0;
  const service = inFlight.track(implement(KV, {
    // Answers in each of the ways a handler may (the typed signature allows one at a time).
    get: ((): unknown => {
      switch (modes[mode]) {
        case "value":
          return { value: new Uint8Array([1]) };
        case "throw":
          throw new Error("sync failure");
        case "promise":
          return new Promise((resolve) => (release = resolve));
        default:
          return new Promise((_, reject) => (fail = reject));
      }
    }) as never,
    put: () => ({}),
  }));
  const get = service.handlers.get as (req: unknown, call: unknown) => unknown;

  assertEquals(get({ key: "k" }, {}), { value: new Uint8Array([1]) }); // a value stays a value
  assertEquals(inFlight.count, 0);

  mode = 1;
  const thrown = get({ key: "k" }, {}) as Promise<unknown>;
  assert(thrown instanceof Promise, "a synchronous throw did not come back as a rejected promise");
  assertEquals(inFlight.count, 0);
  assertEquals(await thrown.catch((e: Error) => e.message), "sync failure");

  mode = 2;
  const answered = get({ key: "k" }, {}) as Promise<unknown>;
  assertEquals(inFlight.count, 1);
  const idle = inFlight.idle(60_000);
  release({ value: new Uint8Array([2]) });
  assertEquals(await answered, { value: new Uint8Array([2]) });
  assertEquals([inFlight.count, await idle], [0, true]);

  mode = 3;
  const rejected = get({ key: "k" }, {}) as Promise<unknown>;
  assertEquals(inFlight.count, 1);
  fail(new Error("async failure"));
  assertEquals(await rejected.catch((e: Error) => e.message), "async failure");
  assertEquals(inFlight.count, 0);
});
