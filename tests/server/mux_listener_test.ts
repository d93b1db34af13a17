/**
 * The plugin's multiplexed main listener keeps a bounded number of
 * sessions: at `MUX_MAX_SESSIONS` a new connection closes the oldest whose
 * peer has not sent a yamux frame, or else is closed itself, with one WARN
 * per burst; a silent socket is never the broker's session while the host's is open, and is
 * closed once it stayed silent for the deadline. (The multiplexed mode against go-plugin's hosts:
 * tests/interop/broker_mux_test.ts.)
 */

import { createLogger } from "../../log/logger.ts";
import { YamuxSession } from "../../mux/yamux.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { muxListener } from "../../server/mux_listener.ts";
import { MUX_MAX_SESSIONS } from "../../services/broker_limits.ts";
import { BrokerMux } from "../../services/broker_mux.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";
import { within } from "../_util/fuzz.ts";

/** A log record, as the tests read it. */
type LogRecord = { "@level": string; "@message": string };

/** The multiplexed listener on `dir`'s socket, its mux, and its log (trace and up). */
async function listening(dir: string, silentMs?: number) {
  const records: LogRecord[] = [];
  let written = Promise.withResolvers<void>();
  const logger = createLogger({
    level: "trace",
    write: (l) => {
      records.push(JSON.parse(l));
      written.resolve();
      written = Promise.withResolvers<void>();
    },
  });
  const mux = new BrokerMux({
    engine: () => createNativeEngine({ maxMessageBytes: 4 << 20, logger }),
    maxMessageBytes: 4 << 20,
    logger,
    program: "the plugin",
  });
  const listener = muxListener(mux, logger, silentMs);
  const path = `${dir}/plugin.sock`;
  await listener.bind("unix", path);
  return {
    records,
    mux,
    listener,
    path,
    /** Resolves once a record for which `pred` holds has been logged. */
    async logged(pred: (records: LogRecord[]) => boolean): Promise<void> {
      while (!pred(records)) await written.promise;
    },
  };
}

Deno.test("mux listener: connections beyond MUX_MAX_SESSIONS are closed, one WARN per burst", async () => {
  await withTempDir(async (dir) => {
    const { records, mux, listener, path } = await listening(dir);
    const clients: YamuxSession[] = [];
    try {
      for (let i = 0; i < MUX_MAX_SESSIONS + 2; i++) {
        const conn = await Deno.connect({ transport: "unix", path });
        clients.push(new YamuxSession(conn, "client"));
        // One at a time, so that which ones are refused is known: the last two.
        await clients.at(-1)!.ping().catch(() => {});
      }
      const answered = await Promise.all(
        clients.map((c) => c.ping().then(() => true, () => false)),
      );
      assertEquals(answered, [
        ...new Array(MUX_MAX_SESSIONS).fill(true),
        false,
        false,
      ]);
      const warnings = records.filter((r) => r["@level"] === "warn");
      assertEquals(warnings.length, 1, JSON.stringify(warnings));
      assert(/multiplexed connections refused/.test(warnings[0]["@message"]));
      // What the limit is and what to do about it.
      const warn = warnings[0] as LogRecord & { limit?: number; fix?: string };
      assertEquals(warn.limit, MUX_MAX_SESSIONS);
      assert(/find what else connects/.test(warn.fix ?? ""), JSON.stringify(warn));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await listener.close();
      await mux.close();
    }
  });
});

Deno.test("mux listener: MUX_MAX_SESSIONS silent sockets cannot keep the host out, nor become the broker's session", async () => {
  await withTempDir(async (dir) => {
    const { records, mux, listener, path, logged } = await listening(dir);
    const acceptedCount = (rs: LogRecord[]) =>
      rs.filter((r) => r["@message"] === "multiplexed connection accepted").length;
    const served = mux.listen(5, []);
    const silent: Deno.Conn[] = [];
    let host: YamuxSession | undefined;
    try {
      for (let i = 0; i < MUX_MAX_SESSIONS; i++) {
        silent.push(await Deno.connect({ transport: "unix", path }));
      }
      await logged((rs) => acceptedCount(rs) >= MUX_MAX_SESSIONS);
      // The host: its ping is answered, so the oldest silent socket made room.
      host = new YamuxSession(await Deno.connect({ transport: "unix", path }), "client");
      await host.ping();
      assertEquals(await silent[0].read(new Uint8Array(16)).catch(() => null), null);
      // A knock is expected on the host's session, not on the oldest silent one: the
      // host's next stream goes to id 5's engine.
      assertEquals(mux.expect(5), "");
      const stream = await host.open();
      const routed = (r: { "@message": string }) =>
        r["@message"] === "sending stream to brokered listener" ||
        r["@message"] === "multiplexed stream refused: no knock announced it";
      await logged((rs) => rs.some(routed));
      assertEquals(records.find(routed)!["@message"], "sending stream to brokered listener");
      stream.close();
      const warnings = records.filter((r) => r["@level"] === "warn");
      assertEquals(warnings.length, 1, JSON.stringify(warnings));
    } finally {
      for (const c of silent) c.close();
      await host?.close();
      await served.close();
      await listener.close();
      await mux.close();
    }
  });
});

Deno.test("mux listener: a connection whose peer sends no yamux frame is closed after the deadline; one that spoke stays", async () => {
  await withTempDir(async (dir) => {
    const { records, mux, listener, path } = await listening(dir, 200);
    // The host first: its deadline, were it not cancelled by its frame, would pass first.
    const host = new YamuxSession(await Deno.connect({ transport: "unix", path }), "client");
    await host.ping();
    const silent = await Deno.connect({ transport: "unix", path });
    try {
      // The plugin ends the silent socket's session (its GoAway) and closes it; a hang
      // here: the socket holds its place for ever.
      const buf = new Uint8Array(64);
      const drained = (async () => {
        while (await silent.read(buf).catch(() => null) !== null) { /* the GoAway */ }
      })();
      await within(drained, 5_000, "the silent socket's close (the deadline is 200 ms)");
      const closed = records.filter((r) => /sent no yamux frame/.test(r["@message"]));
      assertEquals(closed.length, 1, JSON.stringify(records));
      // The host's session outlived the deadline.
      await host.ping();
    } finally {
      silent.close();
      await host.close();
      await listener.close();
      await mux.close();
    }
  });
});
