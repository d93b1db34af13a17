/**
 * Console output reaches a go-plugin host that does not read the stdio
 * stream (no `SyncStdout`/`SyncStderr`: go-plugin discards the stream), as
 * hclog lines on the plugin's stderr that the host logs at their level; with
 * `console: "stdio"` it does not (the stream only, as a Go plugin).
 */

import { buildGo } from "../_util/go.ts";
import { assertNothingLeft, FIXTURE, hostFixture } from "../_util/fixture.ts";
import { denoRunLine } from "../_util/plugin.ts";
import { assert, assertEquals, run, withTempDir } from "../_util/host.ts";

async function exampleHost(dir: string, pluginArgs: string[]) {
  const kv = await buildGo("kv");
  const env = { KV_PROTO: "grpc", KV_PLUGIN: denoRunLine(FIXTURE, [dir], pluginArgs), TMPDIR: dir };
  return await run(kv, ["get", "missing"], { cwd: dir, env });
}

Deno.test("console (default): go-plugin's examples/grpc host, which discards the stdio stream, logs console output at INFO and ERROR", async () => {
  await withTempDir(async (dir) => {
    const r = await exampleHost(dir, ["--chatty"]);
    assertEquals(r.code, 1, r.stdout); // the key is missing: the call itself is answered
    assert(r.stdout.includes("NotFound"), r.stdout);
    for (
      const want of [
        /\[INFO\] {2}plugin\.sh: chatty: console\.log before serve\(\): @module=plugin\.console/,
        /\[INFO\] {2}plugin\.sh: chatty: console\.log after the handshake: @module=plugin\.console/,
        /\[ERROR\] plugin\.sh: chatty: console\.error after the handshake: @module=plugin\.console/,
      ]
    ) assert(want.test(r.stderr), `host stderr lacks ${want}:\n${r.stderr}`);
    await assertNothingLeft(dir);
  });
});

Deno.test("console: stdio: the host's log has no console lines after serve() (they went to the stream only)", async () => {
  await withTempDir(async (dir) => {
    const r = await exampleHost(dir, ["--chatty", "--console=stdio"]);
    assertEquals(r.code, 1, r.stdout);
    assert(r.stderr.includes("chatty: done"), `the plugin did not run its chatter:\n${r.stderr}`);
    assert(!r.stderr.includes("chatty: console.log after"), r.stderr);
    assert(!r.stderr.includes("chatty: console.error after"), r.stderr);
    // Before serve() the option is not known yet: the default applies.
    assert(r.stderr.includes("chatty: console.log before serve()"), r.stderr);
    await assertNothingLeft(dir);
  });
});

Deno.test("console: hclog under our Go host at INFO: console lines in its log at their level", async () => {
  await withTempDir(async (dir) => {
    const r = await hostFixture(dir, ["-log-level", "info", "ping"], [
      "--chatty",
      "--console=hclog",
    ]);
    assert(r.result.ok, `${r.result.error}\n${r.stderr}`);
    assert(
      /\[INFO\] {2}host\.sh: chatty: console\.log after the handshake/.test(r.stderr),
      r.stderr,
    );
    assert(
      /\[ERROR\] host\.sh: chatty: console\.error after the handshake/.test(r.stderr),
      r.stderr,
    );
    await assertNothingLeft(dir);
  });
});
