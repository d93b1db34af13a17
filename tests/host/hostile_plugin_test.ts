/**
 * `launch()` against plugins that misbehave on the connection itself
 * (tests/fixtures/hostile_plugin.ts speaks raw HTTP/2): whatever they do,
 * a call ends (none waits forever), and kill() leaves no process and no
 * socket directory behind.
 *
 * @module
 */

import {
  ConnectError,
  launch,
  LaunchError,
  type PluginClient,
  PluginExitedError,
} from "../../host/mod.ts";
import { STILL_HELD } from "../../host/launch.ts";
import { within } from "../../_timer.ts";
import { createLogger } from "../../log/logger.ts";
import { RpcError, Status } from "../../rpc/status.ts";
import { assert, assertEquals, waitNoProcesses, withTempDir } from "../_util/host.ts";

const HOSTILE = new URL("../fixtures/hostile_plugin.ts", import.meta.url).pathname;
const quiet = createLogger({ level: "off" });
const HANDSHAKE = { magicCookieKey: "HOSTILE", magicCookieValue: "yes" };

/**
 * Launches the hostile plugin in `mode`, with TMPDIR (where launch() makes
 * the socket directory) in `dir`, runs `fn`, kills it, and checks that
 * nothing is left.
 */
async function withHostile(
  dir: string,
  mode: string,
  startTimeoutMs: number,
  fn: (plugin: PluginClient) => Promise<void>,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ dir, prefix: "tmpdir-" });
  const outer = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", tmp);
  let plugin: PluginClient;
  try {
    plugin = await launch({
      cmd: [Deno.execPath(), "run", "-A", HOSTILE, `--mode=${mode}`, `--marker=${dir}`],
      handshake: HANDSHAKE,
      autoMtls: false,
      startTimeoutMs,
      logger: quiet,
    });
  } finally {
    if (outer === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", outer);
  }
  try {
    await fn(plugin);
  } finally {
    await plugin.kill();
  }
  assertEquals(await waitNoProcesses(dir), [], "a plugin process was left behind");
  assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name), [], "a socket directory was left");
}

Deno.test("launch(): a plugin that accepts and never sends SETTINGS fails calls with UNAVAILABLE within the start timeout", async () => {
  await withTempDir(async (dir) => {
    await withHostile(dir, "silent", 3000, async (plugin) => {
      // A deadline well past the start timeout (so that the test ends without the fix):
      // before, a call waited for its own deadline, and for ever without one.
      const err = await plugin.ping({ timeoutMs: 8000 }).then(() => null, (e) => e);
      assert(err instanceof RpcError, `expected an RpcError, got ${err}`);
      assertEquals(err.code, Status.UNAVAILABLE, err.message);
      assert(err.message.includes("no SETTINGS frame within 3000 ms"), err.message);
    });
  });
});

/** The error of a ping of a plugin launched in `mode`. */
async function pingError(mode: string): Promise<RpcError> {
  let error: unknown;
  await withTempDir((dir) =>
    withHostile(dir, mode, 10_000, async (plugin) => {
      error = await plugin.ping({ timeoutMs: 10_000 }).then(() => null, (e) => e);
    })
  );
  assert(error instanceof RpcError, `${mode}: expected an RpcError, got ${error}`);
  return error;
}

Deno.test("launch(): a grpc-status outside the spec's codes is UNKNOWN, a malformed one INTERNAL, each named", async () => {
  // Before: RpcError with code 99, and with code 1e20, both without a message.
  const unknown = await pingError("status=99");
  assertEquals(unknown.code, Status.UNKNOWN, unknown.message);
  assert(unknown.message.includes("unknown grpc-status 99"), unknown.message);
  for (const bad of ["99999999999999999999", "-1"]) {
    const err = await pingError(`status=${bad}`);
    assertEquals(err.code, Status.INTERNAL, err.message);
    assert(err.message.includes(`malformed grpc-status "${bad}"`), err.message);
  }
});

Deno.test("launch(): a response this host refuses is not reported as the plugin's reset or cancel", async () => {
  // Endless CONTINUATION frames end the connection (GOAWAY): before, the call was CANCELLED,
  // "stream reset by the server (HTTP/2 error code 8)".
  const flood = await pingError("continuation");
  assertEquals(flood.code, Status.UNAVAILABLE, flood.message);
  assert(flood.message.includes("CONTINUATION frames"), flood.message);
  // Trailers above our header list limit, and a window overflow, reset the stream here:
  // before, "stream reset by the server (HTTP/2 error code 11)" and "(… code 3)".
  const huge = await pingError("huge-trailers=100");
  assertEquals(huge.code, Status.RESOURCE_EXHAUSTED, huge.message);
  assert(huge.message.includes("stream: response header list above"), huge.message);
  const overflow = await pingError("window-overflow");
  assertEquals(overflow.code, Status.INTERNAL, overflow.message);
  assert(overflow.message.includes("stream: stream window above 2^31-1"), overflow.message);
});

/**
 * Writes a shell plugin into `dir` that starts a grandchild (`sleep`, its pid in
 * `dir/grandchild.pid`) holding its stdout and stderr, then runs `rest`.
 */
async function forkingPlugin(dir: string, rest: string): Promise<string> {
  const path = `${dir}/forking-plugin`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nsleep 300 &\necho $! > "${dir}/grandchild.pid"\n${rest}\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** Ends the grandchild the forking plugin left (go-plugin's host leaves it too: see the report). */
async function killGrandchild(dir: string): Promise<void> {
  const pid = Number((await Deno.readTextFile(`${dir}/grandchild.pid`)).trim());
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}

/** Runs `fn` with a forking plugin of `rest` (see {@linkcode forkingPlugin}); its grandchild is killed after. */
async function withForkingPlugin(rest: string, fn: (exe: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const exe = await forkingPlugin(dir, rest);
    try {
      await fn(exe);
    } finally {
      await killGrandchild(dir);
    }
  });
}

/** The error of launch() of `exe`, which must fail within 15 s. */
async function launchFailsSoon(exe: string): Promise<unknown> {
  const failing = launch({ cmd: [exe], handshake: HANDSHAKE, autoMtls: false, logger: quiet })
    .then(() => null, (e) => e);
  assert(await within(failing, 15_000), "launch() did not fail within 15 s");
  return await failing;
}

Deno.test("launch(): a refused plugin whose grandchild holds its pipes fails within seconds", async () => {
  // Before, launch() waited for the pipes to close: as long as the grandchild lived.
  await withForkingPlugin('echo "not a handshake line"', async (exe) => {
    const err = await launchFailsSoon(exe);
    assert(err instanceof LaunchError, `expected a LaunchError, got ${err}`);
    assert(err.message.includes("Unrecognized remote plugin message"), err.message);
  });
});

Deno.test("kill(): a plugin whose grandchild holds its pipes is done (exited) within seconds", async () => {
  await withForkingPlugin(
    `exec "${Deno.execPath()}" run -A "${HOSTILE}" --mode=max-streams=100`,
    async (exe) => {
      const lines: string[] = [];
      const plugin = await launch({
        cmd: [exe],
        handshake: HANDSHAKE,
        autoMtls: false,
        logger: createLogger({ level: "warn", write: (line) => lines.push(line) }),
      });
      await plugin.kill();
      // Before, `exited` waited for the grandchild, and the pipes' reads kept the host alive.
      assert(await within(plugin.exited, 15_000), "the plugin's exited did not resolve");
      assert(lines.some((l) => l.includes(STILL_HELD)), lines.join("\n"));
    },
  );
});

// Under AutoMTLS, a plugin whose TLS is not what its handshake line announced is refused,
// saying what it did. Before: only Node's TLS error ("… unable to verify the first
// certificate"; "… wrong version number").
for (
  const [mode, what, said] of [
    [
      "wrong-cert",
      "serving another certificate than it announced",
      "different TLS certificate from the one in its handshake line",
    ],
    ["plain-under-tls", "announcing a certificate and serving plaintext", "it serves plaintext"],
  ] as const
) {
  Deno.test(`launch(): under AutoMTLS, a plugin ${what} is refused, saying so`, async () => {
    await withTempDir(async (dir) => {
      const err = await launch({
        cmd: [Deno.execPath(), "run", "-A", HOSTILE, `--mode=${mode}`, `--marker=${dir}`],
        handshake: HANDSHAKE,
        logger: quiet,
      }).then(async (p) => (await p.kill(), null), (e) => e);
      assert(err instanceof ConnectError, `expected a ConnectError, got ${err}`);
      assert(err.message.includes(said), err.message);
      assertEquals(await waitNoProcesses(dir), [], "a plugin process was left behind");
    });
  });
}

Deno.test("launch(): a TCP address that never answers fails within the start timeout", async () => {
  await withTempDir(async (dir) => {
    // Before, connecting waited for the OS (about two minutes), whatever startTimeoutMs said.
    const failing = launch({
      cmd: [Deno.execPath(), "run", "-A", HOSTILE, "--mode=full-backlog", `--marker=${dir}`],
      handshake: HANDSHAKE,
      autoMtls: false,
      startTimeoutMs: 5000,
      logger: quiet,
    }).then(async (p) => (await p.kill(), null), (e) => e);
    assert(await within(failing, 30_000), "launch() did not fail within 30 s");
    const err = await failing;
    assert(err instanceof ConnectError, `expected a ConnectError, got ${err}`);
    assert(err.message.includes("nothing answered within 5000 ms"), err.message);
    assertEquals(await waitNoProcesses(dir), [], "a plugin process was left behind");
  });
});

Deno.test("launch(): a plugin that exits without a handshake line, its grandchild holding the pipes, fails within seconds", async () => {
  // Before, launch() waited for the whole start timeout (60 s by default).
  await withForkingPlugin('echo "starting" >&2\nexit 3', async (exe) => {
    const err = await launchFailsSoon(exe);
    assert(err instanceof PluginExitedError, `expected a PluginExitedError, got ${err}`);
    assertEquals(err.exitCode, 3);
    assert(err.message.includes("starting"), err.message);
  });
});

Deno.test("launch(): a plugin that exits by itself, its grandchild holding the pipes, is seen exited within seconds", async () => {
  await withForkingPlugin(
    `exec "${Deno.execPath()}" run -A "${HOSTILE}" --mode=exit-on-call`,
    async (exe) => {
      const plugin = await launch({
        cmd: [exe],
        handshake: HANDSHAKE,
        autoMtls: false,
        logger: quiet,
      });
      const err = await plugin.ping().then(() => null, (e) => e);
      assert(err instanceof RpcError && err.code === Status.UNAVAILABLE, `got ${err}`);
      // Before, `exited` waited for the grandchild, and the pipes' reads kept the host alive.
      assert(await within(plugin.exited, 15_000), "the plugin's exited did not resolve");
      assertEquals((await plugin.exited).code, 3);
      await plugin.kill();
    },
  );
});
