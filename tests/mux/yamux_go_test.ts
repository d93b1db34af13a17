/**
 * Tests of our yamux session against hashicorp/yamux itself (v0.1.2, the
 * version go-plugin v1.8.0 uses, with its `DefaultConfig()` as go-plugin
 * sets it), run by tests/mux/yamuxpeer on a unix socket: our client against
 * its server and our server against its client; echo of many streams both
 * ways, transfers across window updates, its pings (keepalive and
 * `Ping()`) answered, our pings answered, its go-away, its resets (backlog
 * and stream close timeout), session close both ways; and the throughput
 * of 64 MiB through one stream, each way.
 *
 * @module
 */

import { YamuxGoAwayError, YamuxSession, type YamuxStream } from "../../mux/yamux.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";
import { GoPeer } from "./_go_peer.ts";
import { assertRejects, bytesOf, drainPattern, echo, pattern, readAll, text } from "./_util.ts";

/** Our client session on a Go yamux server started with `args`. */
async function withGoServer(
  args: string[],
  fn: (session: YamuxSession, peer: GoPeer) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const sock = `${dir}/yamux.sock`;
    await using peer = await GoPeer.start(["-role", "server", "-sock", sock, ...args]);
    const session = new YamuxSession(
      await Deno.connect({ transport: "unix", path: sock }),
      "client",
    );
    try {
      await fn(session, peer);
    } finally {
      await session.close();
    }
    assertEquals(await peer.line(), "closed", "the Go session saw ours close");
    await peer.finish();
  });
}

/** Our server session with a Go yamux client started with `args`. */
async function withGoClient(
  args: string[],
  fn: (session: YamuxSession, peer: GoPeer) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const sock = `${dir}/yamux.sock`;
    const listener = Deno.listen({ transport: "unix", path: sock });
    let conn: Deno.Conn;
    let peerStarted: GoPeer;
    try {
      [peerStarted, conn] = await Promise.all([
        GoPeer.start(["-role", "client", "-sock", sock, ...args]),
        listener.accept(),
      ]);
    } finally {
      listener.close();
    }
    await using peer = peerStarted;
    const session = new YamuxSession(conn, "server");
    try {
      await fn(session, peer);
    } finally {
      await session.close();
    }
    assertEquals(await peer.line(), "closed", "the Go session saw ours close");
    await peer.finish();
  });
}

/** Opens a stream and sends the Go peer's one-byte command. */
async function command(session: YamuxSession, cmd: string): Promise<YamuxStream> {
  const stream = await session.open();
  await stream.write(bytesOf(cmd));
  return stream;
}

/** Echo through the Go peer: write `data`, half-close, read the echo. */
async function echoThrough(session: YamuxSession, data: Uint8Array): Promise<Uint8Array> {
  const stream = await command(session, "e");
  const [got] = await Promise.all([
    readAll(stream),
    stream.write(data).then(() => stream.closeWrite()),
  ]);
  stream.close();
  return got;
}

/** Echoes every stream the session accepts until it ends. */
async function echoAll(session: YamuxSession): Promise<void> {
  const running: Promise<void>[] = [];
  for await (const s of session) running.push(echo(s).catch(() => {}).finally(() => s.close()));
  await Promise.all(running);
}

Deno.test("yamux vs Go: our client, Go's server: 30 streams echoed at once, up to 2 MiB each", async () => {
  await withGoServer([], async (session) => {
    const sizes = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 2 << 20 : 1000 + i * 7919));
    const got = await Promise.all(sizes.map((n, i) => echoThrough(session, pattern(n, i))));
    got.forEach((g, i) => {
      assertEquals(g.length, sizes[i]);
      assert(g.every((b, j) => b === (j + i) % 251), `stream ${i} echoed its bytes`);
    });
    await session.ping();
    assertEquals(session.streamCount, 0, "every stream closed both ways");
  });
});

Deno.test("yamux vs Go: our server, Go's client: its 20 streams echoed, and ours to it", async () => {
  await withGoClient(["-open", "20", "-size", "700000"], async (session, peer) => {
    const serving = echoAll(session);
    const opened = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        command(session, "e").then(async (s) => {
          assert(s.id % 2 === 0, "server ids are even");
          const [g] = await Promise.all([
            readAll(s),
            s.write(pattern(300_000, i)).then(() => s.closeWrite()),
          ]);
          s.close();
          return g;
        })),
    );
    assert(opened.every((g) => g.length === 300_000));
    const report = await peer.line();
    assert(report?.startsWith("open ok 20 "), `Go's client: ${report}`);
    await session.close();
    await serving;
  });
});

Deno.test("yamux vs Go: we answer its pings (keepalive every 5 ms and Ping()), it answers ours", async () => {
  await withGoServer(["-keepalive", "5ms"], async (session) => {
    const stream = await command(session, "p");
    await stream.closeWrite();
    assertEquals(text(await readAll(stream)), "ok");
    stream.close();
    for (let i = 0; i < 20; i++) assert((await session.ping()) >= 0);
    assertEquals(text(await echoThrough(session, bytesOf("still alive"))), "still alive");
  });
});

Deno.test("yamux vs Go: its go-away: our opens fail, open streams go on", async () => {
  await withGoServer([], async (session) => {
    const open = await command(session, "e");
    const stream = await command(session, "w");
    await stream.closeWrite();
    assertEquals(text(await readAll(stream)), "ok");
    stream.close();
    await assertRejects(session.open(), YamuxGoAwayError);
    const [got] = await Promise.all([
      readAll(open),
      open.write(bytesOf("after go-away")).then(() => open.closeWrite()),
    ]);
    assertEquals(text(got), "after go-away");
    open.close();
  });
});

Deno.test("yamux vs Go: its resets reach us (backlog exceeded; its stream close timeout)", async () => {
  await withGoServer(["-backlog", "1", "-noaccept"], async (session) => {
    const first = await session.open();
    const second = await session.open();
    await assertRejects(
      second.read(new Uint8Array(1)),
      Deno.errors.ConnectionReset,
      /reset by the peer/,
    );
    first.reset();
  });
  await withGoServer(["-closetimeout", "50ms"], async (session) => {
    const stream = await command(session, "c");
    assertEquals(await stream.read(new Uint8Array(1)), null, "its FIN first");
    // We never close: after 50 ms it resets the stream, which ends our write.
    await assertRejects(
      stream.write(pattern(4 << 20)),
      Deno.errors.ConnectionReset,
      /reset by the peer/,
    );
  });
});

Deno.test("yamux vs Go: its session closing ends ours and our streams", async () => {
  await withTempDir(async (dir) => {
    const sock = `${dir}/yamux.sock`;
    await using peer = await GoPeer.start(["-role", "server", "-sock", sock]);
    const session = new YamuxSession(
      await Deno.connect({ transport: "unix", path: sock }),
      "client",
    );
    const stream = await command(session, "e");
    await stream.write(bytesOf("x"));
    await stream.read(new Uint8Array(1));
    await peer[Symbol.asyncDispose](); // killed: its end of the socket closes
    await session.done();
    assert(session.closed && session.error !== undefined, `${session.error}`);
    await assertRejects(stream.read(new Uint8Array(1)), Deno.errors.ConnectionReset);
    assertEquals(await session.accept(), null);
  });
});

Deno.test("yamux vs Go: 64 MiB through one stream each way (throughput)", async () => {
  const size = 64 << 20;
  const mib = size / (1 << 20);
  const rate = (ms: number) => `${(mib / (ms / 1000)).toFixed(0)} MiB/s`;
  const results: string[] = [];
  await withGoServer([], async (session) => {
    // Ours -> Go: it counts what it read.
    const data = pattern(size);
    let t = performance.now();
    const sink = await command(session, "s");
    await sink.write(data);
    await sink.closeWrite();
    assertEquals(text(await readAll(sink)), String(size));
    results.push(`ours->Go ${rate(performance.now() - t)}`);
    sink.close();

    // Go -> ours: it writes `size` pattern bytes.
    t = performance.now();
    const gen = await command(session, "g");
    const n = new Uint8Array(8);
    new DataView(n.buffer).setBigUint64(0, BigInt(size));
    await gen.write(n);
    await gen.closeWrite();
    assertEquals(await drainPattern(gen, true), { bytes: size, ok: true });
    results.push(`Go->ours ${rate(performance.now() - t)}`);
    gen.close();

    // Both ways at once through Go's echo.
    t = performance.now();
    const e = await command(session, "e");
    const [got] = await Promise.all([
      drainPattern(e, true),
      e.write(data).then(() => e.closeWrite()),
    ]);
    assertEquals(got, { bytes: size, ok: true });
    results.push(`echo (each way) ${rate(performance.now() - t)}`);
    e.close();
  });
  console.log(`64 MiB through one yamux stream: ${results.join(", ")}`);
});
