/**
 * Our host (`launch()`, `attach()`) against a real Terraform provider nobody
 * here wrote: hashicorp/terraform-provider-time v0.14.2
 * (terraform-plugin-framework on go-plugin, tfplugin5 only), built from the
 * Go module proxy by tests/_util/peers.ts. It proves that:
 *
 * - launched with Terraform's cookie and `versions: [5, 6]`, with AutoMTLS
 *   (the default) and without, the provider negotiates protocol 5, answers
 *   `tfplugin5.Provider/GetSchema` with its four resources and `ping()`, and
 *   `kill()` stops it gracefully (GRPCController/Shutdown: exit code 0, no
 *   SIGKILL, no warning), leaving no process and no socket directory;
 * - started by hand with `-debug`, the `TF_REATTACH_PROVIDERS` value it
 *   prints is enough for `attach()`; `kill()` of that `Test: true` plugin only
 *   hangs up (the provider keeps serving a second attach), and the provider
 *   then stops on SIGINT and removes its socket;
 * - a wrong cookie is a `PluginExitedError` carrying the provider's own
 *   "This binary is a plugin" text, and `versions: [7]` is refused with
 *   "Incompatible API version" quoting the handshake line; neither leaves a
 *   process or a socket directory behind.
 *
 * Each test links the binary into its own temp dir, so that `pgrep` on that
 * dir finds exactly this test's provider processes, and points the host's
 * TMPDIR there, so that the private socket directory `launch()` makes (and
 * must remove) is inside it too: afterwards the dir must hold only the link.
 */

import { fromTsProto } from "../../mod.ts";
import {
  attach,
  launch,
  LaunchError,
  type LaunchOptions,
  PluginExitedError,
  type ServiceClient,
} from "../../host/mod.ts";
import { ProviderDefinition } from "./gen/tfplugin5/tfplugin5_pb.ts";
import { createLogger, type Logger } from "../../log/logger.ts";
import { terraformProviderTime, TF_MAGIC_COOKIE } from "../_util/peers.ts";
import { assert, assertEquals, socketFiles, waitNoProcesses, withTempDir } from "../_util/host.ts";

const TF_HANDSHAKE = {
  magicCookieKey: TF_MAGIC_COOKIE.key,
  magicCookieValue: TF_MAGIC_COOKIE.value,
} as const;
const providerDef = fromTsProto(ProviderDefinition);
const EXE = "terraform-provider-time";
/** What terraform-provider-time v0.14.2 declares. */
const RESOURCES = ["time_offset", "time_rotating", "time_sleep", "time_static"];
const TIME_STATIC_ATTRIBUTES = [
  "day",
  "hour",
  "id",
  "minute",
  "month",
  "rfc3339",
  "second",
  "triggers",
  "unix",
  "year",
];

/** A host logger that keeps its lines, for checking what the host said. */
function capture(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: "trace", write: (l) => lines.push(l) }) };
}

/**
 * Runs `fn` with a temp dir holding a link to the provider, and the host's
 * TMPDIR pointing at that dir (launch() makes its socket directory there).
 */
async function withProvider(fn: (dir: string, exe: string) => Promise<void>): Promise<void> {
  const bin = await terraformProviderTime();
  await withTempDir(async (dir) => {
    const exe = `${dir}/${EXE}`;
    await Deno.symlink(bin, exe);
    const tmpdir = Deno.env.get("TMPDIR");
    Deno.env.set("TMPDIR", dir);
    try {
      await fn(dir, exe);
    } finally {
      if (tmpdir === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", tmpdir);
    }
  });
}

/** Asserts no provider process of this test runs and `dir` holds only the link to it. */
async function assertNothingLeft(dir: string): Promise<void> {
  assertEquals(await waitNoProcesses(dir), [], "provider processes left behind");
  const entries = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assertEquals(entries, [EXE], "socket directory or socket left behind");
}

/** Calls GetSchema and checks what the provider declares. */
async function assertSchema(client: ServiceClient<typeof providerDef>): Promise<void> {
  const schema = await client.getSchema({}, { timeoutMs: 10_000 });
  assertEquals(schema.diagnostics, [], "GetSchema diagnostics");
  assertEquals(Object.keys(schema.resourceSchemas).sort(), RESOURCES);
  assertEquals(Object.keys(schema.dataSourceSchemas), []);
  const timeStatic = schema.resourceSchemas.time_static?.block?.attributes ?? [];
  assertEquals(timeStatic.map((a) => a.name).sort(), TIME_STATIC_ATTRIBUTES);
  const rfc3339 = timeStatic.find((a) => a.name === "rfc3339")!;
  assert(rfc3339.optional && rfc3339.computed, "time_static.rfc3339 is optional and computed");
}

/** Expects `launch()` to fail, and returns its error. */
async function launchFails(options: LaunchOptions): Promise<LaunchError> {
  try {
    const plugin = await launch(options);
    await plugin.kill();
  } catch (err) {
    assert(err instanceof LaunchError, `expected a LaunchError, got ${err}`);
    return err;
  }
  throw new Error("launch() succeeded, expected it to fail");
}

for (const autoMtls of [true, false]) {
  Deno.test(`launch(): terraform-provider-time, ${autoMtls ? "AutoMTLS" : "plain"}: GetSchema, ping, graceful kill`, async () => {
    await withProvider(async (dir, exe) => {
      const { lines, logger } = capture();
      const log = () => lines.join("");
      const plugin = await launch({
        cmd: [exe],
        cwd: dir,
        handshake: TF_HANDSHAKE,
        versions: [5, 6],
        ...(autoMtls ? {} : { autoMtls: false }),
        logger,
      });
      try {
        // It serves tfplugin5 only: of [5, 6] it must pick 5.
        assertEquals(plugin.protocolVersion, 5);
        assertEquals(plugin.network, "unix");
        assert(plugin.address.startsWith(`${dir}/rpcplugin-`), plugin.address);
        await assertSchema(plugin.client(providerDef));
        await plugin.ping();
        // go-plugin logs this only when the host sent PLUGIN_CLIENT_CERT.
        assertEquals(log().includes("configuring server automatic mTLS"), autoMtls, log());
      } finally {
        await plugin.kill();
      }
      // Terraform providers serve GRPCController/Shutdown: no SIGKILL.
      assertEquals(await plugin.exited, { code: 0, signal: null, forced: false }, log());
      assert(!log().includes("plugin failed to exit gracefully"), log());
      // go-plugin serves GRPCStdio, so the host's stdio stream found the service.
      assert(!log().includes("plugin stdio service not available"), log());
      await assertNothingLeft(dir);
    });
  });
}

/** A provider started with `-debug`, and the TF_REATTACH_PROVIDERS value it printed. */
interface DebugProvider {
  child: Deno.ChildProcess;
  reattach: string;
  /** Resolves with everything it wrote on stdout, once stdout closed. */
  stdout: Promise<string>;
  /** Resolves with everything it wrote on stderr, once stderr closed. */
  stderr: Promise<string>;
}

/** Starts `exe -debug` with its TMPDIR in `dir`, and reads stdout until the reattach line. */
async function startDebug(exe: string, dir: string): Promise<DebugProvider> {
  const child = new Deno.Command(exe, {
    args: ["-debug"],
    env: { TMPDIR: dir },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let reattach: string | undefined;
  while (reattach === undefined) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    reattach = text.match(/^\s*TF_REATTACH_PROVIDERS='(.*)'$/m)?.[1];
  }
  const stdout = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  if (reattach === undefined) {
    await child.status;
    throw new Error(
      `the provider printed no TF_REATTACH_PROVIDERS line:\n${await stdout}\n${await stderr}`,
    );
  }
  return { child, reattach, stdout, stderr };
}

Deno.test("attach(): terraform-provider-time in -debug mode, from its TF_REATTACH_PROVIDERS line", async () => {
  await withProvider(async (dir, exe) => {
    const debug = await startDebug(exe, dir);
    let exited = false;
    const status = debug.child.status.then((s) => {
      exited = true;
      return s;
    });
    try {
      const entry = JSON.parse(debug.reattach)["registry.terraform.io/hashicorp/time"];
      assertEquals([entry.Test, entry.Pid, entry.Addr.Network], [true, debug.child.pid, "unix"]);
      const socket: string = entry.Addr.String;
      assert(socket.startsWith(`${dir}/plugin`), socket);

      const { lines, logger } = capture();
      const plugin = await attach({ reattach: debug.reattach, logger });
      assertEquals(plugin.pid, debug.child.pid);
      assertEquals([plugin.network, plugin.address, plugin.protocolVersion], [
        "unix",
        socket,
        5,
      ]);
      await assertSchema(plugin.client(providerDef));
      await plugin.ping();
      // Test: true, so kill() only hangs up: no Shutdown, no signal.
      await plugin.kill();
      assertEquals(await plugin.exited, { code: null, signal: null, forced: false });
      assert(!lines.join("").includes("plugin failed to exit gracefully"), lines.join(""));

      // The provider is still serving: a second host attaches to it.
      assert(!exited, "kill() of a Test: true plugin stopped the provider");
      assertEquals(socketFiles(dir), [socket.slice(dir.length + 1)]);
      const again = await attach({ reattach: debug.reattach, logger });
      await again.ping();
      await assertSchema(again.client(providerDef));
      assertEquals(again.reattachConfig().test, true, "reattachConfig() keeps Test: true");
      await again.kill();
      assert(!exited, "the second kill() stopped the provider");

      // Debug mode ends on SIGINT, and go-plugin removes its socket.
      debug.child.kill("SIGINT");
      assertEquals(await status, { success: true, code: 0, signal: null });
      assertEquals(socketFiles(dir), [], "the provider's socket was left behind");
      assert((await debug.stdout).includes("Provider started."), await debug.stdout);
    } finally {
      if (!exited) debug.child.kill("SIGKILL");
      await status;
      await debug.stdout;
      await debug.stderr;
    }
    await assertNothingLeft(dir);
  });
});

Deno.test("launch(): terraform-provider-time with a wrong cookie is a PluginExitedError with its own message", async () => {
  await withProvider(async (dir, exe) => {
    const err = await launchFails({
      cmd: [exe],
      cwd: dir,
      handshake: { ...TF_HANDSHAKE, magicCookieValue: "not-the-cookie" },
      versions: [5],
      logger: capture().logger,
    });
    assert(err instanceof PluginExitedError, `expected a PluginExitedError, got ${err}`);
    assertEquals(err.exitCode, 1, err.message);
    // go-plugin's text, printed by the provider itself on stderr.
    assert(
      err.message.includes("This binary is a plugin. These are not meant to be executed directly."),
      err.message,
    );
    assert(err.stderrTail.includes("This binary is a plugin."), err.stderrTail);
    assert(err.message.includes("Its magic cookie did not match"), err.message);
    await assertNothingLeft(dir);
  });
});

Deno.test("launch(): terraform-provider-time with versions [7] is refused as an incompatible API version", async () => {
  await withProvider(async (dir, exe) => {
    const err = await launchFails({
      cmd: [exe],
      cwd: dir,
      handshake: TF_HANDSHAKE,
      versions: [7],
      logger: capture().logger,
    });
    // The provider has no version 7: go-plugin falls back to its own (5), and
    // the host refuses the line; it is not that the provider exited.
    assert(!(err instanceof PluginExitedError), err.message);
    assert(
      err.message.startsWith(
        "Incompatible API version with plugin. Plugin version: 5, Client versions: [7].",
      ),
      err.message,
    );
    assert(err.line?.startsWith("1|5|unix|"), `handshake line: ${err.line}`);
    assert(err.message.includes(`Plugin stdout line: "1|5|unix|${dir}/rpcplugin-`), err.message);
    await assertNothingLeft(dir);
  });
});
