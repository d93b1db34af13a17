/**
 * SIGHUP stops the plugin as SIGTERM does (server/lifecycle.ts): a call in
 * flight finishes, the socket file is removed, the exit status is 0. Both
 * engines, launched by our host; the call in flight is an Echo bidi stream
 * (tests/fixtures/echo.ts), so the test knows its handler is running. An
 * idle plugin stops at once on SIGTERM or SIGHUP: the host's broker stream,
 * always open, does not hold it for the graceful-stop timeout.
 */

import { launch } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { EchoDefinition } from "../fixtures/echo.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";
import { within } from "../_util/fuzz.ts";

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const FIXTURES = {
  native: "tests/fixtures/plugin.ts",
  "grpc-js": "tests/fixtures/plugin_grpcjs.ts",
} as const;

for (const [engine, script] of Object.entries(FIXTURES)) {
  Deno.test(`${engine}: SIGHUP stops gracefully: the call in flight finishes, the socket file goes, exit 0`, async () => {
    await withTempDir(async (dir) => {
      const lines: string[] = [];
      const stopping = Promise.withResolvers<void>();
      const plugin = await launch({
        cmd: [DENO, "run", ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]), ROOT + script],
        cwd: dir,
        handshake: HANDSHAKE,
        autoMtls: false,
        logger: createLogger({
          level: "trace",
          write: (l) => {
            lines.push(l);
            if (l.includes("plugin stopping") && l.includes("sighup")) stopping.resolve();
          },
        }),
      });
      try {
        const sent = ["before", "after"];
        let answered = Promise.withResolvers<void>();
        let hangup: Promise<void> | null = null;
        const requests = async function* () {
          yield sent[0];
          await answered.promise;
          // The handler is running: hang up, and wait until the plugin says it is stopping.
          Deno.kill(plugin.pid!, "SIGHUP");
          hangup = Promise.race([
            stopping.promise,
            plugin.exited.then((e) => {
              throw new Error(`the plugin exited (${JSON.stringify(e)}) instead of stopping`);
            }),
          ]);
          await hangup;
          yield sent[1];
        };
        const got: string[] = [];
        for await (
          const res of plugin.client(EchoDefinition).chat(requests(), { timeoutMs: 10_000 })
        ) {
          got.push(res);
          answered.resolve();
          answered = Promise.withResolvers<void>();
        }
        assert(hangup, "SIGHUP was never sent");
        assertEquals(got, ["echo: before", "echo: after"]);
        const exit = await plugin.exited;
        assertEquals([exit.code, exit.signal], [0, null], lines.join("\n"));
        let socketLeft = true;
        try {
          Deno.statSync(plugin.address);
        } catch {
          socketLeft = false;
        }
        assert(!socketLeft, `the socket file ${plugin.address} was left behind`);
      } finally {
        await plugin.kill();
      }
    });
  });
}

for (const [engine, script] of Object.entries(FIXTURES)) {
  for (const signal of ["SIGTERM", "SIGHUP"] as const) {
    Deno.test(`${engine}: ${signal} to an idle plugin stops it at once: the host's broker stream does not wait out the grace`, async () => {
      await withTempDir(async (dir) => {
        const lines: string[] = [];
        const plugin = await launch({
          cmd: [
            DENO,
            "run",
            ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]),
            ROOT + script,
            // A grace far longer than the bound below: waiting it out fails the test.
            "--grace-ms=120000",
          ],
          cwd: dir,
          handshake: HANDSHAKE,
          autoMtls: false,
          logger: createLogger({ level: "trace", write: (l) => void lines.push(l) }),
        });
        try {
          await plugin.ping(); // our host's broker and stdio streams are open
          Deno.kill(plugin.pid!, signal);
          const exit = await within(plugin.exited, 30_000, `the plugin's exit after ${signal}`);
          assertEquals([exit.code, exit.signal], [0, null], lines.join("\n"));
          const timedOut = lines.filter((l) => l.includes("graceful stop timed out"));
          assertEquals(timedOut, [], lines.join("\n"));
        } finally {
          await plugin.kill();
        }
      });
    });
  }
}
