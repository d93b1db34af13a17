/**
 * Tests of debug mode (`serve({ debug })`, `server/debug.ts`): the fixture
 * plugin runs by hand, without the cookie, prints TF_REATTACH_PROVIDERS, and
 * our host attaches to it.
 */

import { attach, parseReattach, type ReattachConfig } from "../../host/mod.ts";
import { ENV_PREFIX } from "../../constants.ts";
import { fromTsProto, serve, StartupError } from "../../mod.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { kvService } from "../../examples/kv/kv.ts";
import { debugMode, debugText } from "../../server/debug.ts";
import { createLogger } from "../../log/logger.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { socketFiles, withTempDir } from "../_util/host.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";

const onUnix = Deno.build.os !== "windows";
const PROVIDER = "registry.terraform.io/rpcplugin/example";
const REATTACH_LINE = /^\tTF_REATTACH_PROVIDERS='(.*)'$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The fixture plugin in debug mode, with its stdout read line by line. */
interface DebugPlugin {
  child: Deno.ChildProcess;
  /** Resolves with the first stdout line matching, or rejects at EOF. */
  line(pattern: RegExp): Promise<string>;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves with all of stderr once it closes. */
  stderr: Promise<string>;
  /** Resolves once stdout closed. */
  stdoutDone: Promise<void>;
}

/** Our environment without the cookie and go-plugin's variables, with TMPDIR = dir. */
function envWithoutCookie(dir: string): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (name === "BASIC_PLUGIN" || name.startsWith(ENV_PREFIX)) delete env[name];
  }
  return { ...env, TMPDIR: dir };
}

/** Runs the fixture with `--debug` and `args`, in and with its socket in `dir`. */
function startDebugPlugin(
  dir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): DebugPlugin {
  const child = new Deno.Command(DENO, {
    args: ["run", ...pluginFlags([dir]), `${ROOT}tests/fixtures/plugin.ts`, "--debug", ...args],
    cwd: dir,
    clearEnv: true,
    env: { ...envWithoutCookie(dir), ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }[] =
    [];
  const offer = (line: string) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  let eof = false;
  const stdoutDone = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl;
      while ((nl = rest.indexOf("\n")) >= 0) {
        offer(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
    }
    if (rest) offer(rest);
    eof = true;
    for (const w of waiters.splice(0)) {
      w.reject(
        new Error(`stdout closed without a line matching ${w.pattern}: ${lines.join("\n")}`),
      );
    }
  })();
  const stderr = new Response(child.stderr).text();
  return {
    child,
    lines,
    stderr,
    stdoutDone,
    line(pattern) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (eof) return Promise.reject(new Error(`stdout closed without ${pattern}`));
      return new Promise((resolve, reject) => waiters.push({ pattern, resolve, reject }));
    },
  };
}

/** Waits for the plugin to exit and both pipes to drain; returns the status and stderr. */
async function finish(p: DebugPlugin): Promise<{ status: Deno.CommandStatus; stderr: string }> {
  const [status, stderr] = await Promise.all([p.child.status, p.stderr, p.stdoutDone]);
  return { status, stderr };
}

/** The reattach configuration the plugin printed, read with parseReattach(). */
async function printedConfig(p: DebugPlugin, provider?: string): Promise<ReattachConfig> {
  return parseReattach(await p.line(REATTACH_LINE), provider);
}

Deno.test({
  name: "debug mode: no cookie, TF_REATTACH_PROVIDERS on stdout, attach, KV, ping, SIGINT exits 0",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const p = startDebugPlugin(dir, [`--debug-name=${PROVIDER}`, "--log-level=info"]);
      const config = await printedConfig(p, PROVIDER);
      assertEquals(p.lines.slice(0, 2), [
        "Plugin started in debug mode. To attach a host to it, set in the host's environment:",
        "",
      ]);
      assert(!p.lines.some((l) => /^\d+\|\d+\|/.test(l)), "no handshake line on stdout");
      assertEquals(config.protocol, "grpc");
      assertEquals(config.protocolVersion, 1);
      assertEquals(config.pid, p.child.pid);
      assertEquals(config.test, true);
      assertEquals(config.addr.network, "unix");
      assert(config.addr.string.startsWith(`${dir}/plugin`), config.addr.string);
      assertEquals(socketFiles(dir).length, 1, "the socket exists while it runs");

      const plugin = await attach({ reattach: config });
      const kv = plugin.client(fromTsProto(KVDefinition));
      await kv.put({ key: "greeting", value: encoder.encode("hello") }, { timeoutMs: 5000 });
      const got = await kv.get({ key: "greeting" }, { timeoutMs: 5000 });
      assert(decoder.decode(got.value).startsWith("hello"), decoder.decode(got.value));
      await plugin.ping();
      await plugin.kill(); // Test: true, so this only closes the connection

      // Still serving: a second host attaches, from the printed JSON text this time.
      const again = await attach({ reattach: (await p.line(REATTACH_LINE)).trim() });
      await again.ping();
      await again.kill();

      p.child.kill("SIGINT");
      const { status, stderr } = await finish(p);
      assertEquals(status.code, 0, stderr);
      assertEquals(socketFiles(dir), [], "socket file removed");
    }),
});

Deno.test({
  name: "debug mode: console.* stays on the real stdout and stderr; SIGTERM exits 0",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const p = startDebugPlugin(dir, ["--chatty", "--log-level=info"]);
      assertEquals((await printedConfig(p)).test, true);
      await p.line(/^chatty: console\.log after the handshake$/);
      await p.line(/^chatty: raw stdout after the handshake$/);
      assert(p.lines.includes("chatty: console.log before serve()"), p.lines.join("\n"));
      p.child.kill("SIGTERM");
      const { status, stderr } = await finish(p);
      assertEquals(status.code, 0, stderr);
      assert(stderr.includes("chatty: console.error after the handshake"), stderr);
      assertEquals(socketFiles(dir), [], "socket file removed");
    }),
});

Deno.test({
  name: "debug mode: the default name, tcp, and the host's Shutdown stops it",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const p = startDebugPlugin(dir, ["--transport=tcp", "--log-level=warn"]);
      // The fixture's cookie key is BASIC_PLUGIN: the default name is "basic_plugin".
      const line = await p.line(REATTACH_LINE);
      const json = JSON.parse(REATTACH_LINE.exec(line)![1]);
      assertEquals(Object.keys(json), ["basic_plugin"]);
      const config = parseReattach(line);
      assertEquals(config.addr.network, "tcp");
      assert(/^127\.0\.0\.1:\d+$/.test(config.addr.string), config.addr.string);
      // Not a test config and no pid: kill() sends GRPCController/Shutdown only.
      const plugin = await attach({ reattach: { ...config, test: false, pid: undefined } });
      await plugin.ping();
      await plugin.kill();
      const { status, stderr } = await finish(p);
      assertEquals(status.code, 0, stderr);
    }),
});

Deno.test({
  name: "debug mode: AutoMTLS is off even if PLUGIN_CLIENT_CERT is set, with a warning",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const p = startDebugPlugin(dir, ["--log-level=warn"], {
        PLUGIN_CLIENT_CERT: "not even PEM: AutoMTLS would fail to start",
      });
      const config = await printedConfig(p);
      const plugin = await attach({ reattach: config }); // plaintext
      await plugin.ping();
      await plugin.kill();
      p.child.kill("SIGINT");
      const { status, stderr } = await finish(p);
      assertEquals(status.code, 0, stderr);
      assert(/debug mode serves plaintext: ignoring PLUGIN_CLIENT_CERT/.test(stderr), stderr);
    }),
});

Deno.test({
  name: "serve({ debug, exit: false }) exposes reattachConfig for embedded tests",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const tmpdir = Deno.env.get("TMPDIR");
      Deno.env.set("TMPDIR", dir);
      let server;
      try {
        server = await serve({
          handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" },
          versions: { 5: [kvService()], 6: [kvService()] },
          logLevel: "error",
          exit: false,
          debug: { name: PROVIDER },
        });
      } finally {
        if (tmpdir === undefined) Deno.env.delete("TMPDIR");
        else Deno.env.set("TMPDIR", tmpdir);
      }
      const config = server.reattachConfig;
      assertEquals(config.test, true);
      assertEquals(config.protocolVersion, 6, "the highest version");
      assertEquals(config.pid, Deno.pid);
      assertEquals(config.addr, { network: server.network, string: server.address });
      const plugin = await attach({ reattach: config });
      await plugin.ping();
      await plugin.kill();
      await server.stop();
      await server.finished;
      assertEquals(socketFiles(dir), []);
    }),
});

Deno.test("debugMode(): off, default names, and a bad name", () => {
  const handshake = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" };
  assertEquals(debugMode(undefined, handshake), null);
  assertEquals(debugMode(false, handshake), null);
  assertEquals(debugMode(true, handshake), { name: "basic_plugin" });
  assertEquals(debugMode({}, { magicCookieKey: "", magicCookieValue: "" }), { name: "plugin" });
  assertEquals(debugMode({ name: PROVIDER }, handshake), { name: PROVIDER });
  assertThrows(() => debugMode({ name: " " }, handshake), StartupError, /non-empty string/);
});

Deno.test("debugText(): the Terraform SDK shape, shell-quoted; Windows forms", () => {
  const config: ReattachConfig = {
    protocol: "grpc",
    protocolVersion: 6,
    pid: 123,
    test: true,
    addr: { network: "unix", string: "/tmp/plugin123" },
  };
  const json =
    `{"${PROVIDER}":{"Protocol":"grpc","ProtocolVersion":6,"Pid":123,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin123"}}}`;
  assertEquals(
    debugText(PROVIDER, config, "linux"),
    "Plugin started in debug mode. To attach a host to it, set in the host's environment:\n\n" +
      `\tTF_REATTACH_PROVIDERS='${json}'\n`,
  );
  const quoted = debugText("it's", config, "darwin");
  assert(quoted.includes(`TF_REATTACH_PROVIDERS='{"it'\\''s":`), quoted);
  const windows = debugText(PROVIDER, {
    ...config,
    addr: { network: "tcp", string: "127.0.0.1:1" },
  }, "windows");
  assert(windows.includes(`\tCommand Prompt:\tset "TF_REATTACH_PROVIDERS={`), windows);
  assert(windows.includes(`\tPowerShell:\t$env:TF_REATTACH_PROVIDERS='{`), windows);
  assertEquals(
    parseReattach(REATTACH_LINE.exec(debugText(PROVIDER, config, "linux").split("\n")[2])![1]),
    parseReattach(json),
  );
});

Deno.test({
  name:
    "attach(): the broker's socket directory is made once for listens at once, and removed by kill()",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const p = startDebugPlugin(dir, ["--log-level=info"]);
      const serving: string[] = [];
      const logger = createLogger({
        level: "debug",
        write: (l) => {
          const r = JSON.parse(l);
          if (r["@message"] === "broker serving") serving.push(r.address);
        },
      });
      const plugin = await attach({ reattach: await printedConfig(p), logger });
      try {
        // Two listeners asked for at once: both in the one directory of this client.
        const listeners = await Promise.all([
          plugin.broker.acceptAndServe(plugin.broker.nextId(), []),
          plugin.broker.acceptAndServe(plugin.broker.nextId(), []),
        ]);
        const dirs = [...new Set(serving.map((a) => a.slice(0, a.lastIndexOf("/"))))];
        assertEquals(serving.length, 2, JSON.stringify(serving));
        assertEquals(dirs.length, 1, `one directory, not ${JSON.stringify(dirs)}`);
        await Promise.all(listeners.map((l) => l.close()));
        await plugin.kill();
        const left = dirs.filter((d) => {
          try {
            return Deno.statSync(d).isDirectory;
          } catch {
            return false;
          }
        });
        assertEquals(left, [], "the broker's directory outlived kill()");
      } finally {
        await plugin.kill();
        p.child.kill("SIGINT");
        await finish(p);
      }
    }),
});
