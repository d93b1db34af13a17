/**
 * The two set-ups of the budget tests (partial_budget_*_test.ts,
 * unread_*_test.ts): the fixture plugin (serve()) with a budget and a raw
 * HTTP/2 connection to it, for the server role; `launch()` of the raw plugin
 * (tests/fixtures/raw_partial_plugin.ts) with a budget, for the client role.
 *
 * @module
 */

import * as h2 from "../../h2/frame.ts";
import { launch } from "../../host/launch.ts";
import type { PluginClient } from "../../host/plugin_client.ts";
import { createLogger } from "../../log/logger.ts";
import { withTempDir } from "../_util/host.ts";
import { type DirectPlugin, hostEnv, startDirect } from "../_util/direct.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { BUDGET, concat, FrameReader, PING, pingAcked, writeAll } from "./_partial_budget.ts";

/** Where the raw plugin's socket directory is made. */
const TMP = Deno.env.get("TMPDIR") ?? "/tmp";

/** A raw HTTP/2 connection to the fixture plugin, its preface and SETTINGS exchanged. */
export interface BudgetConnection {
  /** The plugin's process. */
  plugin: DirectPlugin;
  /** The socket. */
  sock: Deno.Conn;
  /** The frames the plugin sent. */
  reader: FrameReader;
}

/**
 * Runs `body` on a connection to the fixture plugin started with a
 * {@linkcode BUDGET} budget ({@linkcode withRawConnection}, `streamWindow`
 * passed on).
 */
export function withBudgetConnection(
  body: (c: BudgetConnection) => Promise<void>,
  streamWindow?: number,
): Promise<void> {
  return withTempDir(async (dir) => {
    const plugin = startDirect(
      [
        DENO,
        "run",
        ...pluginFlags([dir]),
        ROOT + "tests/fixtures/plugin.ts",
        "--log-level=warn",
        `--max-partial-message-bytes=${BUDGET}`,
      ],
      { cwd: dir, env: hostEnv(dir) },
    );
    const info = await plugin.handshake;
    try {
      await withRawConnection(
        info.address,
        (sock, reader) => body({ plugin, sock, reader }),
        streamWindow,
      );
    } finally {
      plugin.child.kill("SIGTERM");
      await plugin.status;
    }
  });
}

/**
 * Runs `body` on a raw HTTP/2 connection to the server on unix socket
 * `path`, its preface and SETTINGS exchanged; our connection's window is
 * 1 GiB, and each stream's `streamWindow` (default the same: room for large
 * answers). The socket is closed after.
 */
export async function withRawConnection(
  path: string,
  body: (sock: Deno.Conn, reader: FrameReader) => Promise<void>,
  streamWindow: number = 1 << 30,
): Promise<void> {
  const sock = await Deno.connect({ transport: "unix", path });
  try {
    const reader = new FrameReader(sock);
    // The PING ACK follows the server's SETTINGS and its connection window.
    const window = 1 << 30;
    await writeAll(
      sock,
      concat(
        h2.CLIENT_PREFACE,
        h2.settingsFrame([[h2.Setting.INITIAL_WINDOW_SIZE, streamWindow]]),
        h2.windowUpdateFrame(0, window),
        PING,
      ),
    );
    await reader.until(pingAcked, "the first PING ACK");
    reader.frames = [];
    await body(sock, reader);
  } finally {
    sock.close();
  }
}

/**
 * Runs `body` with the raw plugin launched by `launch()` with a
 * {@linkcode BUDGET} budget; the host's log is added to an error's message.
 */
export function withRawPlugin(
  args: string[],
  body: (plugin: PluginClient) => Promise<void>,
): Promise<void> {
  return withTempDir(async (dir) => {
    const lines: string[] = [];
    const plugin = await launch({
      cmd: [
        DENO,
        "run",
        ...pluginFlags([dir, TMP]),
        ROOT + "tests/fixtures/raw_partial_plugin.ts",
        ...args,
      ],
      cwd: dir,
      handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" },
      autoMtls: false,
      maxPartialMessageBytes: BUDGET,
      logger: createLogger({ level: "trace", write: (l) => lines.push(l) }),
    });
    try {
      await body(plugin);
    } catch (err) {
      throw new Error(`${(err as Error).message}; the host's log:\n${lines.join("\n")}`);
    } finally {
      await plugin.kill();
    }
  });
}
