/**
 * Our host (`launch()`) against a plugin on a go-plugin implementation nobody
 * here wrote: pyvider-rpcplugin (Python, pinned in
 * bench/python/requirements.txt), serving go-plugin's KV service
 * (bench/python/kv_plugin.py, run with the venv's python and its generated
 * kv_pb2 modules on PYTHONPATH). It proves that, plain and AutoMTLS:
 *
 * - put/get round-trip through `plugin.client(fromTsProto(KVDefinition))`, a
 *   Python `context.abort(NOT_FOUND)` arrives as an `RpcError` with its code
 *   and message, and `ping()` (grpc.health.v1 for `plugin`) answers;
 * - `kill()` is graceful: pyvider serves GRPCController/Shutdown, so the
 *   plugin exits 0 without SIGKILL and without the host's warning, and leaves
 *   no process, no socket and no socket directory;
 * - a plugin that cannot answer (stopped with SIGSTOP) is SIGKILLed after the
 *   Shutdown deadline and the kill timeout, with the WARN "plugin failed to
 *   exit gracefully", and `exited` says `forced: true`.
 *
 * What pyvider-rpcplugin 0.5.5 does differently from go-plugin, as this file
 * sees it (read from its source and checked here where a test can see it):
 *
 * - It ignores PLUGIN_UNIX_SOCKET_DIR: its socket is `$TMPDIR/pyvider-<pid>.sock`
 *   (or `$TEMP_DIR/...`), not in the private directory `launch()` made. It
 *   removes that socket itself when it stops gracefully; when it is
 *   SIGKILLed the socket stays behind, and `launch()` cannot remove it
 *   (it only removes its own directory). The tests assert both.
 * - It does not verify the host's AutoMTLS certificate: it serves TLS with
 *   `require_client_auth=False` and logs "Serving TLS without client
 *   verification" (go-plugin requires and verifies it). The connection is
 *   still TLS pinned to the certificate in its handshake line.
 * - It serves GRPCController/Shutdown (answers, then SIGTERMs itself after
 *   0.1 s), GRPCBroker and GRPCStdio; but nothing feeds its GRPCStdio stream
 *   (what the Python process prints is not forwarded), so the host's stdio
 *   stream stays open and empty: no "stdio service not available" warning.
 * - Its log lines on stderr are structlog text, not hclog JSON, so the host
 *   re-logs them at debug level, as go-plugin's host does with plain lines.
 */

import { fromTsProto } from "../../mod.ts";
import { launch, type PluginClient, RpcError, Status } from "../../host/mod.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { createLogger, type Logger } from "../../log/logger.ts";
import { pyviderVenv } from "../_util/peers.ts";
import { assert, assertEquals, waitNoProcesses, withTempDir } from "../_util/host.ts";

const KV_HANDSHAKE = {
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
  protocolVersion: 1,
} as const;
const kvDef = fromTsProto(KVDefinition);
const SCRIPT = "kv_plugin.py";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A host logger that keeps its lines, for checking what the host said. */
function capture(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "trace", write: (l) => lines.push(l) }) };
}

/**
 * Launches pyvider's KV plugin from a link in a fresh temp dir (its working
 * directory, so its kv_* files land there, and a marker for `pgrep`), with
 * the host's TMPDIR pointing there too (launch()'s socket directory, and
 * pyvider's socket, which follows TMPDIR), then runs `fn`.
 */
async function withKvPlugin(
  autoMtls: boolean,
  fn: (plugin: PluginClient, dir: string, log: () => string) => Promise<void>,
): Promise<void> {
  const py = await pyviderVenv();
  await withTempDir(async (dir) => {
    const script = `${dir}/${SCRIPT}`;
    await Deno.symlink(py.kvPlugin, script);
    const tmpdir = Deno.env.get("TMPDIR");
    Deno.env.set("TMPDIR", dir);
    try {
      const { lines, logger } = capture();
      const plugin = await launch({
        cmd: [py.python, script],
        cwd: dir,
        env: { PYTHONPATH: py.pythonPath },
        handshake: KV_HANDSHAKE,
        autoMtls,
        logger,
      });
      try {
        await fn(plugin, dir, () => lines.join(""));
      } finally {
        await plugin.kill();
      }
    } finally {
      if (tmpdir === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", tmpdir);
    }
  });
}

/** What is in `dir`, sorted. */
function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

for (const autoMtls of [false, true]) {
  Deno.test(`launch(): pyvider-rpcplugin's KV plugin, ${autoMtls ? "AutoMTLS" : "plain"}: put/get, ping, graceful kill`, async () => {
    await withKvPlugin(autoMtls, async (plugin, dir, log) => {
      assertEquals([plugin.network, plugin.protocolVersion], ["unix", 1]);
      // Not in launch()'s directory: pyvider ignores PLUGIN_UNIX_SOCKET_DIR.
      assertEquals(plugin.address, `${dir}/pyvider-${plugin.pid}.sock`);

      const kv = plugin.client(kvDef);
      await kv.put({ key: "k", value: enc.encode("v1") }, { timeoutMs: 10_000 });
      const got = await kv.get({ key: "k" }, { timeoutMs: 10_000 });
      assertEquals(dec.decode(got.value), "v1\n\nWritten from plugin-python-pyvider");
      const missing = await kv.get({ key: "absent" }, { timeoutMs: 10_000 }).then(
        () => null,
        (err) => err,
      );
      assert(missing instanceof RpcError, `expected an RpcError, got ${missing}`);
      assertEquals(missing.code, Status.NOT_FOUND, missing.message);
      assert(missing.message.includes('no value stored for key "absent"'), missing.message);
      await plugin.ping();

      // pyvider accepts our certificate without verifying it (see the header).
      assertEquals(log().includes("Serving TLS without client verification"), autoMtls, log());

      const started = performance.now();
      await plugin.kill();
      const killMs = performance.now() - started;
      // Shutdown is served: it exits by itself, well before the 2 s kill timeout.
      assertEquals(await plugin.exited, { code: 0, signal: null, forced: false }, log());
      assert(killMs < 2000, `kill() took ${killMs} ms`);
      assert(!log().includes("plugin failed to exit gracefully"), log());
      assert(!log().includes("plugin stdio service not available"), log());
      assertEquals(await waitNoProcesses(dir), [], "plugin processes left behind");
      // Its socket (removed by pyvider) and launch()'s directory are gone.
      assertEquals(entries(dir), ["kv_k", SCRIPT]);
    });
  });
}

Deno.test("launch(): a pyvider plugin that cannot answer is SIGKILLed, with the host's warning", async () => {
  await withKvPlugin(false, async (plugin, dir, log) => {
    await plugin.ping();
    const socket = plugin.address.slice(dir.length + 1);
    // Stopped, it reads nothing: Shutdown gets no answer and it cannot exit.
    Deno.kill(plugin.pid!, "SIGSTOP");
    await plugin.kill();
    assertEquals(await plugin.exited, { code: null, signal: "SIGKILL", forced: true }, log());
    const warning = log().split("\n").find((l) => l.includes("plugin failed to exit gracefully"));
    assert(warning, log());
    const fields = JSON.parse(warning);
    assertEquals([fields["@level"], fields.pid, fields.shutdown_accepted], [
      "warn",
      plugin.pid,
      false,
    ]);
    assertEquals(await waitNoProcesses(dir), [], "plugin processes left behind");
    // launch()'s own directory is gone; pyvider's socket, outside it, is not:
    // a SIGKILLed pyvider plugin cannot remove it (see the header).
    assertEquals(entries(dir), [SCRIPT, socket].sort());
  });
});
