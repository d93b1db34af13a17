/**
 * The broker's bounds on what the other side feeds it, and its close, in
 * memory: the other side's broker stream is played by calling
 * `receive()` and reading `outgoing()`; what it serves is a real native
 * engine on a unix socket, as `launch()` makes it. (Against real go-plugin
 * peers: tests/interop/broker_test.ts, broker_mux_test.ts.)
 */

import { implement } from "../../rpc/service.ts";
import { fromTsProto } from "../../mod.ts";
import { AddHelperDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { grpcJsEngine } from "../../server/engines/grpcjs.ts";
import { hostBrokerListen } from "../../host/broker_listener.ts";
import { pluginBrokerListen } from "../../server/broker_listener.ts";
import { ENV } from "../../constants.ts";
import { Broker, type BrokerConnInfo, BrokerError } from "../../services/broker.ts";
import { BROKER_MAX_ANNOUNCED, BROKER_MAX_QUEUED } from "../../services/broker_limits.ts";
import { pipePair } from "../mux/_pipe.ts";
import { knock, muxSide } from "./_mux_side.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { socketFiles, withTempDir } from "../_util/host.ts";

const addHelperDef = fromTsProto(AddHelperDefinition);

/** A logger keeping its records. */
function recording() {
  const records: { "@level": string; "@message": string }[] = [];
  const logger = createLogger({ level: "trace", write: (l) => records.push(JSON.parse(l)) });
  return { logger, warnings: () => records.filter((r) => r["@level"] === "warn") };
}

function plainBroker(logger = createLogger({ level: "off" }), dir = "/nonexistent") {
  return new Broker({
    listen: hostBrokerListen({ dir, maxMessageBytes: 4 << 20, logger }),
    maxMessageBytes: 4 << 20,
    logger,
    program: "the host",
  });
}

const announce = (id: number): BrokerConnInfo => ({
  serviceId: id,
  network: "unix",
  address: `/nonexistent/announced-${id}`,
  knock: undefined,
});

/** How `dial(id)` fails: "announced" when it found the announcement (and could not connect), else "unknown". */
async function dialOutcome(broker: Broker, id: number): Promise<"announced" | "unknown"> {
  try {
    (await broker.dial(id, 50)).close();
  } catch (err) {
    assert(err instanceof BrokerError, String(err));
    if (err.message.startsWith(`Could not connect to broker id ${id} at unix:`)) return "announced";
    assert(
      err.message.includes(`timeout waiting for connection info for broker id ${id}`),
      err.message,
    );
    return "unknown";
  }
  throw new Error(`dial(${id}) to a bogus address succeeded`);
}

Deno.test("broker: unclaimed announcements are bounded, the oldest dropped, one WARN per burst", async () => {
  const { logger, warnings } = recording();
  const broker = plainBroker(logger);
  // The library's timers do not keep the process alive (a plugin's listener does): this does.
  const alive = setInterval(() => {}, 1000);
  try {
    const n = BROKER_MAX_ANNOUNCED + 40;
    for (let id = 1; id <= n; id++) broker.receive(announce(id));
    // The newest BROKER_MAX_ANNOUNCED are kept; the oldest went.
    assertEquals(await dialOutcome(broker, n), "announced");
    assertEquals(await dialOutcome(broker, n - BROKER_MAX_ANNOUNCED + 1), "announced");
    assertEquals(await dialOutcome(broker, n - BROKER_MAX_ANNOUNCED), "unknown");
    assertEquals(await dialOutcome(broker, 1), "unknown");
    const warned = warnings();
    assertEquals(warned.length, 1, JSON.stringify(warned));
    assert(/announced more than 64 broker ids that no dial claimed/.test(warned[0]["@message"]));
    // Two dials claimed theirs: room again, the burst is over; the next excess warns again.
    for (let id = n + 1; id <= n + 10; id++) broker.receive(announce(id));
    assertEquals(warnings().length, 2);
  } finally {
    clearInterval(alive);
    await broker.close();
  }
});

Deno.test("broker: replies to knocks the other side does not read are bounded", async () => {
  const { logger, warnings } = recording();
  const [a, b] = pipePair();
  const { broker, session } = muxSide("client", a, logger);
  const addHelper = implement(addHelperDef, { sum: (req) => ({ r: req.a + req.b }) });
  const stop = new AbortController();
  try {
    await broker.acceptAndServe(3, [addHelper]);
    await broker.acceptAndServe(4, [addHelper]);
    // Nobody reads the stream: every knock's answer would wait in memory.
    for (let i = 0; i < BROKER_MAX_QUEUED + 100; i++) broker.receive(knock(3));
    assertEquals(warnings().length, 1, JSON.stringify(warnings()));
    assert(/knocks dropped unanswered/.test(warnings()[0]["@message"]));
    const got: number[] = [];
    for await (const info of broker.outgoing(stop.signal)) {
      got.push(info.serviceId);
      // Read them all: the next knock is answered again.
      if (got.length === BROKER_MAX_QUEUED) broker.receive(knock(4));
      if (got.length > BROKER_MAX_QUEUED) break;
    }
    assertEquals(got.filter((id) => id === 3).length, BROKER_MAX_QUEUED);
    assertEquals(got.at(-1), 4);
  } finally {
    stop.abort();
    await broker.close();
    await session.close();
    await b.close();
  }
});

for (const [name, engine] of [["native", createNativeEngine], ["grpc-js", grpcJsEngine]] as const) {
  Deno.test(`broker: closing a brokered server during a call logs no WARN (${name} engine)`, async () => {
    await withTempDir(async (dir) => {
      const { logger, warnings } = recording();
      // The plugin's side serves (its engine kind); the host's dials.
      const serving = new Broker({
        listen: pluginBrokerListen({
          network: "unix",
          engine,
          maxMessageBytes: 4 << 20,
          logger,
          readEnv: (k) => (k === ENV.unixSocketDir ? dir : undefined),
        }),
        maxMessageBytes: 4 << 20,
        logger,
        program: "the plugin",
      });
      const dialling = plainBroker(logger, dir);
      const stop = new AbortController();
      // The two brokers' streams, one way: what `serving` announces reaches `dialling`.
      const pump = (async () => {
        for await (const info of serving.outgoing(stop.signal)) dialling.receive(info);
      })();
      let entered!: () => void;
      const inCall = new Promise<void>((r) => (entered = r));
      const slow = implement(addHelperDef, {
        sum: async (req, call) => {
          entered();
          await new Promise((r) => call.signal.addEventListener("abort", r));
          return { r: req.a + req.b };
        },
      });
      try {
        const id = serving.nextId();
        const served = await serving.acceptAndServe(id, [slow]);
        const conn = await dialling.dial(id);
        const call = conn.client(addHelperDef).sum({ a: 1n, b: 2n }).catch((e) => e);
        await inCall;
        await served.close();
        assert((await call) instanceof Error, "the call in flight was not cancelled");
        conn.close();
        assertEquals(warnings(), []);
        assertEquals(socketFiles(dir), []);
      } finally {
        stop.abort();
        await Promise.all([serving.close(), dialling.close()]);
        await pump;
      }
    });
  });
}

Deno.test("broker: the plugin's broker listeners' engines get maxPartialMessageBytes", async () => {
  await withTempDir(async (dir) => {
    const given: (number | undefined)[] = [];
    const listen = pluginBrokerListen({
      network: "unix",
      engine: (options) => {
        given.push(options.maxPartialMessageBytes);
        return createNativeEngine(options);
      },
      maxMessageBytes: 4 << 20,
      maxPartialMessageBytes: 12345,
      logger: createLogger({ level: "off" }),
      readEnv: (k) => (k === ENV.unixSocketDir ? dir : undefined),
    });
    const listener = await listen([]);
    await listener.close();
    assertEquals(given, [12345]);
  });
});
