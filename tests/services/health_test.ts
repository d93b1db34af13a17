/**
 * Tests of the health service (`services/health.ts`): Watch as the gRPC
 * health-checking spec wants it (SERVICE_UNKNOWN for unknown services,
 * NOT_SERVING once the server stops), and no listener left behind per call.
 */

import { fromTsProto } from "../../rpc/service.ts";
import type { CallContext } from "../../rpc/service.ts";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthDefinition,
} from "../../gen/grpc/health/v1/health_pb.ts";
import { healthService } from "../../services/health.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { assert, assertEquals } from "../_util/assert.ts";

type Watch = (req: { service: string }, call: CallContext) => AsyncIterable<{ status: number }>;

/** An AbortSignal that counts the listeners currently added to it. */
function countedSignal(): { controller: AbortController; live: () => number } {
  const controller = new AbortController();
  const signal = controller.signal;
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, fn: EventListener, opts?: AddEventListenerOptions) => {
    listeners.add(fn);
    add(type, fn, opts);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, fn: EventListener, opts?: EventListenerOptions) => {
    listeners.delete(fn);
    remove(type, fn, opts);
  }) as typeof signal.removeEventListener;
  return { controller, live: () => listeners.size };
}

/** The parts of a call context the health handlers read. */
function ctx(signal: AbortSignal): CallContext {
  const used: Pick<CallContext, "method" | "metadata" | "signal" | "ended"> = {
    method: "/grpc.health.v1.Health/Watch",
    metadata: {},
    signal,
    // These calls end by being cancelled.
    ended: new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    ),
  };
  return used as CallContext;
}

Deno.test("health: 1000 finished Watch calls leave no listener on the server's stop signal", async () => {
  const stopping = countedSignal();
  const watch = healthService(["proto.KV"], stopping.controller.signal).handlers.watch as Watch;
  for (let i = 0; i < 1000; i++) {
    const call = new AbortController();
    const it = watch({ service: "plugin" }, ctx(call.signal))[Symbol.asyncIterator]();
    assertEquals((await it.next()).value, { status: ServingStatus.SERVING });
    const rest = it.next();
    call.abort();
    assertEquals((await rest).done, true);
  }
  assertEquals(stopping.live(), 0, "listeners left on the stop signal");
});

Deno.test("health: Watch of an unknown service answers SERVICE_UNKNOWN and keeps streaming; stop sends NOT_SERVING", async () => {
  const stopping = new AbortController();
  const watch = healthService(["proto.KV"], stopping.signal).handlers.watch as Watch;
  for (const [service, first] of [["nope", ServingStatus.SERVICE_UNKNOWN], ["proto.KV", 1]]) {
    const it = watch({ service: service as string }, ctx(new AbortController().signal))
      [Symbol.asyncIterator]();
    assertEquals((await it.next()).value, { status: first }, String(service));
  }
  const call = new AbortController();
  const it = watch({ service: "nope" }, ctx(call.signal))[Symbol.asyncIterator]();
  assertEquals((await it.next()).value, { status: ServingStatus.SERVICE_UNKNOWN });
  const next = it.next();
  stopping.abort();
  assertEquals((await next).value, { status: ServingStatus.NOT_SERVING });
  assertEquals((await it.next()).done, true);
  // A Watch that starts once the server is stopping hears NOT_SERVING at once, then ends.
  const late = watch({ service: "plugin" }, ctx(new AbortController().signal))
    [Symbol.asyncIterator]();
  assertEquals((await late.next()).value, { status: ServingStatus.NOT_SERVING });
  assertEquals((await late.next()).done, true);
});

Deno.test("health: over the wire, Watch of an unknown service stays open after SERVICE_UNKNOWN", async () => {
  await using plugin = serveInProcess({ services: [] });
  const health = plugin.client(fromTsProto(HealthDefinition));
  const abort = new AbortController();
  const it = health.watch({ service: "no.such.Service" }, { signal: abort.signal })
    [Symbol.asyncIterator]();
  assertEquals((await it.next()).value, { status: ServingStatus.SERVICE_UNKNOWN });
  let settled = false;
  const next = it.next().then((r) => (settled = true, r), (e) => (settled = true, e));
  // A whole round trip after the first message: the Watch is still open.
  assertEquals(await health.check({ service: "" }), { status: ServingStatus.SERVING });
  assert(!settled, "the Watch ended after SERVICE_UNKNOWN");
  abort.abort();
  await next;
});
