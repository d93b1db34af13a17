/**
 * The multiplexed broker's knocks and bounds, in memory: a host-side and a
 * plugin-side {@linkcode Broker} in multiplexed mode over one yamux
 * session pair, their broker streams wired to each other. (Against real
 * go-plugin peers: tests/interop/broker_mux_test.ts.)
 */

import { implement } from "../../rpc/service.ts";
import { fromTsProto } from "../../mod.ts";
import { AddHelperDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import {
  Broker,
  type BrokerConnInfo,
  BrokerError,
  multiplexBroker,
} from "../../services/broker.ts";
import { BrokerMux } from "../../services/broker_mux.ts";
import { MUX_MAX_EXPECTED } from "../../services/broker_limits.ts";
import { pipePair } from "../mux/_pipe.ts";
import { knock, muxSide } from "./_mux_side.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { assertRejects } from "../mux/_util.ts";

const logger = createLogger({ level: "off" });
const addHelperDef = fromTsProto(AddHelperDefinition);
const addHelper = implement(addHelperDef, { sum: (req) => ({ r: req.a + req.b }) });

const side = (role: "client" | "server", conn: ReturnType<typeof pipePair>[0]) =>
  muxSide(role, conn, logger);

/** Host and plugin, multiplexed, their broker streams joined; `seen` hears what each receives. */
function pair(
  seen: { host: BrokerConnInfo[]; plugin: BrokerConnInfo[] } = { host: [], plugin: [] },
) {
  const [a, b] = pipePair();
  const host = side("client", a);
  const plugin = side("server", b);
  const stop = new AbortController();
  const waiters: (() => void)[] = [];
  const pump = async (from: Broker, to: Broker, log: BrokerConnInfo[]) => {
    for await (const info of from.outgoing(stop.signal)) {
      log.push(info);
      to.receive(structuredClone(info));
      for (const w of waiters.splice(0)) w();
    }
  };
  const pumps = [
    pump(host.broker, plugin.broker, seen.plugin),
    pump(plugin.broker, host.broker, seen.host),
  ];
  return {
    host,
    plugin,
    seen,
    /** Resolves once `pred` holds after a delivery. */
    async until(pred: () => boolean): Promise<void> {
      while (!pred()) await new Promise<void>((r) => waiters.push(r));
    },
    async [Symbol.asyncDispose]() {
      stop.abort();
      await Promise.all([host.broker.close(), plugin.broker.close()]);
      await Promise.all([host.session.close(), plugin.session.close()]);
      await Promise.all(pumps);
    },
  };
}

Deno.test("broker mux: a knock that comes before acceptAndServe is answered when it comes", async () => {
  await using p = pair();
  const dialling = p.plugin.broker.dial(7);
  await p.until(() => p.seen.host.some((i) => i.serviceId === 7 && i.knock?.knock));
  assertEquals(p.seen.plugin.length, 0, "no ack before the id is served");
  await p.host.broker.acceptAndServe(7, [addHelper]);
  const conn = await dialling;
  try {
    const { r } = await conn.client(addHelperDef).sum({ a: 20n, b: 22n });
    assertEquals(String(r), "42");
  } finally {
    conn.close();
  }
});

Deno.test("broker mux: two dials at once go one after the other, each to its own id", async () => {
  await using p = pair();
  await p.host.broker.acceptAndServe(1, [addHelper]);
  await p.host.broker.acceptAndServe(2, [addHelper]);
  const conns = await Promise.all([p.plugin.broker.dial(1), p.plugin.broker.dial(2)]);
  try {
    const sums = await Promise.all(conns.map((c) => c.client(addHelperDef).sum({ a: 1n, b: 1n })));
    assertEquals(sums.map((s) => String(s.r)), ["2", "2"]);
    // The second knock went out only after the first dial's ack.
    const knocks = p.seen.host.map((i) => i.serviceId);
    const acks = p.seen.plugin.map((i) => i.serviceId);
    assertEquals([knocks, acks], [[1, 2], [1, 2]]);
  } finally {
    for (const c of conns) c.close();
  }
});

Deno.test("broker mux: knocked ids waiting for their stream are bounded", async () => {
  await using p = pair();
  await p.host.broker.acceptAndServe(3, [addHelper]);
  for (let i = 0; i <= MUX_MAX_EXPECTED; i++) p.host.broker.receive(knock(3));
  await p.until(() => p.seen.plugin.length > MUX_MAX_EXPECTED);
  const errors = p.seen.plugin.map((i) => i.knock?.ack && i.knock.error);
  assertEquals(errors.slice(0, MUX_MAX_EXPECTED), new Array(MUX_MAX_EXPECTED).fill(""));
  assert(/too many knocks waiting for their streams/.test(String(errors.at(-1))), String(errors));
});

Deno.test("broker mux: knocks for ids nobody serves are bounded too", async () => {
  await using p = pair();
  for (let id = 100; id < 100 + 64; id++) p.host.broker.receive(knock(id));
  p.host.broker.receive(knock(999));
  await p.until(() => p.seen.plugin.length >= 1);
  assertEquals(p.seen.plugin.map((i) => [i.serviceId, i.knock?.ack]), [[999, true]]);
  assert(/too many knocks for ids not served yet/.test(p.seen.plugin[0].knock!.error));
});

Deno.test("broker mux: the host resets a stream the plugin opens without a knock", async () => {
  await using p = pair();
  const stream = await p.plugin.session.open();
  await stream.write(new Uint8Array([1]));
  await assertRejects(stream.read(new Uint8Array(1)), Deno.errors.ConnectionReset);
});

Deno.test("broker mux: a dial without a session waits for one, then fails naming the id", async () => {
  const broker = new Broker({
    listen: () => Promise.reject(new Error("unused")),
    maxMessageBytes: 4 << 20,
    logger,
    program: "the plugin",
  });
  multiplexBroker(
    broker,
    new BrokerMux({
      engine: () => createNativeEngine({ maxMessageBytes: 4 << 20, logger }),
      maxMessageBytes: 4 << 20,
      logger,
      program: "the plugin",
    }),
  );
  // Acknowledge our own knock, as a host would, so that only the session is missing.
  const stop = new AbortController();
  const acking = (async () => {
    for await (const info of broker.outgoing(stop.signal)) {
      broker.receive({ ...info, knock: { knock: true, ack: true, error: "" } });
    }
  })();
  // Timers of ours do not hold the event loop (sockets do, in a plugin): hold it here.
  const hold = setTimeout(() => {}, 10_000);
  const err = await assertRejects(broker.dial(5, 100), BrokerError);
  clearTimeout(hold);
  assert(/multiplexed connection to dial broker id 5/.test(err.message), err.message);
  stop.abort();
  await broker.close();
  await acking;
});
