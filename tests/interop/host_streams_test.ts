/**
 * Bidirectional streams, request metadata types and thenable answers on
 * both engines: the fixture plugin's Echo service (tests/fixtures/echo.ts)
 * driven by our host, in memory (`serveInProcess`, native engine) and over
 * a real unix socket (`launch()`, native and grpc-js engines).
 */

import { launch, type PluginClient } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { serveInProcess } from "../../testing/mod.ts";
import { EchoDefinition, echoService } from "../fixtures/echo.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assertEquals, withTempDir } from "../_util/host.ts";

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
/** Long enough for a loaded machine; a call that never finishes fails with DEADLINE_EXCEEDED. */
const CALL_MS = 10_000;

const FIXTURES = {
  native: "tests/fixtures/plugin.ts",
  "grpc-js": "tests/fixtures/plugin_grpcjs.ts",
} as const;

/**
 * A bidi call that sends each request only after the answer to the one
 * before arrived, then half-closes: it finishes only if the server answers
 * as the requests come, and sends its status after the requests ended.
 */
async function pingPong(plugin: PluginClient): Promise<string[]> {
  const echo = plugin.client(EchoDefinition);
  const answered: string[] = [];
  let answer = Promise.withResolvers<void>();
  async function* requests() {
    for (const word of ["one", "two", "three"]) {
      yield word;
      await answer.promise;
      answer = Promise.withResolvers<void>();
    }
  }
  for await (const res of echo.chat(requests(), { timeoutMs: CALL_MS })) {
    answered.push(res);
    answer.resolve();
  }
  return answered;
}

async function checkEcho(plugin: PluginClient): Promise<void> {
  assertEquals(await pingPong(plugin), ["echo: one", "echo: two", "echo: three"]);
  // A bidi call whose client sends nothing, and a second call on the same connection.
  const echo = plugin.client(EchoDefinition);
  const none: string[] = [];
  for await (const res of echo.chat([], { timeoutMs: CALL_MS })) none.push(res);
  assertEquals(none, []);
  assertEquals(await pingPong(plugin), ["echo: one", "echo: two", "echo: three"]);
  assertEquals(await echo.later("x", { timeoutMs: CALL_MS }), "later: x");
  const seen = JSON.parse(
    await echo.meta("", {
      timeoutMs: CALL_MS,
      metadata: { "x-bin": new Uint8Array([1, 2, 255]), "x-text": "hi" },
    }),
  );
  assertEquals(seen, { "x-bin": ["bytes:1,2,255"], "x-text": ["string:hi"] });
}

Deno.test("native engine in memory: a bidi call answers each request as it comes and ends OK; thenables; -bin metadata as bytes", async () => {
  await using plugin = serveInProcess({ services: [echoService()] });
  await checkEcho(plugin);
});

for (const [engine, script] of Object.entries(FIXTURES)) {
  Deno.test(`${engine} engine over a unix socket: a bidi call answers each request as it comes and ends OK; thenables; -bin metadata as bytes`, async () => {
    await withTempDir(async (dir) => {
      const lines: string[] = [];
      const plugin = await launch({
        cmd: [DENO, "run", ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]), ROOT + script],
        cwd: dir,
        handshake: HANDSHAKE,
        autoMtls: false,
        logger: createLogger({ level: "trace", write: (l) => lines.push(l) }),
      });
      try {
        await checkEcho(plugin);
      } finally {
        await plugin.kill();
      }
      assertEquals((await plugin.exited).code, 0, lines.join("\n"));
    });
  });
}
