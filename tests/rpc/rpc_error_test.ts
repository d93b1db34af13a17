/**
 * `RpcError`'s metadata, details and cause: what a handler throws reaches
 * our client's RpcError (`.metadata` the trailers, `.details` the
 * `grpc-status-details-bin` bytes) on both engines, trailers-only and after
 * response messages; the google.rpc.Status helpers round-trip and read
 * bytes another encoder made. The same against grpc-go, both ways, is in
 * tests/interop/status_details_test.ts.
 *
 * @module
 */

import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { implement } from "../../rpc/service.ts";
import { serviceClient } from "../../rpc/service_client.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { decodeStatusDetails, encodeStatusDetails } from "../../rpc/status_details.ts";
import type { EngineFactory } from "../../server/engine.ts";
import { ENGINES, rejects, textMethod, withServer } from "./_engines.ts";
import { assertEquals, assertThrows } from "../_util/assert.ts";

const ErrService = {
  name: "test.Err",
  methods: {
    fail: textMethod("test.Err", "Fail", "unary"),
    late: textMethod("test.Err", "Late", "serverStream"),
  },
};

const DETAILS = encodeStatusDetails({
  code: Status.FAILED_PRECONDITION,
  message: "not ready",
  details: [
    { typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: new Uint8Array([10, 1, 82]) },
    { typeUrl: "type.googleapis.com/test.Empty", value: new Uint8Array() },
  ],
});

function failure(): RpcError {
  return new RpcError(Status.FAILED_PRECONDITION, "not ready", {
    metadata: { "X-Why": "warming up", "x-why-bin": new Uint8Array([0, 1, 255]) },
    details: DETAILS,
    cause: new Error("the cache is cold"),
  });
}

function withEngine(
  engine: EngineFactory,
  fn: (client: ReturnType<typeof serviceClient<typeof ErrService>>) => Promise<void>,
): Promise<void> {
  const service = implement(ErrService, {
    fail: (_req, call) => {
      call.setTrailers({ "x-own": "set by the handler" });
      throw failure();
    },
    late: async function* () {
      yield "one";
      await Promise.resolve();
      throw failure();
    },
  });
  return withServer(engine, service, ({ channel }) => fn(serviceClient(channel, ErrService)));
}

for (const [name, engine] of Object.entries(ENGINES)) {
  Deno.test(`RpcError (${name}): metadata and details reach the client, trailers-only`, () =>
    withEngine(engine, async (client) => {
      const err = await rejects(client.fail("x"));
      assertEquals([err.code, err.message], [Status.FAILED_PRECONDITION, "not ready"]);
      assertEquals(err.metadata["x-why"], ["warming up"]);
      assertEquals(err.metadata["x-why-bin"], [new Uint8Array([0, 1, 255])]);
      assertEquals(err.metadata["x-own"], ["set by the handler"]);
      assertEquals(err.metadata["grpc-status-details-bin"], undefined);
      assertEquals(err.details, DETAILS);
      assertEquals(decodeStatusDetails(err.details!).details[0].value, new Uint8Array([10, 1, 82]));
    }));

  Deno.test(`RpcError (${name}): metadata and details reach the client after response messages`, () =>
    withEngine(engine, async (client) => {
      const got: string[] = [];
      const err = await rejects((async () => {
        for await (const r of client.late("x")) got.push(r);
      })());
      assertEquals(got, ["one"]);
      assertEquals(err.code, Status.FAILED_PRECONDITION);
      assertEquals(err.metadata["x-why"], ["warming up"]);
      assertEquals(err.details, DETAILS);
    }));
}

Deno.test("RpcError: options are checked as setTrailers checks them; cause is Error's", () => {
  const err = failure();
  assertEquals(err.metadata, {
    "x-why": ["warming up"],
    "x-why-bin": [new Uint8Array([0, 1, 255])],
  });
  assertEquals((err.cause as Error).message, "the cache is cold");
  assertEquals(new RpcError(Status.INTERNAL, "x").metadata, {});
  assertEquals(new RpcError(Status.INTERNAL, "x").details, undefined);
  assertEquals("cause" in new RpcError(Status.INTERNAL, "x"), false);
  assertThrows(
    () => new RpcError(Status.INTERNAL, "x", { metadata: { "grpc-status": "0" } }),
    TypeError,
    /reserved by gRPC/,
  );
  assertThrows(
    () => new RpcError(Status.INTERNAL, "x", { metadata: { "x-raw": new Uint8Array([1]) } }),
    TypeError,
    /must end in "-bin"/,
  );
  // What grpc-js would refuse when sending (and crash on, in its error path), or HTTP/2 forbids.
  assertThrows(
    () => new RpcError(Status.INTERNAL, "x", { metadata: { "x y": "1" } }),
    TypeError,
    /not a valid gRPC metadata name/,
  );
  assertThrows(
    () => new RpcError(Status.INTERNAL, "x", { metadata: { "x-t": "caf\u00e9" } }),
    TypeError,
    /only printable ASCII/,
  );
});

Deno.test("status details: round trip, and bytes written field by field as protoc would", () => {
  const status = {
    code: Status.NOT_FOUND,
    message: "no such key: ü",
    details: [{ typeUrl: "type.googleapis.com/x.Y", value: new Uint8Array([1, 2, 3]) }],
  };
  assertEquals(decodeStatusDetails(encodeStatusDetails(status)), status);
  assertEquals(decodeStatusDetails(encodeStatusDetails({ code: 0, message: "", details: [] })), {
    code: 0,
    message: "",
    details: [],
  });
  // Fields in another order, an unknown field (9), a negative code.
  const any = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(new Uint8Array([7]))
    .tag(1, WireType.LengthDelimited).string("t/u").finish();
  const bytes = new BinaryWriter()
    .tag(3, WireType.LengthDelimited).bytes(any)
    .tag(9, WireType.Varint).int32(5)
    .tag(2, WireType.LengthDelimited).string("m")
    .tag(1, WireType.Varint).int32(-1)
    .finish();
  assertEquals(decodeStatusDetails(bytes), {
    code: -1,
    message: "m",
    details: [{ typeUrl: "t/u", value: new Uint8Array([7]) }],
  });
});
