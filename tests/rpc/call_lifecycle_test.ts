/**
 * What a handler learns about its call from `CallContext`, on both engines
 * (native and grpc-js), each called by our client: the signal aborts when
 * the call ends before its handler finished, for a cancellation (client
 * cancel, connection gone, hard server stop), a passed deadline or a
 * failure (a request or response over the size limit), with an RpcError
 * reason of the code the call ended with, and never once the handler
 * finished (even if the call then fails); `ended` resolves in every case; `deadline` and `timeRemaining()` follow grpc-timeout;
 * `peer` names a unix, TCP or TLS client (with its certificate under mutual
 * TLS); `logger` carries the method; a handler that throws a plain error
 * answers UNKNOWN and logs one ERROR line with the stack.
 *
 * @module
 */

import { Channel } from "../../rpc/client_call.ts";
import { nodeTls, nodeTransport, pumpNodeSocket } from "../../h2/socket.ts";
import { derToPem } from "../../tls/pem.ts";
import { createLogger } from "../../log/logger.ts";
import type { CallContext, CallKind } from "../../rpc/service.ts";
import { implement } from "../../rpc/service.ts";
import { serviceClient } from "../../rpc/service_client.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { DEADLINE_SLACK_MS } from "../../rpc/handler.ts";
import type { EngineFactory } from "../../server/engine.ts";
import { ENGINES, rejects, type ServerOptions, textMethod, withServer } from "./_engines.ts";
import { generateCertificate } from "../../tls/cert.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import { setUpAutoMtls } from "../../tls/automtls.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { assert, assertEquals } from "../_util/host.ts";

function method<K extends CallKind>(name: string, kind: K) {
  return textMethod("test.Life", name, kind);
}

const LifeService = {
  name: "test.Life",
  methods: {
    quick: method("Quick", "unary"),
    fail: method("Fail", "unary"),
    boom: method("Boom", "unary"),
    hold: method("Hold", "unary"),
    list: method("List", "serverStream"),
    info: method("Info", "unary"),
    big: method("Big", "unary"),
    flood: method("Flood", "serverStream"),
    watch: method("Watch", "bidiStream"),
  },
};

/** The server's message limit in the tests of failures. */
const SMALL_LIMIT = 1024;

/** The context of each call the handlers saw, and a way to wait for the next one. */
class Seen {
  calls: CallContext[] = [];
  /** Requests the watch handlers read. */
  requests = 0;
  /** How each watch handler's reading of its requests ended: "ended", or the error. */
  reads: Promise<unknown>[] = [];
  #waiters: ((c: CallContext) => void)[] = [];
  add(call: CallContext): void {
    this.calls.push(call);
    for (const w of this.#waiters.splice(0)) w(call);
  }
  /** The next call a handler gets. */
  next(): Promise<CallContext> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** Resolves with the signal's reason once it aborts. */
function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(signal.reason), { once: true })
  );
}

function lifeService(seen: Seen) {
  return implement(LifeService, {
    quick: (req, call) => (seen.add(call), req),
    fail: (_req, call) => {
      seen.add(call);
      throw new RpcError(Status.FAILED_PRECONDITION, "not now");
    },
    boom: (_req, call) => {
      seen.add(call);
      throw new Error("the handler exploded");
    },
    hold: async (_req, call) => {
      seen.add(call);
      throw await aborted(call.signal);
    },
    list: function* (_req, call) {
      seen.add(call);
      yield "a";
      yield "b";
    },
    info: (_req, call) => {
      seen.add(call);
      call.logger.info("info asked", { extra: 1 });
      const { network, address, certificate } = call.peer;
      return JSON.stringify({
        network,
        address,
        certificate: certificate ? [...certificate] : null,
        deadline: call.deadline?.getTime() ?? null,
        remaining: call.timeRemaining(),
      });
    },
    // Answers a message over SMALL_LIMIT: the call fails after the handler finished.
    big: (_req, call) => (seen.add(call), "x".repeat(2 * SMALL_LIMIT)),
    // Yields a message over SMALL_LIMIT, then waits only on its signal.
    flood: async function* (_req, call) {
      seen.add(call);
      yield "x".repeat(2 * SMALL_LIMIT);
      await aborted(call.signal);
    },
    // Reads its requests on the side (as the broker's StartStream does) and
    // waits only on its signal for what to send (it has nothing to send).
    // deno-lint-ignore require-yield
    watch: async function* (requests, call) {
      seen.add(call);
      const read = (async () => {
        try {
          for await (const _ of requests) seen.requests++;
          return "ended";
        } catch (err) {
          return err;
        }
      })();
      seen.reads.push(read);
      await aborted(call.signal);
    },
  });
}

interface Harness {
  client: ReturnType<typeof serviceClient<typeof LifeService>>;
  channel: Channel;
  seen: Seen;
  lines: string[];
  /** Stops the server at once (no grace). */
  stopHard(): Promise<void>;
}

function withEngine(
  engine: EngineFactory,
  transport: ServerOptions,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const seen = new Seen();
  const lines: string[] = [];
  return withServer(
    engine,
    lifeService(seen),
    ({ channel, stopHard }) =>
      fn({ client: serviceClient(channel, LifeService), channel, seen, lines, stopHard }),
    { ...transport, logger: createLogger({ level: "info", write: (l) => lines.push(l) }) },
  );
}

const PLAIN_TCP: ServerOptions = { network: "tcp" };

/** A TCP peer's address: 127.0.0.1 and the client's port. */
function assertLoopback(address: string): void {
  assert(/^127\.0\.0\.1:[1-9]\d*$/.test(address), `address: ${JSON.stringify(address)}`);
}

/**
 * A gRPC channel over `node:tls` limited to TLS 1.2 (our client offers TLS
 * 1.3, which the native engine's own server takes), with the host's
 * certificate, trusting exactly the plugin's.
 */
function tls12Channel(
  port: number,
  host: { certPem: string; keyPem: string },
  serverCertDer: Uint8Array,
): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const sock = nodeTls().connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      cert: host.certPem,
      key: host.keyPem,
      ca: [derToPem(serverCertDer, "CERTIFICATE")],
      ALPNProtocols: ["h2"],
      maxVersion: "TLSv1.2",
    });
    sock.once("error", reject);
    sock.once("secureConnect", () => {
      assertEquals(sock.getProtocol(), "TLSv1.2");
      const channel = new Channel(nodeTransport(sock), {
        authority: "localhost",
        scheme: "https",
        maxMessageBytes: 1 << 20,
      });
      pumpNodeSocket(sock, channel.conn, reject);
      resolve(channel);
    });
  });
}

/** The signal's reason, checked to be an RpcError with `code`. */
function assertReason(call: CallContext, code: number): RpcError {
  assert(call.signal.aborted, "the signal did not abort");
  const reason = call.signal.reason;
  assert(reason instanceof RpcError, `reason is not an RpcError: ${reason}`);
  assertEquals(reason.code, code, reason.message);
  return reason;
}

for (const [name, engine] of Object.entries(ENGINES)) {
  Deno.test(`CallContext (${name}): a call that ends with a status never aborts the signal; ended resolves`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, seen }) => {
      assertEquals(await client.quick("x"), "x");
      assertEquals((await rejects(client.fail("x"))).code, Status.FAILED_PRECONDITION);
      assertEquals((await rejects(client.boom("x"))).code, Status.UNKNOWN);
      const got: string[] = [];
      for await (const r of client.list("x")) got.push(r);
      assertEquals(got, ["a", "b"]);
      assertEquals(seen.calls.length, 4);
      for (const call of seen.calls) {
        // Both engines decide on aborting before ended resolves (grpc-js
        // reports every end as "cancelled": the same event resolves it).
        await call.ended;
        assertEquals(call.signal.aborted, false, `${call.method}: ${call.signal.reason}`);
      }
    }));

  Deno.test(`CallContext (${name}): a failure once the handler finished (its answer over the size limit) never aborts the signal`, () =>
    withEngine(engine, { maxMessageBytes: SMALL_LIMIT }, async ({ client, seen }) => {
      const next = seen.next();
      assertEquals((await rejects(client.big("x"))).code, Status.RESOURCE_EXHAUSTED);
      const call = await next;
      await call.ended;
      assertEquals(call.signal.aborted, false, `${call.signal.reason}`);
    }));

  Deno.test(`CallContext (${name}): a streamed message over the size limit aborts the running handler's signal with RESOURCE_EXHAUSTED`, () =>
    withEngine(engine, { maxMessageBytes: SMALL_LIMIT }, async ({ client, seen }) => {
      const next = seen.next();
      const result = rejects((async () => {
        for await (const _ of client.flood("x")) throw new Error("a message came");
      })());
      const call = await next;
      assertEquals((await result).code, Status.RESOURCE_EXHAUSTED);
      // Both engines abort the signal before ended resolves.
      await call.ended;
      assertReason(call, Status.RESOURCE_EXHAUSTED);
    }));

  Deno.test(`CallContext (${name}): a request over the size limit wakes a handler waiting on its signal, RESOURCE_EXHAUSTED; its request iterator throws it`, () =>
    withEngine(engine, { maxMessageBytes: SMALL_LIMIT }, async ({ client, seen }) => {
      const next = seen.next();
      const sent = Promise.withResolvers<void>();
      async function* requests() {
        yield "small";
        await sent.promise;
        yield "x".repeat(2 * SMALL_LIMIT);
      }
      const result = rejects((async () => {
        for await (const _ of client.watch(requests())) throw new Error("a message came");
      })());
      const call = await next;
      sent.resolve();
      assertEquals((await result).code, Status.RESOURCE_EXHAUSTED);
      await call.ended;
      const reason = assertReason(call, Status.RESOURCE_EXHAUSTED);
      assertEquals(await seen.reads[0], reason);
    }));

  Deno.test(`CallContext (${name}): the client's cancel aborts the signal with CANCELLED; ended resolves`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, seen }) => {
      const cancel = new AbortController();
      const next = seen.next();
      // With a deadline far off: a cancel is not the deadline's.
      const result = rejects(client.hold("x", { signal: cancel.signal, timeoutMs: 60_000 }));
      const call = await next;
      assertEquals(call.signal.aborted, false);
      cancel.abort(new Error("the test cancels"));
      assertEquals((await result).code, Status.CANCELLED);
      await aborted(call.signal);
      assertReason(call, Status.CANCELLED);
      await call.ended;
    }));

  Deno.test(`CallContext (${name}): a passed deadline aborts the signal with DEADLINE_EXCEEDED; deadline and timeRemaining`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, seen }) => {
      const before = Date.now();
      const next = seen.next();
      const result = rejects(client.hold("x", { timeoutMs: 300 }));
      const call = await next;
      const deadline = call.deadline;
      assert(deadline instanceof Date, `deadline: ${deadline}`);
      // grpc-timeout is whole milliseconds, rounded up; the clock may tick in between.
      assert(
        deadline.getTime() >= before + 250 && deadline.getTime() <= Date.now() + 301,
        `deadline ${deadline.getTime() - before} ms after the call`,
      );
      const left = call.timeRemaining();
      assert(left > 0 && left <= 301, `timeRemaining: ${left}`);
      await aborted(call.signal);
      assertReason(call, Status.DEADLINE_EXCEEDED);
      // The client's own reset at its deadline may come a little before our timer:
      // within DEADLINE_SLACK_MS it counts as the deadline (seen on grpc-js under load).
      const leftAfter = call.timeRemaining();
      assert(leftAfter <= DEADLINE_SLACK_MS, `timeRemaining after the deadline: ${leftAfter}`);
      await call.ended;
      const err = await result;
      assertEquals(err.code, Status.DEADLINE_EXCEEDED);
    }));

  Deno.test(`CallContext (${name}): without a deadline, deadline is undefined and timeRemaining Infinity`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client }) => {
      const info = JSON.parse(await client.info("x"));
      assertEquals([info.deadline, info.remaining], [null, null]); // JSON of Infinity is null
      const seenInfo = JSON.parse(await client.info("x", { timeoutMs: 60_000 }));
      assert(seenInfo.remaining > 50_000 && seenInfo.remaining <= 60_000, `${seenInfo.remaining}`);
    }));

  Deno.test(`CallContext (${name}): the connection closing aborts the signal with CANCELLED`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, channel, seen }) => {
      const next = seen.next();
      const result = rejects(client.hold("x"));
      const call = await next;
      channel.close("the test hangs up");
      await result;
      await aborted(call.signal);
      assertReason(call, Status.CANCELLED);
      await call.ended;
    }));

  Deno.test(`CallContext (${name}): a hard server stop aborts the signal with CANCELLED`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, seen, stopHard }) => {
      const next = seen.next();
      const result = rejects(client.hold("x"));
      const call = await next;
      await stopHard();
      await result;
      await aborted(call.signal);
      assertReason(call, Status.CANCELLED);
      await call.ended;
    }));

  Deno.test(`CallContext (${name}): peer of a TCP client`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client }) => {
      const info = JSON.parse(await client.info("x"));
      assertEquals(info.network, "tcp");
      assert(/^127\.0\.0\.1:\d+$/.test(info.address), `address: ${info.address}`);
      assertEquals(info.certificate, null);
    }));

  Deno.test(`CallContext (${name}): peer of a unix client`, () =>
    withEngine(engine, { network: "unix" }, async ({ client }) => {
      const info = JSON.parse(await client.info("x"));
      assertEquals(info.network, "unix");
      assertEquals(typeof info.address, "string");
      assertEquals(info.certificate, null);
    }));

  for (const network of ["tcp", "unix"] as const) {
    Deno.test(`CallContext (${name}): peer of a mutual-TLS client over ${network} has its certificate`, async () => {
      const [serverCert, clientCert] = await Promise.all([
        generateCertificate(),
        generateCertificate(),
      ]);
      const tls = {
        server: {
          certPem: serverCert.certPem,
          keyPem: serverCert.keyPem,
          clientCaPem: clientCert.certPem,
          requireClientCert: true,
        },
        client: {
          certPem: clientCert.certPem,
          keyPem: clientCert.keyPem,
          serverCertDer: serverCert.certDer,
        },
      };
      await withEngine(engine, { network, tls }, async ({ client }) => {
        const info = JSON.parse(await client.info("x"));
        assertEquals(info.network, network);
        assertEquals(info.certificate, [...clientCert.certDer]);
        if (network === "tcp") assertLoopback(info.address);
      });
    });
  }

  // AutoMTLS: on the native engine, our own TLS 1.3 server (tls13/) serves it.
  Deno.test(`CallContext (${name}): peer of an AutoMTLS host over TCP has its address and the host's certificate`, async () => {
    const host = await makeAutoCertificate("ecdsa-p521");
    const auto = await setUpAutoMtls(host.certPem);
    const tls = {
      server: auto.serverTls,
      client: { certPem: host.certPem, keyPem: host.keyPem, serverCertDer: auto.certDer },
    };
    await withEngine(engine, { network: "tcp", tls }, async ({ client }) => {
      const info = JSON.parse(await client.info("x"));
      assertEquals(info.certificate, [...host.certDer]);
      assertLoopback(info.address);
    });
  });

  // A TLS 1.2 client: the native engine's TLS 1.3 server hands it to node:tls.
  Deno.test(`CallContext (${name}): peer of an AutoMTLS host on TLS 1.2 over TCP (node:tls) has its address and certificate`, async () => {
    const host = await makeAutoCertificate("ecdsa-p521");
    const auto = await setUpAutoMtls(host.certPem);
    const lines: string[] = [];
    const logger = createLogger({ level: "debug", write: (l) => lines.push(l) });
    const server = engine({ maxMessageBytes: 1 << 20, logger });
    server.addService(lifeService(new Seen()));
    const port = await server.bind("tcp", "127.0.0.1:0", auto.serverTls);
    const channel = await tls12Channel(port!, host, auto.certDer);
    try {
      const info = JSON.parse(await serviceClient(channel, LifeService).info("x"));
      assertEquals(info.certificate, [...host.certDer]);
      assertLoopback(info.address);
      if (name === "native") {
        assert(lines.some((l) => l.includes("handed to node:tls")), lines.join(""));
      }
    } finally {
      channel.close();
      await server.shutdown(0);
    }
  });

  Deno.test(`CallContext (${name}): peer of an AutoMTLS host over unix has the host's certificate`, async () => {
    const host = await makeAutoCertificate("ecdsa-p521");
    const auto = await setUpAutoMtls(host.certPem);
    const tls = {
      server: auto.serverTls,
      client: { certPem: host.certPem, keyPem: host.keyPem, serverCertDer: auto.certDer },
    };
    await withEngine(engine, { network: "unix", tls }, async ({ client }) => {
      const info = JSON.parse(await client.info("x"));
      assertEquals(info.certificate, [...host.certDer]);
    });
  });

  Deno.test(`CallContext (${name}): logger writes through the engine's logger with the method`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, lines }) => {
      await client.info("x");
      const line = lines.map((l) => JSON.parse(l)).find((l) => l["@message"] === "info asked");
      assert(line, `no line: ${lines.join("")}`);
      assertEquals([line["@level"], line.method, line.extra], ["info", "/test.Life/Info", 1]);
    }));

  Deno.test(`CallContext (${name}): a handler's plain error answers UNKNOWN and logs one ERROR line with the stack`, () =>
    withEngine(engine, PLAIN_TCP, async ({ client, lines }) => {
      const err = await rejects(client.boom("x"));
      assertEquals([err.code, err.message], [Status.UNKNOWN, "the handler exploded"]);
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l["@level"] === "error");
      assertEquals(errors.length, 1, lines.join(""));
      const [line] = errors;
      assertEquals([line["@message"], line.method, line.error], [
        "handler failed",
        "/test.Life/Boom",
        "the handler exploded",
      ]);
      assert(
        typeof line.stack === "string" && line.stack.includes("call_lifecycle_test.ts"),
        `stack: ${line.stack}`,
      );
    }));
}

Deno.test("CallContext (serveInProcess): peer is the pipe, logger the one given, signal aborts on kill", async () => {
  const seen = new Seen();
  const lines: string[] = [];
  const plugin = serveInProcess({
    services: [lifeService(seen)],
    logger: createLogger({ level: "info", write: (l) => lines.push(l) }),
  });
  try {
    const client = plugin.client(LifeService);
    const info = JSON.parse(await client.info("x"));
    assertEquals([info.network, info.address], ["pipe", "in-process"]);
    assert(lines.some((l) => JSON.parse(l).method === "/test.Life/Info"), lines.join(""));
    const next = seen.next();
    const held = client.hold("x").catch((err) => err);
    const call = await next;
    await plugin.kill();
    await held;
    await aborted(call.signal);
    assertReason(call, Status.CANCELLED);
    await call.ended;
  } finally {
    await plugin.kill();
  }
});
