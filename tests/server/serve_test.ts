/**
 * `serve({ exit: false })` embedded in a program (tests/fixtures/serve_embedded.ts):
 * a stop asked for during start-up, and a stop whose engine shutdown fails,
 * leave nothing behind and never a half-stopped server.
 */

import { embeddedResult } from "../_util/embedded.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";

const embedded = (dir: string, scenario: string) => [
  DENO,
  "run",
  ...pluginFlags([dir]),
  "--allow-run",
  ROOT + "tests/fixtures/serve_embedded.ts",
  scenario,
];

Deno.test("serve({ exit: false }): SIGTERM during start-up rejects with a StartupError and cleans up, instead of returning a half-stopped server", async () => {
  await withTempDir(async (dir) => {
    const { result, stderr } = await embeddedResult(embedded(dir, "sigterm-during-startup"), dir);
    assertEquals(result.resolved, false, `serve() returned a server after SIGTERM:\n${stderr}`);
    assertEquals(result.errorName, "StartupError", result.error);
    assert(/^Start-up interrupted by SIGTERM: /.test(result.error), result.error);
    assertEquals(result.binds.length, 1, "the bind went through");
    assertEquals(result.shutdowns, 1, "the engine's listener was not closed");
    assertEquals([result.socketLeft, result.consoleRestored], [false, true]);
  });
});

Deno.test("serve({ exit: false }): stop() whose engine shutdown throws still cleans up and resolves finished", async () => {
  await withTempDir(async (dir) => {
    const { result, stderr } = await embeddedResult(embedded(dir, "stop-throws"), dir);
    assert(result.resolved, `${result.error}\n${stderr}`);
    assertEquals(
      [result.stopResolved, result.stopError, result.finished],
      [true, "", true],
      stderr,
    );
    assertEquals([result.socketLeft, result.consoleRestored], [false, true]);
    assert(
      /the gRPC engine failed to shut down; cleaning up anyway.*engine shutdown exploded/.test(
        stderr,
      ),
      stderr,
    );
  });
});
