/**
 * The native engine's plaintext listener when accepting fails: the plugin
 * runs with 64 file descriptors (prlimit), connections are opened until it
 * runs out (EMFILE), then closed; the failure must be logged at ERROR and a
 * fresh connection must be served afterwards.
 *
 * Not over TLS: Deno 2.9's node:net server (under node:tls) stops accepting
 * for good after a failed accept, and emits no 'error' to hear it by.
 */

import { connect } from "../../rpc/connect.ts";
import { checkHealth } from "../../services/health.ts";
import { hostEnv, startDirect } from "../_util/direct.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";

/** Descriptors the plugin may hold: enough to start, few enough to run out. */
const FD_LIMIT = 64;
/** More connections than the plugin has descriptors for. */
const FLOOD = 2 * FD_LIMIT;
/** Bound on waiting for the plugin to report the failure (it never does without the fix). */
const REPORT_MS = 15_000;

/** `promise`, or a rejection with `message` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("native engine, plaintext: EMFILE while accepting is logged at ERROR and the plugin accepts again", async () => {
  await withTempDir(async (dir) => {
    const p = startDirect(
      [
        "prlimit",
        `--nofile=${FD_LIMIT}`,
        DENO,
        "run",
        ...pluginFlags([dir]),
        ROOT + "tests/fixtures/plugin.ts",
        "--log-level=debug",
      ],
      { cwd: dir, env: hostEnv(dir) },
    );
    const info = await p.handshake;
    const raw: Deno.Conn[] = [];
    try {
      for (let i = 0; i < FLOOD; i++) {
        raw.push(await Deno.connect({ transport: "unix", path: info.address }));
      }
      const line = await within(
        p.waitForLog(/"@level":"error".*accepting a connection failed/),
        REPORT_MS,
        `the plugin did not log the failed accept within ${REPORT_MS} ms:\n${
          p.stderrLines.join("\n")
        }`,
      );
      assert(/Too many open files|EMFILE/.test(line), line);
      assert(line.includes("ulimit -n"), `no fix named: ${line}`);
    } finally {
      for (const c of raw) c.close();
    }
    const channel = await connect({
      network: "unix",
      address: info.address,
      maxMessageBytes: 1 << 20,
      timeoutMs: 10_000,
    });
    try {
      await checkHealth(channel, { timeoutMs: 10_000 });
    } finally {
      channel.close("test over");
    }
    p.child.kill("SIGTERM");
    assertEquals((await p.status).code, 0, p.stderrLines.join("\n"));
    assert(
      p.stderrLines.some((l) => l.includes("accepting connections again")),
      p.stderrLines.join("\n"),
    );
  });
});
