/**
 * Tests of `host/process.ts`: starting a plugin process, its handshake line,
 * stderr lines and exit. The children are tiny `sh -c` scripts.
 */

import { spawnPlugin, type SpawnPluginOptions } from "../../host/process.ts";
import {
  ExecutableNotFoundError,
  HandshakeLineTooLongError,
  LaunchError,
  PluginExitedError,
  StartTimeoutError,
} from "../../host/errors.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { pidAlive, withTempDir } from "../_util/host.ts";
import { DENO, ROOT } from "../_util/plugin.ts";

const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
const LINE = "1|1|unix|/tmp/plugin1|grpc|";
const onLinux = Deno.build.os === "linux";
const onUnix = Deno.build.os !== "windows";

/** Starts `sh -c script` with just PATH (plus `env`) in its environment. */
function sh(
  script: string,
  options: Partial<SpawnPluginOptions> & { extraEnv?: Record<string, string> } = {},
) {
  const { extraEnv, ...rest } = options;
  return spawnPlugin({ cmd: ["sh", "-c", script], env: { PATH, ...extraEnv }, ...rest });
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

Deno.test({
  name: "spawnPlugin() returns the first stdout line without \\r\\n and drains the rest",
  ignore: !onUnix,
  fn: async () => {
    const p = sh(
      `printf '${LINE}\\r\\n'; i=0; while [ $i -lt 500 ]; do echo "later $i"; i=$((i+1)); done; ` +
        "head -c 300000 /dev/zero; exit 7",
    );
    assert(p.pid > 0);
    assertEquals(await p.handshakeLine, LINE);
    const status = await p.exited;
    assertEquals([status.code, status.success], [7, false]);
  },
});

Deno.test({
  name: "spawnPlugin() returns whatever comes first as-is: the parser judges it",
  ignore: !onUnix,
  fn: async () => {
    const banner = sh(`echo 'Welcome to my plugin'; echo '${LINE}'`);
    assertEquals(await banner.handshakeLine, "Welcome to my plugin");
    await banner.exited;
    const bom = sh(`printf '\\357\\273\\277${LINE}\\n'`);
    assertEquals(await bom.handshakeLine, `\uFEFF${LINE}`);
    await bom.exited;
    const empty = sh(`echo; echo '${LINE}'`);
    assertEquals(await empty.handshakeLine, "");
    await empty.exited;
  },
});

Deno.test({
  name: "spawnPlugin() accepts a line of exactly 64 KiB",
  ignore: !onUnix,
  fn: async () => {
    const p = sh("head -c 65536 /dev/zero | tr '\\0' y; echo");
    assertEquals(await p.handshakeLine, "y".repeat(65536));
    await p.exited;
  },
});

Deno.test({
  name: "spawnPlugin() rejects with PluginExitedError, exit code and stderr tail on an early exit",
  ignore: !onUnix,
  fn: async () => {
    const p = sh("echo 'config file missing' >&2; echo 'giving up' >&2; exit 3");
    const err = await rejection(p.handshakeLine);
    assert(err instanceof PluginExitedError && err instanceof LaunchError, String(err));
    assertEquals([err.exitCode, err.signal, err.line], [3, null, undefined]);
    assertEquals(err.stderrTail, "config file missing\ngiving up");
    assert(/^Plugin "sh" exited before we could connect \(exit code 3\)/.test(err.message));
    assert(err.message.endsWith("stderr:\nconfig file missing\ngiving up"), err.message);
    assertEquals((await p.exited).code, 3);
    assertEquals(p.stderrTail(), "config file missing\ngiving up");
  },
});

Deno.test({
  name: "spawnPlugin() says when the magic cookie was wrong",
  ignore: !onUnix,
  fn: async () => {
    const p = sh(
      "echo 'This binary is a plugin. These are not meant to be executed directly.' >&2; " +
        "echo 'Please execute the program that consumes these plugins.' >&2; exit 1",
    );
    const err = await rejection(p.handshakeLine);
    assert(err instanceof PluginExitedError, String(err));
    assert(/magic cookie did not match/.test(err.message), err.message);
    await p.exited;
  },
});

Deno.test({
  name: "spawnPlugin() rejects a line without newline at exit, quoting it",
  ignore: !onUnix,
  fn: async () => {
    const p = sh(`printf '${LINE}'`);
    const err = await rejection(p.handshakeLine);
    assert(err instanceof PluginExitedError, String(err));
    assertEquals([err.exitCode, err.line], [0, LINE]);
    assert(err.message.includes(`Plugin stdout line: "${LINE}"`), err.message);
    assert(err.message.includes("without a newline"), err.message);
    assert(err.message.includes("The plugin wrote nothing on stderr."), err.message);
    await p.exited;
  },
});

Deno.test({
  name: "spawnPlugin() reports the signal that ended the plugin",
  ignore: !onUnix,
  fn: async () => {
    const p = sh("kill -SEGV $$");
    const err = await rejection(p.handshakeLine);
    assert(err instanceof PluginExitedError, String(err));
    assertEquals([err.exitCode, err.signal], [null, "SIGSEGV"]);
    assert(err.message.includes("(killed by SIGSEGV)"), err.message);
    assertEquals((await p.exited).signal, "SIGSEGV");
  },
});

Deno.test({
  name: "spawnPlugin() kills and reaps a plugin that misses startTimeoutMs",
  ignore: !onLinux,
  fn: async () => {
    const p = sh("exec sleep 600", { startTimeoutMs: 100 });
    const err = await rejection(p.handshakeLine);
    assert(err instanceof StartTimeoutError && err instanceof LaunchError, String(err));
    assertEquals(err.timeoutMs, 100);
    assert(/^Timeout while waiting for plugin "sh" to start/.test(err.message), err.message);
    assert(err.message.includes("raise startTimeoutMs"), err.message);
    const status = await p.exited;
    assertEquals(status.signal, "SIGKILL");
    assert(!(await pidAlive(p.pid)), `process ${p.pid} is still there`);
  },
});

Deno.test({
  name: "spawnPlugin() kills a plugin that prints more than 64 KiB without a newline",
  ignore: !onLinux,
  fn: async () => {
    const p = sh("head -c 70000 /dev/zero | tr '\\0' x; exec sleep 600");
    const err = await rejection(p.handshakeLine);
    assert(err instanceof HandshakeLineTooLongError, String(err));
    assertEquals(err.limitBytes, 65536);
    assert(err.line?.startsWith("xxxx"));
    assert(err.message.includes(`"${"x".repeat(200)}"… (65536 characters)`), err.message);
    assertEquals((await p.exited).signal, "SIGKILL");
    assert(!(await pidAlive(p.pid)), `process ${p.pid} is still there`);
  },
});

Deno.test({
  name: "spawnPlugin() delivers stderr lines in order, a last one without newline included",
  ignore: !onUnix,
  fn: async () => {
    const lines: string[] = [];
    const chunks: Uint8Array[] = [];
    const p = sh(`printf 'one\\ntwo\\r\\n\\nthree' >&2; echo '${LINE}'`, {
      onStderrLine: (l) => lines.push(l),
      stderr: (c) => chunks.push(c),
    });
    assertEquals(await p.handshakeLine, LINE);
    await p.exited;
    assertEquals(lines, ["one", "two", "", "three"]);
    const raw = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    assertEquals(raw, "one\ntwo\r\n\nthree");
    assertEquals(p.stderrTail(), "one\ntwo\n\nthree");
  },
});

Deno.test({
  name: "spawnPlugin() delivers a stderr line over 64 KiB in pieces, UTF-8 intact",
  ignore: !onUnix,
  fn: async () => {
    const lines: string[] = [];
    // 65535 "a", then "é" (2 bytes) straddling the 64 KiB boundary, then 5000 "b".
    const p = sh(
      "{ head -c 65535 /dev/zero | tr '\\0' a; printf '\\303\\251'; " +
        "head -c 5000 /dev/zero | tr '\\0' b; printf '\\nend\\n'; } >&2",
      { onStderrLine: (l) => lines.push(l) },
    );
    await p.exited;
    assertEquals(lines.length, 3);
    assertEquals(lines[0], "a".repeat(65535));
    assertEquals(lines[1], "é" + "b".repeat(5000));
    assertEquals(lines[2], "end");
  },
});

Deno.test({
  name: "spawnPlugin() keeps a bounded stderr tail",
  ignore: !onUnix,
  fn: async () => {
    const p = sh(
      'i=0; while [ $i -lt 100 ]; do echo "line $i" >&2; i=$((i+1)); done; ' +
        "head -c 3000 /dev/zero | tr '\\0' L >&2; exit 1",
    );
    const err = await rejection(p.handshakeLine);
    assert(err instanceof PluginExitedError);
    await p.exited;
    const tail = p.stderrTail().split("\n");
    assert(tail.length <= 20, `${tail.length} lines`);
    assert(p.stderrTail().length <= 4096 + 1024, `${p.stderrTail().length} chars`);
    assertEquals(tail.at(-1), "L".repeat(1024) + "…");
    assertEquals(tail.at(-2), "line 99");
  },
});

Deno.test({
  name: "spawnPlugin(): exited waits for a grandchild holding stdout, status does not",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const fifo = `${dir}/release`;
      await new Deno.Command("mkfifo", { args: [fifo] }).output();
      const p = sh(`(read x < "$FIFO") & echo '${LINE}'; exit 3`, { extraEnv: { FIFO: fifo } });
      let done = false;
      const exited = p.exited.then((s) => (done = true, s));
      try {
        assertEquals(await p.handshakeLine, LINE);
        assertEquals((await p.status).code, 3);
        // A full round trip through another process gives exited every chance to resolve.
        await new Deno.Command("true").output();
        assert(!done, "exited resolved while a grandchild still held stdout");
      } finally {
        await Deno.writeTextFile(fifo, "go\n");
      }
      assertEquals((await exited).code, 3);
    }),
});

Deno.test({
  name: "spawnPlugin(): exit before the line with a grandchild holding the pipes is still an exit",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const fifo = `${dir}/release`;
      await new Deno.Command("mkfifo", { args: [fifo] }).output();
      const p = sh(`(read x < "$FIFO") & exit 4`, {
        extraEnv: { FIFO: fifo },
        startTimeoutMs: 500,
      });
      try {
        const err = await rejection(p.handshakeLine);
        assert(err instanceof PluginExitedError, String(err));
        assertEquals(err.exitCode, 4);
      } finally {
        await Deno.writeTextFile(fifo, "go\n");
      }
      await p.exited;
    }),
});

Deno.test({
  name: "spawnPlugin() kill() sends the signal, defaults to SIGKILL, and is quiet once gone",
  ignore: !onUnix,
  fn: async () => {
    const term = sh("exec sleep 600");
    term.kill("SIGTERM");
    const err = await rejection(term.handshakeLine);
    assert(err instanceof PluginExitedError && err.signal === "SIGTERM", String(err));
    await term.exited;
    term.kill();
    term.kill("SIGTERM");

    const hard = sh("exec sleep 600");
    hard.kill();
    assertEquals((await hard.exited).signal, "SIGKILL");
    await rejection(hard.handshakeLine);

    const quick = sh("exit 0");
    await quick.status;
    quick.kill();
    await quick.exited;
  },
});

Deno.test("spawnPlugin() names a missing executable, cwd or execute permission", async () => {
  const missing = assertThrows(
    () => spawnPlugin({ cmd: ["/nonexistent/plugin"], env: {} }),
    ExecutableNotFoundError,
    /^Plugin executable not found: "\/nonexistent\/plugin"/,
  );
  assertEquals(missing.path, "/nonexistent/plugin");
  assertThrows(
    () => spawnPlugin({ cmd: ["no-such-plugin-on-path"], env: { PATH } }),
    ExecutableNotFoundError,
    /put its directory on the PATH/,
  );
  assertThrows(
    () => spawnPlugin({ cmd: ["sh"], env: { PATH }, cwd: "/nonexistent/dir" }),
    LaunchError,
    /working directory "\/nonexistent\/dir" does not exist/,
  );
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/plugin`, "#!/bin/sh\n", { mode: 0o644 });
    assertThrows(
      () => spawnPlugin({ cmd: [`${dir}/plugin`], env: {} }),
      LaunchError,
      /cannot be run: permission denied\. Make it executable/,
    );
  });
});

Deno.test("spawnPlugin() rejects bad options", () => {
  assertThrows(() => spawnPlugin({ cmd: [], env: {} }), TypeError, /cmd is empty/);
  assertThrows(
    () => spawnPlugin({ cmd: ["sh"], env: {}, startTimeoutMs: 0 }),
    RangeError,
    /startTimeoutMs must be a positive number/,
  );
});

Deno.test({
  name: "spawnPlugin() names the flag when Deno refuses to run the plugin",
  ignore: !onUnix,
  fn: () =>
    withTempDir(async (dir) => {
      const script = `${dir}/host.ts`;
      await Deno.writeTextFile(
        script,
        `import { spawnPlugin } from ${JSON.stringify(`${ROOT}host/process.ts`)};\n` +
          `try { spawnPlugin({ cmd: ["sh"], env: {} }); } catch (e) {\n` +
          `  console.log(e.constructor.name, e.flag);\n}\n`,
      );
      const out = await new Deno.Command(DENO, {
        args: ["run", "--no-prompt", "--no-config", `--allow-read=${ROOT},${dir}`, script],
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assertEquals(text, "PermissionError --allow-run", new TextDecoder().decode(out.stderr));
    }),
});
