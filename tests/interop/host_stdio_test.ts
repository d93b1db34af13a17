/**
 * Console output the host does not read is dropped past the plugin's 1 MiB
 * queue, and the plugin says so once per burst, at WARN (services/stdio.ts):
 * our host launches the fixture with `--flood`, its syncStdout sink holding
 * the stdio stream still until the flood is over (the flood may also come
 * before the host opens the stream at all).
 */

import { launch } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const FLOOD_BYTES = 8 << 20;

Deno.test("console output dropped because the host does not read the stdio stream is reported at WARN", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const flooded = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const plugin = await launch({
      cmd: [
        DENO,
        "run",
        ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]),
        ROOT + "tests/fixtures/plugin.ts",
        `--flood=${FLOOD_BYTES}`,
      ],
      cwd: dir,
      handshake: HANDSHAKE,
      autoMtls: false,
      logger: createLogger({
        level: "trace",
        write: (l) => {
          lines.push(l);
          if (l.includes("flood done")) flooded.resolve();
        },
      }),
      // A host that stops reading: the first chunk is held until the flood is over.
      syncStdout: () => release.promise,
    });
    try {
      await flooded.promise;
      release.resolve();
    } finally {
      await plugin.kill();
    }
    assertEquals((await plugin.exited).code, 0, lines.join("\n"));
    const warns = lines.filter((l) =>
      /"@message":"\d+ bytes of console output dropped: the host is not reading the stdio stream"/
        .test(l)
    );
    assert(warns.length >= 1, `no report of dropped output:\n${lines.slice(-20).join("\n")}`);
    assert(warns.every((l) => l.includes('"@level":"warn"')), warns.join("\n"));
    const dropped = warns.map((l) => Number(/"dropped_bytes":(\d+)/.exec(l)?.[1]));
    const total = dropped.reduce((a, b) => a + b, 0);
    assert(total > 0 && total < FLOOD_BYTES, `dropped ${dropped} of ${FLOOD_BYTES}`);
  });
});
