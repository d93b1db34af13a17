/**
 * The GRPCBroker in go-plugin's multiplexed mode (`GRPCBrokerMultiplex`,
 * `PLUGIN_MULTIPLEX_GRPC=true`, handshake field 7 `true`), both roles, with
 * real go-plugin v1.8 peers (from the Go module proxy), plain and AutoMTLS:
 *
 * - plugin role: our counter plugin (`examples/counter`) under our go-plugin
 *   host fixture (tests/interop/brokerpeer, `GRPCBrokerMultiplex: true`;
 *   go-plugin's own bidirectional example host cannot ask for it): put, put,
 *   get gives 2 (our plugin knocks and dials the host's AddHelper), and the
 *   Go host knocks and dials an AddHelper our plugin serves;
 * - host role: our host (`brokerMultiplex: true`) with go-plugin's Go
 *   bidirectional plugin dialling our AddHelper (put, put, get gives 2),
 *   and dialling an AddHelper our Go plugin fixture serves; no broker socket
 *   is made, everything runs over the one connection;
 * - a knock nobody acknowledges fails after the timeout naming the id (our
 *   host's dial, and our plugin's with the default 5 s); kill leaves no
 *   socket and no process;
 * - field 7: absent when not asked, `true` when asked (native engine),
 *   `false` on grpc-js (which cannot serve a yamux stream), and our host
 *   then falls back to plain mode.
 */

import { fromTsProto, implement } from "../../mod.ts";
import { BrokerError, launch, type LaunchOptions } from "../../host/mod.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
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

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const PLUGIN = "examples/counter/plugin.ts";
const counterDef = fromTsProto(CounterDefinition);
const addHelperDef = fromTsProto(AddHelperDefinition);
const mode = (autoMtls: boolean) => (autoMtls ? "AutoMTLS" : "plain");

/** A Go program copied into `dir`, so that its path marks this test's processes. */
async function goProgram(dir: string, name: "countergo" | "brokerpeer"): Promise<string> {
  const exe = `${dir}/${name}`;
  await Deno.copyFile(await buildGo(name), exe);
  await Deno.chmod(exe, 0o755);
  return exe;
}

/**
 * Our host, multiplexed, in `dir`; its log lines go to `lines`. Sockets go
 * in `dir`, except for go-plugin's plugins: in multiplexed mode they never
 * close their listener (their muxer closes only the yamux session), so
 * their socket file outlives them; our host's own socket directory (the
 * default) is removed with them, which {@linkcode assertGone} checks.
 */
function launchMux(
  dir: string,
  cmd: string[],
  autoMtls: boolean,
  lines: string[] = [],
  extra: Partial<LaunchOptions> = {},
) {
  return launch({
    cmd,
    cwd: dir,
    handshake: HANDSHAKE,
    autoMtls,
    brokerMultiplex: true,
    unixSocket: { dir },
    logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    ...extra,
  });
}

/** The directory of the plugin's socket. */
function ownDirOf(plugin: { address: string }): string {
  return plugin.address.slice(0, plugin.address.lastIndexOf("/"));
}

/** After kill: the socket directory our host made for a Go plugin is gone, socket and all. */
function assertGone(plugin: { address: string }): void {
  const ownDir = ownDirOf(plugin);
  assert(ownDir.includes("rpcplugin-"), `not our host's own directory: ${ownDir}`);
  let exists = true;
  try {
    Deno.statSync(ownDir);
  } catch {
    exists = false;
  }
  assert(!exists, `${ownDir} was left`);
}

/** For go-plugin's plugins: our host's own socket directory. */
const OWN_DIR: Partial<LaunchOptions> = { unixSocket: undefined };

// ---- plugin role: our counter plugin under go-plugin's multiplexing host ----

for (const autoMtls of [false, true]) {
  for (const op of ["put", "get"] as const) {
    const what = op === "put"
      ? "our plugin knocks and dials the Go host's AddHelper: put, put, get gives 2"
      : "the Go host knocks and dials an AddHelper our plugin serves";
    Deno.test(`broker mux: ${what} (${mode(autoMtls)})`, async () => {
      const host = await buildGo("brokerpeer");
      await withTempDir(async (dir) => {
        const r = await run(host, [
          "host",
          "-mux",
          "-op",
          op,
          ...(autoMtls ? ["-automtls"] : []),
          "-cmd",
          denoRunLine(PLUGIN, [dir]),
        ], { cwd: dir, env: { TMPDIR: dir } });
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assertEquals(r.stdout.trim(), op === "put" ? "2" : "5", r.stderr);
        // go-plugin's host ran its yamux client (it refuses a plugin without field 7 true) ...
        assert(r.stderr.includes("client muxer connected"), r.stderr);
        // ... and our plugin served multiplexed.
        assert(r.stderr.includes("serving with broker multiplexing"), r.stderr);
        assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
        if (autoMtls) assert(r.stderr.includes("configuring server automatic mTLS"), r.stderr);
        if (op === "put") {
          assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/kv_hello`)), { Value: 2 });
        }
        assertEquals(await waitNoProcesses(dir), []);
        assertEquals(socketFiles(dir), []);
      });
    });
  }
}

// ---- host role: our host, multiplexed, with go-plugin's Go plugins ----

for (const autoMtls of [false, true]) {
  Deno.test(
    `broker mux: our host serves AddHelper, go-plugin's Go counter plugin knocks and dials it: put, put, get gives 2 (${
      mode(autoMtls)
    })`,
    async () => {
      await withTempDir(async (dir) => {
        const lines: string[] = [];
        const plugin = await launchMux(
          dir,
          [await goProgram(dir, "countergo")],
          autoMtls,
          lines,
          OWN_DIR,
        );
        const sums: string[] = [];
        const addHelper = implement(addHelperDef, {
          sum: (req) => {
            sums.push(`${req.a}+${req.b}`);
            return { r: req.a + req.b };
          },
        });
        try {
          assert(plugin.broker.multiplexed, "the Go plugin answers field 7 true: multiplexed");
          const counter = plugin.client(counterDef);
          for (let i = 0; i < 2; i++) {
            const id = plugin.broker.nextId();
            const server = await plugin.broker.acceptAndServe(id, [addHelper]);
            // Nothing listens for it: the only socket is the plugin's own.
            assertEquals(socketFiles(ownDirOf(plugin)).length, 1);
            await counter.put({ addServer: id, key: "hello", value: 1n }, { timeoutMs: 10_000 });
            await server.close();
          }
          assertEquals(
            String((await counter.get({ key: "hello" }, { timeoutMs: 5000 })).value),
            "2",
          );
          assertEquals(sums, ["0+1", "1+1"]);
          assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/kv_hello`)), { Value: 2 });
        } finally {
          await plugin.kill();
        }
        assertEquals((await plugin.exited).forced, false, lines.join("\n"));
        // go-plugin's plugin logged its yamux server session.
        const log = lines.join("\n");
        assert(log.includes("initial server connection accepted"), log);
        assertGone(plugin);
        assertEquals(await waitNoProcesses(dir), []);
      });
    },
  );

  Deno.test(
    `broker mux: a Go plugin serves AddHelper through the broker, our host knocks and dials it (${
      mode(autoMtls)
    })`,
    async () => {
      await withTempDir(async (dir) => {
        const lines: string[] = [];
        const exe = await goProgram(dir, "brokerpeer");
        const plugin = await launchMux(dir, [exe, "plugin"], autoMtls, lines, OWN_DIR);
        try {
          assert(plugin.broker.multiplexed);
          const { value: id } = await plugin.client(counterDef).get({ key: "id" }, {
            timeoutMs: 5000,
          });
          const conn = await plugin.broker.dial(Number(id));
          try {
            const { r } = await conn.client(addHelperDef).sum({ a: 2n, b: 3n }, {
              timeoutMs: 5000,
            });
            assertEquals(String(r), "5");
          } finally {
            conn.close();
          }
        } finally {
          await plugin.kill();
        }
        assertEquals((await plugin.exited).forced, false, lines.join("\n"));
        // go-plugin's plugin handed our knocked stream to its brokered listener.
        assert(lines.join("\n").includes("sending conn to brokered listener"), lines.join("\n"));
        assertGone(plugin);
        assertEquals(await waitNoProcesses(dir), []);
      });
    },
  );
}

// ---- timeouts and teardown ----

Deno.test("broker mux: a knock nobody acknowledges fails after the timeout, naming the id", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launchMux(dir, [await goProgram(dir, "countergo")], false, [], OWN_DIR);
    try {
      assert(plugin.broker.multiplexed);
      let error: unknown;
      try {
        await plugin.broker.dial(42, 300);
      } catch (err) {
        error = err;
      }
      assert(error instanceof BrokerError, String(error));
      assert(/knock.*broker id 42/.test(error.message), error.message);
      // The broker still works after it.
      const id = plugin.broker.nextId();
      await plugin.broker.acceptAndServe(id, [addHelperService]);
      await plugin.client(counterDef).put({ addServer: id, key: "k", value: 7n }, {
        timeoutMs: 10_000,
      });
      assertEquals(String((await plugin.client(counterDef).get({ key: "k" })).value), "7");
    } finally {
      await plugin.kill();
    }
    assertGone(plugin);
    assertEquals(await waitNoProcesses(dir), []);
  });
});

Deno.test("broker mux: our plugin's dial of an id the host never serves fails after 5 s, naming the id", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launchMux(
      dir,
      [DENO, "run", ...pluginFlags([dir]), ROOT + PLUGIN],
      true,
    );
    try {
      assert(plugin.broker.multiplexed);
      const started = performance.now();
      let error: unknown;
      try {
        await plugin.client(counterDef).put({ addServer: 99, key: "k", value: 1n }, {
          timeoutMs: 20_000,
        });
      } catch (err) {
        error = err;
      }
      const waited = performance.now() - started;
      assert(error instanceof Error, "the Put must fail");
      assert(/broker id 99/.test(error.message), error.message);
      assert(waited >= 4900, `gave up after ${waited} ms, before go-plugin's 5 s`);
    } finally {
      await plugin.kill();
    }
    assertEquals((await plugin.exited).forced, false);
    assertEquals(socketFiles(dir), []);
    assertEquals(await waitNoProcesses(dir), []);
  });
});

Deno.test("broker mux: kill() ends the session and the brokered servers; nothing is left", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launchMux(dir, [await goProgram(dir, "countergo")], true, [], OWN_DIR);
    await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelperService]);
    await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelperService]);
    assertEquals(socketFiles(ownDirOf(plugin)).length, 1);
    await plugin.kill();
    assertEquals((await plugin.exited).forced, false);
    assertGone(plugin);
    assertEquals(await waitNoProcesses(dir), []);
    let refused: unknown;
    try {
      await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelperService]);
    } catch (err) {
      refused = err;
    }
    assert(refused instanceof BrokerError, "a closed broker must refuse to serve");
  });
});

// ---- both ours, both directions ----

Deno.test("broker mux: our host and our counter plugin, both directions, AutoMTLS", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launchMux(dir, [DENO, "run", ...pluginFlags([dir]), ROOT + PLUGIN], true);
    try {
      assert(plugin.broker.multiplexed);
      const counter = plugin.client(counterDef);
      for (let i = 0; i < 2; i++) {
        const id = plugin.broker.nextId();
        const served = await plugin.broker.acceptAndServe(id, [addHelperService]);
        await counter.put({ addServer: id, key: "hello", value: 1n }, { timeoutMs: 10_000 });
        await served.close();
      }
      assertEquals(String((await counter.get({ key: "hello" })).value), "2");
      const { value: id } = await counter.get({ key: SERVE_KEY }, { timeoutMs: 5000 });
      // Two dials at once: they go one after the other, each to its stream.
      const conns = await Promise.all([
        plugin.broker.dial(Number(id)),
        plugin.broker.dial(Number(id)),
      ]);
      try {
        const sums = await Promise.all(
          conns.map((c, i) => c.client(addHelperDef).sum({ a: 40n, b: BigInt(i) })),
        );
        assertEquals(sums.map((s) => String(s.r)), ["40", "41"]);
      } finally {
        for (const c of conns) c.close();
      }
      assertEquals(socketFiles(dir).length, 1, "multiplexed: no broker socket on either side");
    } finally {
      await plugin.kill();
    }
    assertEquals((await plugin.exited).forced, false);
    assertEquals(socketFiles(dir), []);
    assertEquals(await waitNoProcesses(dir), []);
  });
});

// ---- field 7 ----

/** The handshake line our plugin prints with `env`, then its stderr once stopped by SIGTERM. */
async function handshakeLine(
  dir: string,
  script: string,
  env: Record<string, string>,
): Promise<{ fields: string[]; stderr: string }> {
  const child = new Deno.Command(DENO, {
    args: ["run", ...pluginFlags([dir]), ROOT + script],
    cwd: dir,
    env: {
      BASIC_PLUGIN: "hello",
      PLUGIN_PROTOCOL_VERSIONS: "1",
      PLUGIN_UNIX_SOCKET_DIR: dir,
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  child.kill("SIGTERM");
  await reader.cancel();
  const stderr = await new Response(child.stderr).text();
  assertEquals((await child.status).code, 0, stderr);
  return { fields: text.trim().split("|"), stderr };
}

Deno.test("broker mux: handshake field 7 is absent unless asked, true when asked, false on grpc-js", async () => {
  await withTempDir(async (dir) => {
    const plain = await handshakeLine(dir, PLUGIN, {});
    assertEquals(plain.fields.length, 6, plain.fields.join("|"));
    const notTrue = await handshakeLine(dir, PLUGIN, { PLUGIN_MULTIPLEX_GRPC: "false" });
    assertEquals(notTrue.fields.length, 6, notTrue.fields.join("|"));
    const asked = await handshakeLine(dir, PLUGIN, { PLUGIN_MULTIPLEX_GRPC: "true" });
    assertEquals(asked.fields.length, 7, asked.fields.join("|"));
    assertEquals(asked.fields[6], "true");
    const grpcJs = await handshakeLine(dir, "tests/fixtures/plugin_grpcjs.ts", {
      PLUGIN_MULTIPLEX_GRPC: "true",
    });
    assertEquals(grpcJs.fields[6], "false", grpcJs.fields.join("|"));
    assert(grpcJs.stderr.includes("cannot serve gRPC on a yamux stream"), grpcJs.stderr);
    assertEquals(socketFiles(dir), []);
  });
});

Deno.test("broker mux: our host falls back to plain mode when the plugin answers field 7 false (grpc-js)", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const plugin = await launchMux(
      dir,
      [DENO, "run", ...pluginFlags([dir]), ROOT + "tests/fixtures/plugin_grpcjs.ts"],
      true,
      lines,
    );
    try {
      assert(!plugin.broker.multiplexed, "grpc-js cannot multiplex: plain mode");
      const kv = plugin.client(fromTsProto(KVDefinition));
      await kv.put({ key: "a", value: new TextEncoder().encode("1") }, { timeoutMs: 5000 });
      const got = new TextDecoder().decode((await kv.get({ key: "a" }, { timeoutMs: 5000 })).value);
      assert(got.startsWith("1"), got);
    } finally {
      await plugin.kill();
    }
    assert(lines.join("\n").includes("does not offer broker multiplexing"), lines.join("\n"));
    assertEquals(socketFiles(dir), []);
    assertEquals(await waitNoProcesses(dir), []);
  });
});
