// implement() from ./protobuf-es takes protobuf-es v2 service descriptors
// as generated (tests/rpc/gen_es/kv_pb.ts, made by deno task gen with
// protoc-gen-es), one call, and the main implement() says where to go.
import { create } from "@bufbuild/protobuf";
import { fromProtobufEs, implement } from "../../rpc/protobuf_es.ts";
import { implement as implementMain } from "../../mod.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { GetResponseSchema, KV, type PutRequest } from "./gen_es/kv_pb.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

class Store {
  #m = new Map<string, Uint8Array>();
  get(req: { key: string }) {
    return create(GetResponseSchema, { value: this.#m.get(req.key) ?? new Uint8Array() });
  }
  put(req: PutRequest) {
    this.#m.set(req.key, req.value);
    return {}; // a plain init object
  }
}

Deno.test("protobuf-es: a GenService and a class instance, one call, over the wire", async () => {
  const plugin = serveInProcess({ services: [implement(KV, new Store())] });
  try {
    const kv = plugin.client(fromProtobufEs(KV));
    await kv.put({ key: "a", value: new Uint8Array([1, 2, 3]) });
    const res = await kv.get({ key: "a" });
    assertEquals(res.$typeName, "proto.GetResponse");
    assertEquals([...res.value], [1, 2, 3]);
  } finally {
    await plugin.kill();
  }
});

Deno.test("protobuf-es: paths and kinds come from the descriptor", () => {
  const def = fromProtobufEs(KV);
  assertEquals(def.name, "proto.KV");
  assertEquals(def.methods.get.path, "/proto.KV/Get");
  assertEquals(def.methods.put.kind, "unary");
});

Deno.test("protobuf-es: its implement() refuses a ts-proto definition, naming the other", () => {
  // deno-lint-ignore no-explicit-any
  const e = assertThrows(() => implement(KVDefinition as any, {}), TypeError);
  assert(e.message.includes("implement() of @rpcplugin/rpcplugin"), e.message);
});

Deno.test("protobuf-es: a handler that is not a function is named", () => {
  const e = assertThrows(() => implement(KV, { get: () => ({}), put: 1 as never }), TypeError);
  assert(e.message.includes('"put"'), e.message);
});

Deno.test("the main implement() points a protobuf-es descriptor to ./protobuf-es", () => {
  // deno-lint-ignore no-explicit-any
  const e = assertThrows(() => implementMain(KV as any, {} as any), TypeError);
  assert(e.message.includes("@rpcplugin/rpcplugin/protobuf-es"), e.message);
});
