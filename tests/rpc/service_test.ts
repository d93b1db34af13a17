import { fromTsProto, implement } from "../../rpc/service.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { GRPCStdioDefinition } from "../../gen/plugin/grpc_stdio_pb.ts";
import { GRPCBrokerDefinition } from "../../gen/plugin/grpc_broker_pb.ts";
import { assertEquals, assertThrows } from "../_util/assert.ts";

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

Deno.test("implement() insists on a handler for every method", () => {
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => implement(fromTsProto(KVDefinition), { get: () => ({ value: new Uint8Array() }) } as any),
    TypeError,
    /No handler for method "put" of service "proto.KV"/,
  );
});
