/**
 * The plugin's multiplexed main listener keeps a bounded number of
 * sessions: a connection beyond `MUX_MAX_SESSIONS` is closed, with one WARN
 * per burst. (The multiplexed mode against go-plugin's hosts:
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

Deno.test("mux listener: connections beyond MUX_MAX_SESSIONS are closed, one WARN per burst", async () => {
  await withTempDir(async (dir) => {
    const records: { "@level": string; "@message": string }[] = [];
    const logger = createLogger({ level: "debug", write: (l) => records.push(JSON.parse(l)) });
    const mux = new BrokerMux({
      engine: () => createNativeEngine({ maxMessageBytes: 4 << 20, logger }),
      maxMessageBytes: 4 << 20,
      logger,
      program: "the plugin",
    });
    const listener = muxListener(mux, logger);
    const path = `${dir}/plugin.sock`;
    await listener.bind("unix", path);
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
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await listener.close();
      await mux.close();
    }
  });
});
