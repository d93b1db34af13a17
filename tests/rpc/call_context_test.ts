/**
 * The handler's response API of `CallContext` (setHeaders, setTrailers,
 * setResponseCompression, requestCompressed) on both engines, the native
 * one and grpc-js, each serving on a loopback TCP port and called by our
 * client: the same handler code gives the client the same metadata and the
 * same errors on either engine.
 *
 * @module
 */

import type { CallContext, CallKind } from "../../rpc/service.ts";
import { implement } from "../../rpc/service.ts";
import { serviceClient } from "../../rpc/service_client.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import type { Metadata } from "../../rpc/wire.ts";
import type { EngineFactory } from "../../server/engine.ts";
import { ENGINES, textMethod, withServer } from "./_engines.ts";
import { assert, assertEquals } from "../_util/assert.ts";

function method<K extends CallKind>(name: string, kind: K) {
  return textMethod("test.Ctx", name, kind);
}

const CtxService = {
  name: "test.Ctx",
  methods: {
    meta: method("Meta", "unary"),
    fail: method("Fail", "unary"),
    late: method("Late", "serverStream"),
    zip: method("Zip", "unary"),
    flag: method("Flag", "clientStream"),
  },
};

/** What the handlers saw or threw, for the test to check after the call. */
interface Observed {
  lateError?: string;
  afterEnd?: string;
  ctx?: CallContext;
  flags: boolean[];
}

function ctxService(seen: Observed) {
  return implement(CtxService, {
    meta: (req, call) => {
      call.setHeaders({ "x-h": req, "x-h-bin": new Uint8Array([0, 255]) });
      call.setTrailers({ "x-t": "t", "x-t-bin": new Uint8Array([7]) });
      return req;
    },
    fail: (_req, call) => {
      call.setHeaders({ "x-h": "before the error" });
      call.setTrailers({ "x-t": "with the error" });
      throw new RpcError(Status.FAILED_PRECONDITION, "not now");
    },
    late: async function* (_req, call) {
      seen.ctx = call;
      yield "first";
      try {
        call.setHeaders({ "x-late": "1" });
      } catch (err) {
        seen.lateError = `${(err as Error).name}: ${(err as Error).message}`;
      }
      yield "second";
    },
    zip: (req, call) => {
      call.setResponseCompression("gzip");
      return req.repeat(1000);
    },
    flag: async (reqs, call) => {
      for await (const _ of reqs) seen.flags.push(call.requestCompressed);
      return String(seen.flags.length);
    },
  });
}

async function withEngine(
  engine: EngineFactory,
  fn: (
    client: ReturnType<typeof serviceClient<typeof CtxService>>,
    seen: Observed,
  ) => Promise<void>,
): Promise<void> {
  const seen: Observed = { flags: [] };
  await withServer(
    engine,
    ctxService(seen),
    ({ channel }) => fn(serviceClient(channel, CtxService), seen),
  );
}

function recording() {
  const seen: { headers?: Metadata; trailers?: Metadata } = {};
  return {
    seen,
    options: {
      onHeaders: (md: Metadata) => (seen.headers = md),
      onTrailers: (md: Metadata) => (seen.trailers = md),
    },
  };
}

for (const [name, engine] of Object.entries(ENGINES)) {
  Deno.test(`CallContext (${name}): setHeaders and setTrailers reach the client, -bin as bytes`, () =>
    withEngine(engine, async (client) => {
      const { seen, options } = recording();
      assertEquals(await client.meta("v", options), "v");
      assertEquals(seen.headers?.["x-h"], ["v"]);
      assertEquals(seen.headers?.["x-h-bin"], [new Uint8Array([0, 255])]);
      assertEquals(seen.trailers?.["x-t"], ["t"]);
      assertEquals(seen.trailers?.["x-t-bin"], [new Uint8Array([7])]);
    }));

  Deno.test(`CallContext (${name}): a failing handler's headers and trailers still arrive`, () =>
    withEngine(engine, async (client) => {
      const { seen, options } = recording();
      let error: unknown;
      try {
        await client.fail("x", options);
      } catch (err) {
        error = err;
      }
      assert(error instanceof RpcError, `error: ${error}`);
      assertEquals([error.code, error.message], [Status.FAILED_PRECONDITION, "not now"]);
      assertEquals(seen.headers?.["x-h"], ["before the error"]);
      assertEquals(seen.trailers?.["x-t"], ["with the error"]);
    }));

  Deno.test(`CallContext (${name}): setHeaders after the first message, setTrailers after the end: TypeError`, () =>
    withEngine(engine, async (client, seen) => {
      const got: string[] = [];
      for await (const r of client.late("x")) got.push(r);
      assertEquals(got, ["first", "second"]);
      assertEquals(
        seen.lateError,
        "TypeError: The response headers of /test.Ctx/Late are already sent (they go out with " +
          "the first response message, or when the call ends): call setHeaders before that",
      );
      let afterEnd = "";
      try {
        seen.ctx!.setTrailers({ "x-t": "late" });
      } catch (err) {
        afterEnd = (err as Error).message;
      }
      assertEquals(
        afterEnd,
        "/test.Ctx/Late has already ended: its trailers went out with the status",
      );
    }));

  Deno.test(`CallContext (${name}): requestCompressed, and gzip responses where the engine can`, () =>
    withEngine(engine, async (client, seen) => {
      assertEquals(await client.flag(["a", "b"], { compression: "gzip" }), "2");
      assertEquals(await client.flag(["c"]), "3");
      assertEquals(seen.flags, [true, true, false]);
      const flags: boolean[] = [];
      const res = await client.zip("ab", { onResponseMessage: (c) => flags.push(c) });
      assertEquals(res, "ab".repeat(1000));
      // grpc-js never compresses a response.
      assertEquals(flags, [name === "native"]);
    }));
}
