/**
 * What only go-plugin's multiplexed broker mode (`GRPCBrokerMultiplex`,
 * `PLUGIN_MULTIPLEX_GRPC=true`) has; the broker's proofs with real go-plugin
 * peers, plain and multiplexed, are in broker_test.ts (host role) and
 * broker_plugin_test.ts (plugin role):
 *
 * - our plugin's dial of an id the host never serves: no knock ack within
 *   go-plugin's 5 s, a clear error naming the id, then a graceful kill;
 * - handshake field 7: absent unless asked, `true` when asked (native
 *   engine), `false` on grpc-js (which cannot serve a yamux stream): our
 *   host then falls back to plain mode, go-plugin's multiplexing host
 *   refuses the plugin with its own clear error;
 * - under AutoMTLS the TLS inside each stream refuses a client without the
 *   host's certificate (an impostor's, or none).
 */

import { fromTsProto } from "../../mod.ts";
import { launch } from "../../host/mod.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { CounterDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { YamuxSession } from "../../mux/yamux.ts";
import { type ClientTls, connectStream, dialSocket } from "../../rpc/connect.ts";
import { checkHealth } from "../../services/health.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
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

/** Our host, multiplexed, launching `script` from `dir`; its log lines go to `lines`. */
function launchMux(dir: string, script: string, lines: string[] = []) {
  return launch({
    cmd: [DENO, "run", ...pluginFlags([dir]), ROOT + script],
    cwd: dir,
    handshake: HANDSHAKE,
    brokerMultiplex: true,
    unixSocket: { dir },
    logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
  });
}

Deno.test("broker mux: our plugin's dial of an id the host never serves fails after 5 s, naming the id", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launchMux(dir, PLUGIN);
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
    const plugin = await launchMux(dir, "tests/fixtures/plugin_grpcjs.ts", lines);
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

Deno.test("broker mux: go-plugin's multiplexing host refuses our grpc-js plugin cleanly (field 7 false)", async () => {
  const host = await buildGo("brokerpeer");
  await withTempDir(async (dir) => {
    const r = await run(host, [
      "host",
      "-mux",
      "-cmd",
      denoRunLine("tests/fixtures/plugin_grpcjs.ts", [dir]),
    ], { cwd: dir, env: { TMPDIR: dir } });
    assertEquals(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert(r.stdout.includes("plugin does not support the feature"), r.stdout);
    assertEquals(await waitNoProcesses(dir), []);
    assertEquals(socketFiles(dir), []);
  });
});

/** Resolves once `lines` holds `n` "TLS handshake refused" lines (checked on each new line). */
function refusals(lines: string[], n: number): Promise<void> {
  const count = () => lines.filter((l) => l.includes("TLS handshake refused")).length;
  if (count() >= n) return Promise.resolve();
  return new Promise((resolve) => {
    const push = lines.push.bind(lines);
    lines.push = (...items: string[]) => {
      const length = push(...items);
      if (count() >= n) resolve();
      return length;
    };
  });
}

Deno.test("broker mux: TLS inside each stream refuses a client without the host's certificate", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const plugin = await launchMux(dir, PLUGIN, lines);
    const impostor = await makeAutoCertificate("ecdsa-p256");
    // A second connection to the plugin's listener: its own yamux session.
    const session = new YamuxSession(
      await dialSocket({ network: "unix", address: plugin.address }),
      "client",
    );
    try {
      assert(plugin.broker.multiplexed);
      const tryStream = async (tls: ClientTls | undefined) => {
        const channel = await connectStream(await session.open(), {
          tls,
          maxMessageBytes: 1 << 20,
          timeoutMs: 5000,
        });
        try {
          await checkHealth(channel, { timeoutMs: 5000 });
        } finally {
          channel.close();
        }
      };
      // An impostor certificate, and plaintext, inside the stream: both refused.
      let refused = 0;
      for (const tls of [{ certPem: impostor.certPem, keyPem: impostor.keyPem }, undefined]) {
        try {
          await tryStream(tls);
        } catch {
          refused++;
        }
      }
      assertEquals(refused, 2);
      // The host's own connection is unaffected.
      await plugin.ping();
      // Its stream's TLS was our own TLS 1.3 server's (tls13/), and so were the refusals.
      assert(lines.some((l) => l.includes("TLS 1.3 handshake (rpcplugin)")), lines.join("\n"));
      // The second refusal is logged when the plugin sees the plaintext stream close, which
      // can come after our call failed: wait for it (the test's timeout bounds the wait).
      await refusals(lines, 2);
    } finally {
      await session.close();
      await plugin.kill();
    }
    assertEquals((await plugin.exited).forced, false);
    assertEquals(socketFiles(dir), []);
  });
});
