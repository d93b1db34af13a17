/**
 * Partial handlers, on both engines (native and grpc-js), called by our
 * client: a method left out of the handlers answers UNIMPLEMENTED with a
 * message naming it, for each call kind, from a plain object, a class
 * instance, a ts-proto definition and a protobuf-es service; a handler that
 * is there but not a function is a TypeError at `implement()`.
 *
 * @module
 */

import { fromTsProto, implement, mapHandlers } from "../../rpc/service.ts";
import { fromProtobufEs, implement as implementEs } from "../../rpc/protobuf_es.ts";
import { serviceClient } from "../../rpc/service_client.ts";
import { Status } from "../../rpc/status.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { KV } from "./gen_es/kv_pb.ts";
import { ENGINES, rejects, textMethod, withServer } from "./_engines.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

const Part = {
  name: "test.Part",
  methods: {
    here: textMethod("test.Part", "Here", "unary"),
    gone: textMethod("test.Part", "Gone", "unary"),
    list: textMethod("test.Part", "List", "serverStream"),
    sum: textMethod("test.Part", "Sum", "clientStream"),
    chat: textMethod("test.Part", "Chat", "bidiStream"),
  },
};

const message = (method: string) =>
  `method ${method} of service test.Part is not implemented by this plugin`;

/** Every method but `here` answers UNIMPLEMENTED naming it; `here` works. */
async function checkPart(client: ReturnType<typeof serviceClient<typeof Part>>): Promise<void> {
  assertEquals(await client.here("x"), "x!");
  const unary = await rejects(client.gone("x"));
  assertEquals([unary.code, unary.message], [Status.UNIMPLEMENTED, message("Gone")]);
  const list = await rejects((async () => {
    for await (const _ of client.list("x")) throw new Error("a message came");
  })());
  assertEquals([list.code, list.message], [Status.UNIMPLEMENTED, message("List")]);
  const sum = await rejects(client.sum(["a", "b"]));
  assertEquals([sum.code, sum.message], [Status.UNIMPLEMENTED, message("Sum")]);
  const chat = await rejects((async () => {
    for await (const _ of client.chat(["a"])) throw new Error("a message came");
  })());
  assertEquals([chat.code, chat.message], [Status.UNIMPLEMENTED, message("Chat")]);
}

for (const [name, engine] of Object.entries(ENGINES)) {
  Deno.test(`implement() (${name}): a method left out answers UNIMPLEMENTED naming it, every call kind`, async () => {
    const impl = implement(Part, { here: (req) => `${req}!` });
    assertEquals(impl.unimplemented, ["gone", "list", "sum", "chat"]);
    await withServer(engine, impl, ({ channel }) => checkPart(serviceClient(channel, Part)));
  });

  Deno.test(`implement() (${name}): a class instance that implements some methods; serve()'s wrapping keeps the rest UNIMPLEMENTED`, async () => {
    class Some {
      #suffix = "!";
      here(req: string) {
        return req + this.#suffix;
      }
    }
    const impl = implement(Part, new Some());
    // serve() wraps every handler (in-flight tracking, rate limit) with mapHandlers.
    const wrapped = mapHandlers(impl, (fn) => fn);
    assertEquals(wrapped.unimplemented, ["gone", "list", "sum", "chat"]);
    await withServer(engine, wrapped, ({ channel }) => checkPart(serviceClient(channel, Part)));
  });
}

Deno.test("implement(): a handler that is there but not a function is a TypeError naming it", () => {
  assertThrows(
    () => implement(Part, { here: (req) => req, gone: "nope" as never }),
    TypeError,
    /The handler for method "gone" of service "test.Part" is a string, not a function/,
  );
  assertThrows(
    () => implement(KVDefinition, { get: null as never }),
    TypeError,
    /The handler for method "get" of service "proto.KV" is null, not a function/,
  );
});

Deno.test("implement(): a ts-proto definition with only some handlers (a Partial type-checks)", async () => {
  const impl = implement(KVDefinition, {
    get: (req) => ({ value: new TextEncoder().encode(req.key) }),
  });
  assertEquals(impl.unimplemented, ["put"]);
  await using plugin = serveInProcess({ services: [impl] });
  const kv = plugin.client(fromTsProto(KVDefinition));
  assertEquals(new TextDecoder().decode((await kv.get({ key: "k" })).value), "k");
  const err = await rejects(kv.put({ key: "k", value: new Uint8Array() }));
  assertEquals([err.code, err.message], [
    Status.UNIMPLEMENTED,
    "method Put of service proto.KV is not implemented by this plugin",
  ]);
});

Deno.test("implement() of ./protobuf-es: a service with only some handlers (a Partial type-checks)", async () => {
  const impl = implementEs(KV, { put: () => ({}) });
  assertEquals(impl.unimplemented, ["get"]);
  await using plugin = serveInProcess({ services: [impl] });
  const kv = plugin.client(fromProtobufEs(KV));
  await kv.put({ key: "k" });
  const err = await rejects(kv.get({ key: "k" }));
  assertEquals(err.code, Status.UNIMPLEMENTED);
  assert(err.message.includes("method Get of service proto.KV"), err.message);
});

Deno.test("implement(): nothing unimplemented, no list", () => {
  const impl = implement(KVDefinition, {
    get: () => ({ value: new Uint8Array() }),
    put: () => ({}),
  });
  assertEquals(impl.unimplemented, undefined);
});
