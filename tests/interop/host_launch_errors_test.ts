/**
 * `launch()` on every way a plugin start can go wrong: each one is a typed
 * `LaunchError` that says what happened and what to do, quotes the line and
 * carries the exit code and stderr tail; and after each, no process and no
 * socket directory is left. Misbehaving plugins are small shell scripts; the
 * checksum is proved on go-plugin's real Go KV plugin.
 */

import {
  ChecksumError,
  ConnectError,
  ExecutableNotFoundError,
  launch,
  LaunchError,
  type LaunchOptions,
  PluginExitedError,
  StartTimeoutError,
} from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { kvGoPlugin } from "../_util/peers.ts";
import { assert, assertEquals, waitNoProcesses, withTempDir } from "../_util/host.ts";

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const quiet = createLogger({ level: "off" });

/** Writes an executable shell script into `dir`. */
async function script(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

/**
 * Launches and expects a failure of class `Kind`; checks nothing is left
 * behind. launch() makes the plugin's socket directory in TMPDIR: for the
 * launch, TMPDIR is a directory of this test's own (tests run one at a time
 * in a process), so only this launch's leftovers are seen, never those of
 * runs beside it.
 */
async function expectFailure<E extends Error>(
  dir: string,
  options: Partial<LaunchOptions> & { cmd: string[] },
  Kind: new (...args: never[]) => E,
): Promise<E> {
  const tmp = await Deno.makeTempDir({ dir, prefix: "tmpdir-" });
  const outer = Deno.env.get("TMPDIR");
  let error: unknown;
  Deno.env.set("TMPDIR", tmp);
  try {
    const p = await launch({ handshake: HANDSHAKE, logger: quiet, cwd: dir, ...options });
    await p.kill();
  } catch (err) {
    error = err;
  } finally {
    if (outer === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", outer);
  }
  assert(error instanceof Kind, `expected ${Kind.name}, got ${error}`);
  assertEquals(await waitNoProcesses(dir), [], "a plugin process was left behind");
  const left = [...Deno.readDirSync(tmp)].map((e) => e.name);
  assertEquals(left, [], "a socket directory was left behind");
  await Deno.remove(tmp);
  return error as E;
}

Deno.test("launch(): a plugin that ignores AutoMTLS fails at once, saying how to turn it off", async () => {
  await withTempDir(async (dir) => {
    const exe = await script(dir, "plain", `echo "1|1|unix|${dir}/sock|grpc|"; exec sleep 30`);
    const err = await expectFailure(dir, { cmd: [exe] }, LaunchError);
    assert(err.message.includes("autoMtls: false"), err.message);
    assertEquals(err.line, `1|1|unix|${dir}/sock|grpc|`);
  });
});

Deno.test("launch(): netrpc, garbage and an unknown version are refused with go-plugin's reasons", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, string][] = [
      [`1|1|unix|${dir}/sock|netrpc|`, "Unsupported plugin protocol"],
      ["Hello from the plugin!", "Unrecognized remote plugin message"],
      [`1|9|unix|${dir}/sock|grpc|`, "Incompatible API version with plugin. Plugin version: 9"],
      [`2|1|unix|${dir}/sock|grpc|`, "Incompatible core API version"],
    ];
    for (const [line, reason] of cases) {
      const exe = await script(
        dir,
        "bad",
        `echo "a clue on stderr" >&2; echo "${line}"; exec sleep 30`,
      );
      const err = await expectFailure(dir, { cmd: [exe], autoMtls: false }, LaunchError);
      assert(err.message.includes(reason), `${line}: ${JSON.stringify(err.message)}`);
      assertEquals(err.line, line);
      assert(
        err.stderrTail.includes("a clue on stderr"),
        `tail: ${JSON.stringify(err.stderrTail)} ${err.message}`,
      );
    }
  });
});

Deno.test("launch(): a plugin that exits first is PluginExitedError with its code and stderr", async () => {
  await withTempDir(async (dir) => {
    const exe = await script(dir, "dies", `echo "cannot open the database" >&2; exit 3`);
    const err = await expectFailure(dir, { cmd: [exe] }, PluginExitedError);
    assertEquals(err.exitCode, 3);
    assert(err.message.includes("cannot open the database"), err.message);
  });
});

Deno.test("launch(): a plugin that prints nothing hits startTimeoutMs and is killed", async () => {
  await withTempDir(async (dir) => {
    const exe = await script(dir, "mute", "exec sleep 30");
    const err = await expectFailure(dir, { cmd: [exe], startTimeoutMs: 200 }, StartTimeoutError);
    assert(err.message.includes("startTimeoutMs"), err.message);
  });
});

Deno.test("launch(): a missing executable is ExecutableNotFoundError", async () => {
  await withTempDir(async (dir) => {
    await expectFailure(dir, { cmd: [`${dir}/no-such-plugin`] }, ExecutableNotFoundError);
  });
});

Deno.test("launch(): an address nothing listens on is ConnectError with the line", async () => {
  await withTempDir(async (dir) => {
    const exe = await script(
      dir,
      "liar",
      `echo "1|1|unix|${dir}/nothing-here|grpc|"; exec sleep 30`,
    );
    const err = await expectFailure(dir, { cmd: [exe], autoMtls: false }, ConnectError);
    assert(err.message.includes("nothing-here"), err.message);
  });
});

Deno.test("launch(): checksum of go-plugin's Go KV plugin: right one starts it, wrong one refuses", async () => {
  const exe = await kvGoPlugin();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(exe)));
  await withTempDir(async (dir) => {
    const plugin = await launch({
      cmd: [exe],
      cwd: dir,
      handshake: HANDSHAKE,
      logger: quiet,
      checksum: digest,
    });
    await plugin.ping();
    await plugin.kill();
    const wrong = digest.slice();
    wrong[0] ^= 1;
    const err = await expectFailure(dir, { cmd: [exe], checksum: wrong }, ChecksumError);
    assert(/checksum/i.test(err.message), err.message);
  });
});
