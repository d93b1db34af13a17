/**
 * Our host (`launch()`) against KV plugins: go-plugin's own Go KV plugin
 * (`examples/grpc/plugin-go-grpc` from the Go module proxy), plain and
 * AutoMTLS, and our Deno KV plugin on both engines, plain and AutoMTLS, as
 * source and as a one-file bundle. Each launch does put/get, put/get again
 * (the value written over, read as it is now) and a ping, then
 * a kill that must be graceful (GRPCController/Shutdown, no SIGKILL), and
 * leaves no process and no socket behind.
 */

import { fromTsProto } from "../../mod.ts";
import { cleanupPlugins, launch, type LaunchOptions, type PluginClient } from "../../host/mod.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { GRPCControllerDefinition } from "../../gen/plugin/grpc_controller_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { kvGoPlugin } from "../_util/peers.ts";
import { bundleKvPlugin, DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, pidAlive, withTempDir } from "../_util/host.ts";

const KV_HANDSHAKE = {
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
  protocolVersion: 1,
} as const;
const kvDef = fromTsProto(KVDefinition);
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A host logger that keeps its lines, for checking what the host said. */
function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "trace", write: (l) => lines.push(l) }) };
}

/** Does put/get/ping on a launched plugin, kills it and checks the stop and what is left. */
async function roundTrip(
  options: LaunchOptions & { cmd: readonly string[] },
  written: string,
): Promise<{ plugin: PluginClient; log: string[] }> {
  const { lines, logger } = capture();
  const plugin = await launch({ ...options, logger });
  const socketDir = plugin.address.slice(0, plugin.address.lastIndexOf("/"));
  try {
    assertEquals(plugin.network, "unix");
    assertEquals(plugin.protocolVersion, 1);
    const kv = plugin.client(kvDef);
    await kv.put({ key: "k", value: enc.encode("v1") }, { timeoutMs: 5000 });
    const got = await kv.get({ key: "k" }, { timeoutMs: 5000 });
    assertEquals(dec.decode(got.value), `v1\n\nWritten from ${written}`);
    // Written again in the same session: the next Get reads what the file holds now.
    await kv.put({ key: "k", value: enc.encode("second value") }, { timeoutMs: 5000 });
    const again = await kv.get({ key: "k" }, { timeoutMs: 5000 });
    assertEquals(dec.decode(again.value), `second value\n\nWritten from ${written}`);
    await plugin.ping();
  } finally {
    await plugin.kill();
  }
  const exit = await plugin.exited;
  assertEquals(exit, { code: 0, signal: null, forced: false }, lines.join("\n"));
  assert(!lines.some((l) => l.includes("plugin failed to exit gracefully")), lines.join("\n"));
  assert(!(await pidAlive(plugin.pid!)), `the plugin process ${plugin.pid} is still there`);
  let dirLeft = true;
  try {
    Deno.statSync(socketDir);
  } catch {
    dirLeft = false;
  }
  assert(!dirLeft, `the socket directory ${socketDir} was left behind`);
  return { plugin, log: lines };
}

for (const autoMtls of [false, true]) {
  Deno.test(`launch(): go-plugin's Go KV plugin, ${autoMtls ? "AutoMTLS" : "plain"}`, async () => {
    const bin = await kvGoPlugin();
    await withTempDir(async (dir) => {
      const { log } = await roundTrip(
        { cmd: [bin], cwd: dir, handshake: KV_HANDSHAKE, autoMtls },
        "plugin-go-grpc",
      );
      // The Go plugin's own log lines are re-logged at their level.
      assert(
        log.some((l) => l.includes('"plugin address"') && l.includes('"@level":"debug"')),
        log.join("\n"),
      );
      if (autoMtls) {
        assert(log.some((l) => l.includes("configuring server automatic mTLS")), log.join("\n"));
      }
    });
  });
}

Deno.test("launch(): a Go plugin whose connection we close in the middle of Shutdown still exits by itself", async () => {
  const bin = await kvGoPlugin();
  await withTempDir(async (dir) => {
    const { lines, logger } = capture();
    const plugin = await launch({ cmd: [bin], cwd: dir, handshake: KV_HANDSHAKE, logger });
    const controller = plugin.client(fromTsProto(GRPCControllerDefinition));
    // Ask for Shutdown, but hang up before any answer can arrive, as a host
    // that dies in the middle of its kill sequence would.
    const asked = controller.shutdown({}).catch((e) => e);
    await Promise.resolve();
    await plugin.kill();
    await asked;
    const exit = await plugin.exited;
    assertEquals(exit.code, 0, lines.join("\n"));
    assertEquals(exit.forced, false, lines.join("\n"));
  });
});

/** Our fixture plugin, by engine, as `deno run` argv. */
const FIXTURES = {
  native: "tests/fixtures/plugin.ts",
  "grpc-js": "tests/fixtures/plugin_grpcjs.ts",
};

for (const [engine, script] of Object.entries(FIXTURES)) {
  for (const autoMtls of [false, true]) {
    Deno.test(`launch(): our Deno KV plugin on ${engine}, ${autoMtls ? "AutoMTLS" : "plain"}`, async () => {
      await withTempDir(async (dir) => {
        await roundTrip(
          {
            cmd: [
              DENO,
              "run",
              ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]),
              ROOT + script,
            ],
            cwd: dir,
            handshake: KV_HANDSHAKE,
            autoMtls,
          },
          "plugin-deno",
        );
      });
    });
  }
}

Deno.test("launch(): our Deno KV plugin bundled into one file, plain and AutoMTLS", async () => {
  await withTempDir(async (dir) => {
    const { exe } = await bundleKvPlugin(dir, [dir, Deno.env.get("TMPDIR") ?? "/tmp"]);
    for (const autoMtls of [false, true]) {
      await roundTrip({ cmd: [exe], cwd: dir, handshake: KV_HANDSHAKE, autoMtls }, "plugin-deno");
    }
  });
});

Deno.test("launch(): the plugin's console output reaches syncStdout/syncStderr, its logs are re-logged at their levels", async () => {
  await withTempDir(async (dir) => {
    const { lines, logger } = capture();
    const out: string[] = [];
    const err: string[] = [];
    const gotBoth = Promise.withResolvers<void>();
    const check = () => {
      if (out.join("").includes("after the handshake") && err.join("").includes("console.error")) {
        gotBoth.resolve();
      }
    };
    const plugin = await launch({
      cmd: [
        DENO,
        "run",
        ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]),
        ROOT + FIXTURES.native,
        "--chatty",
      ],
      cwd: dir,
      handshake: KV_HANDSHAKE,
      logger,
      syncStdout: (d) => (out.push(dec.decode(d)), check()),
      syncStderr: (d) => (err.push(dec.decode(d)), check()),
    });
    try {
      await gotBoth.promise;
    } finally {
      await plugin.kill();
    }
    assert(out.join("").includes("chatty: console.log before serve()"), out.join(""));
    assert(out.join("").includes("chatty: console.log after the handshake"), out.join(""));
    assert(err.join("").includes("chatty: console.error after the handshake"), err.join(""));
    for (const level of ["trace", "debug", "info", "warn", "error"]) {
      const line = lines.find((l) => l.includes(`chatty: a ${level} line`));
      assert(line?.includes(`"@level":"${level}"`), `${level}: ${line}`);
      assert(line?.includes('"answer":42'), `${level}: ${line}`);
    }
  });
});

Deno.test("cleanupPlugins(): kills every managed plugin, gracefully, and only those", async () => {
  const bin = await kvGoPlugin();
  await withTempDir(async (dir) => {
    const { logger } = capture();
    const opts = { cmd: [bin], cwd: dir, handshake: KV_HANDSHAKE, logger };
    const a = await launch({ ...opts, managed: true });
    const b = await launch({ ...opts, managed: true });
    const c = await launch(opts);
    await cleanupPlugins();
    assertEquals(await a.exited, { code: 0, signal: null, forced: false });
    assertEquals(await b.exited, { code: 0, signal: null, forced: false });
    await c.ping();
    await c.kill();
    for (const p of [a, b, c]) assert(!(await pidAlive(p.pid!)), `${p.pid} is still running`);
  });
});
