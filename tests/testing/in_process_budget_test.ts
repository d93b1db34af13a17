/**
 * `serveInProcess({ maxPartialMessageBytes })` bounds the in-memory
 * connection as `serve()` bounds a real one: two bidi calls whose handlers
 * never read each send one gzip request that decompresses to 768 KiB; with a
 * 1 MiB budget one of them is refused with RESOURCE_EXHAUSTED naming the
 * option and its value, the other is held and ends OK once its handler
 * returns (were the option ignored, the default 256 MiB would refuse
 * neither and the test fails). A value that is not a positive integer is a
 * RangeError that names the option.
 *
 * @module
 */

import { implement, RpcError, Status } from "../../mod.ts";
import type { Codec, MethodDefinition } from "../../rpc/service.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { assert, assertEquals } from "../_util/assert.ts";

const bytes: Codec<Uint8Array> = { encode: (b) => b, decode: (b) => b };
const HOLD: MethodDefinition<Uint8Array, Uint8Array, "bidiStream"> = {
  path: "/rpcplugin.test.Hold/Hold",
  kind: "bidiStream",
  request: bytes,
  response: bytes,
};
const HoldDefinition = { name: "rpcplugin.test.Hold", methods: { hold: HOLD } } as const;
/** What each request decompresses to: three quarters of the small budget. */
const INFLATED = 768 << 10;
/** Long enough for a loaded machine; a call that never ends fails the test instead of hanging it. */
const CALL_MS = 10_000;

Deno.test("serveInProcess: maxPartialMessageBytes refuses a gzip request past the budget while another is held", async () => {
  const release = Promise.withResolvers<void>();
  // The handler never reads its requests, so each call keeps its message until it returns.
  const hold = implement(HoldDefinition, {
    // deno-lint-ignore require-yield
    hold: async function* () {
      await release.promise;
    },
  });
  await using plugin = serveInProcess({ services: [hold], maxPartialMessageBytes: 1 << 20 });
  const client = plugin.client(HoldDefinition);
  const call = async (): Promise<string> => {
    async function* requests() {
      yield new Uint8Array(INFLATED);
      await release.promise;
    }
    try {
      for await (const _ of client.hold(requests(), { compression: "gzip", timeoutMs: CALL_MS })) {
        // The handler answers nothing.
      }
      return "OK";
    } catch (err) {
      if (!(err instanceof RpcError)) throw err;
      return `code ${err.code}: ${err.message}`;
    }
  };
  const calls = [call(), call()];
  // Neither call can end before release but the refused one (without the budget, both would
  // wait for their deadline).
  const refused = await Promise.race(calls);
  release.resolve();
  const ended = await Promise.all(calls);
  const held = ended[ended.indexOf(refused) === 0 ? 1 : 0];
  assert(refused.startsWith(`code ${Status.RESOURCE_EXHAUSTED}: `), refused);
  assert(/maxPartialMessageBytes \(1048576 bytes\)/.test(refused), refused);
  assertEquals(held, "OK");
});

Deno.test("serveInProcess: a maxPartialMessageBytes that is not a positive integer is a RangeError naming it", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    let caught: unknown;
    try {
      serveInProcess({ services: [], maxPartialMessageBytes: bad });
    } catch (err) {
      caught = err;
    }
    assert(caught instanceof RangeError, `${bad}: ${caught}`);
    assert(/maxPartialMessageBytes/.test(caught.message), caught.message);
  }
});
