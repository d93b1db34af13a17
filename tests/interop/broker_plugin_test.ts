/**
 * The GRPCBroker, plain mode, plugin role: our Deno counter plugin
 * (`examples/counter`, wire-compatible with go-plugin's
 * `examples/bidirectional`) under real go-plugin hosts:
 *
 * - go-plugin's own bidirectional example host: `counter put hello 1` twice,
 *   then `counter get hello` prints 2, each run exits 0 with no "plugin
 *   failed to exit gracefully" (our plugin dials the host's AddHelper);
 * - our go-plugin host fixture (tests/interop/brokerpeer), plain and
 *   AutoMTLS, each without and with go-plugin's broker multiplexing
 *   (`GRPCBrokerMultiplex: true`, which go-plugin's example host cannot
 *   set): it dials an AddHelper our plugin serves through the broker
 *   (`-op get`), and serves one our plugin dials (`-op put`: put, put, get
 *   gives 2);
 * - our own host and our own plugin, both directions, without and with
 *   multiplexing.
 *
 * No process and no socket file is left after any of them.
 */

import { fromTsProto } from "../../mod.ts";
import { launch } from "../../host/mod.ts";
import { AddHelperDefinition, CounterDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { addHelperService, SERVE_KEY } from "../../examples/counter/counter.ts";
import { createLogger } from "../../log/logger.ts";
import { buildGo } from "../_util/go.ts";
import { DENO, denoRunLine, pluginFlags, ROOT } from "../_util/plugin.ts";
import {
  assert,
  assertEquals,
  run,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";

const PLUGIN = "examples/counter/plugin.ts";

Deno.test("broker: go-plugin's bidirectional example host and our counter plugin: put, put, get gives 2", async () => {
  const counter = await buildGo("counter");
  await withTempDir(async (dir) => {
    const env = { COUNTER_PLUGIN: denoRunLine(PLUGIN, [dir]), TMPDIR: dir };
    const outputs: string[] = [];
    for (const args of [["put", "hello", "1"], ["put", "hello", "1"], ["get", "hello"]]) {
      const r = await run(counter, args, { cwd: dir, env });
      assertEquals(r.code, 0, `counter ${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
      assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
      outputs.push(r.stdout.trim());
    }
    assertEquals(outputs.at(-1), "2");
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/kv_hello`)), { Value: 2 });
    assertEquals(await waitNoProcesses(dir), []);
    assertEquals(socketFiles(dir), []);
  });
});

for (const mux of [false, true]) {
  for (const autoMtls of [false, true]) {
    for (const op of ["get", "put"] as const) {
      const what = op === "get"
        ? "the Go host dials an AddHelper our plugin serves"
        : "our plugin dials the Go host's AddHelper: put, put, get gives 2";
      Deno.test(
        `broker: ${what} (${autoMtls ? "AutoMTLS" : "plain"}${mux ? ", multiplexed" : ""})`,
        async () => {
          const host = await buildGo("brokerpeer");
          await withTempDir(async (dir) => {
            const r = await run(host, [
              "host",
              "-op",
              op,
              ...(autoMtls ? ["-automtls"] : []),
              ...(mux ? ["-mux"] : []),
              "-cmd",
              denoRunLine(PLUGIN, [dir]),
            ], { cwd: dir, env: { TMPDIR: dir } });
            assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
            assertEquals(r.stdout.trim(), op === "get" ? "5" : "2", r.stderr);
            assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
            if (autoMtls) assert(r.stderr.includes("configuring server automatic mTLS"), r.stderr);
            // go-plugin's host ran its yamux client (it refuses a plugin without field 7 true),
            // and our plugin served multiplexed; or neither.
            assertEquals(r.stderr.includes("client muxer connected"), mux, r.stderr);
            assertEquals(r.stderr.includes("serving with broker multiplexing"), mux, r.stderr);
            if (op === "put") {
              assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/kv_hello`)), { Value: 2 });
            }
            assertEquals(await waitNoProcesses(dir), []);
            assertEquals(socketFiles(dir), []);
          });
        },
      );
    }
  }
}

for (const mux of [false, true]) {
  Deno.test(
    `broker: our host and our counter plugin, both directions, AutoMTLS${
      mux ? ", multiplexed" : ""
    }`,
    async () => {
      await withTempDir(async (dir) => {
        const plugin = await launch({
          cmd: [DENO, "run", ...pluginFlags([dir]), ROOT + PLUGIN],
          cwd: dir,
          handshake: {
            magicCookieKey: "BASIC_PLUGIN",
            magicCookieValue: "hello",
            protocolVersion: 1,
          },
          unixSocket: { dir },
          brokerMultiplex: mux,
          logger: createLogger({ level: "off" }),
        });
        try {
          assertEquals(plugin.broker.multiplexed, mux);
          const counter = plugin.client(fromTsProto(CounterDefinition));
          // The plugin dials what we serve.
          for (let i = 0; i < 2; i++) {
            const id = plugin.broker.nextId();
            const served = await plugin.broker.acceptAndServe(id, [addHelperService]);
            await counter.put({ addServer: id, key: "hello", value: 1n }, { timeoutMs: 10_000 });
            await served.close();
          }
          assertEquals(String((await counter.get({ key: "hello" })).value), "2");
          // We dial what the plugin serves.
          const { value: id } = await counter.get({ key: SERVE_KEY }, { timeoutMs: 5000 });
          // Plain, an announcement serves one dial; multiplexed, each dial knocks: two at once
          // go one after the other, each to its own stream.
          const conns = await Promise.all(
            Array.from({ length: mux ? 2 : 1 }, () => plugin.broker.dial(Number(id))),
          );
          try {
            const sums = await Promise.all(
              conns.map((c, i) =>
                c.client(fromTsProto(AddHelperDefinition)).sum({ a: 40n, b: BigInt(i) })
              ),
            );
            assertEquals(sums.map((s) => String(s.r)), mux ? ["40", "41"] : ["40"]);
            // Multiplexed, no broker socket is made on either side.
            if (mux) assertEquals(socketFiles(dir).length, 1, `${socketFiles(dir)}`);
          } finally {
            for (const c of conns) c.close();
          }
        } finally {
          await plugin.kill();
        }
        assertEquals((await plugin.exited).forced, false);
        assertEquals(await waitNoProcesses(dir), []);
        assertEquals(socketFiles(dir), [], "the plugin's broker sockets must go with it");
      });
    },
  );
}
