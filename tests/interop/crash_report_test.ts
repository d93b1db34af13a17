/**
 * A plugin that crashes under a host leaves a trace the host shows at its
 * INFO level: an uncaught exception or unhandled rejection becomes one hclog
 * line at ERROR with the error and its stack, then the plugin exits 1.
 * Deno's own report is plain text, which go-plugin re-logs at DEBUG, so
 * without this the host would only say `plugin process exited`.
 *
 * Under go-plugin v1.8's Go host (tests/interop/host, `-log-level info`) and
 * go-plugin's own examples/grpc host.
 */

import { buildGo } from "../_util/go.ts";
import { assertNothingLeft, FIXTURE, hostFixture } from "../_util/fixture.ts";
import { denoRunLine } from "../_util/plugin.ts";
import { assert, assertEquals, run, withTempDir } from "../_util/host.ts";

/**
 * The host's log entries of the plugin's crash report: the line, with the
 * block of lines hclog prints a multi-line field in (`stack=` then `| ...`),
 * fields in any order.
 */
function crashEntries(stderr: string): string[] {
  const entries: string[] = [];
  let current: string[] | null = null;
  for (const line of stderr.split("\n")) {
    if (/^\d{4}-\d\d-\d\dT/.test(line)) {
      if (current) entries.push(current.join("\n"));
      current = line.includes("plugin crashed:") ? [line] : null;
    } else current?.push(line);
  }
  if (current) entries.push(current.join("\n"));
  return entries;
}

function assertOneErrorLine(stderr: string, what: string, error: string): void {
  const entries = crashEntries(stderr);
  assertEquals(entries.length, 1, `want one crash entry:\n${stderr}`);
  const [entry] = entries;
  assert(entry.includes("[ERROR]"), `not at ERROR:\n${stderr}`);
  assert(entry.includes(`plugin crashed: ${what}`), `wrong kind:\n${stderr}`);
  assert(entry.includes(`error="${error}"`), `no error text:\n${stderr}`);
  assert(/\n\s+\| +at .*plugin\.ts:\d+:\d+/.test(entry), `no stack:\n${stderr}`);
  assert(!stderr.includes("error: Uncaught"), `Deno's own report too:\n${stderr}`);
  assert(/\[ERROR\] host: plugin process exited: .*error="exit status 1"/.test(stderr), stderr);
}

/** One crash under our Go host at `-log-level info`, and what the host must show. */
function crashCase(
  name: string,
  hostArgs: string[],
  pluginArgs: string[],
  want: { what: string; error: string; hostError: RegExp },
): void {
  Deno.test(`crash report: ${name}`, async () => {
    await withTempDir(async (dir) => {
      const r = await hostFixture(dir, ["-log-level", "info", ...hostArgs], pluginArgs);
      assertEquals(r.result.ok, false, r.stderr);
      assert(want.hostError.test(r.result.error), r.result.error);
      assertOneErrorLine(r.stderr, want.what, want.error);
      await assertNothingLeft(dir);
    });
  });
}

crashCase(
  "an uncaught exception in a handler's timer is one ERROR line with the stack at the host's INFO level, exit 1",
  ["get", "!crash"],
  ["--faulty"],
  { what: "uncaught exception", error: "Error: the timer exploded", hostError: /Unavailable/ },
);

crashCase(
  "an unhandled rejection is one ERROR line with the stack at the host's INFO level, exit 1",
  ["get", "!reject"],
  ["--faulty"],
  {
    what: "unhandled promise rejection",
    error: "RangeError: nobody handled this rejection",
    hostError: /Unavailable/,
  },
);

crashCase(
  "a throw before serve() (the library imported) is one ERROR line, and the host's start fails",
  ["ping"],
  ["--crash-before-serve"],
  {
    what: "unhandled promise rejection",
    error: "Error: the plugin broke before serve()",
    hostError: /Failed to read any lines from plugin's stdout/,
  },
);

Deno.test("crash report: go-plugin's examples/grpc host shows the crash at ERROR", async () => {
  await withTempDir(async (dir) => {
    const kv = await buildGo("kv");
    const env = {
      KV_PROTO: "grpc",
      KV_PLUGIN: denoRunLine(FIXTURE, [dir], ["--faulty"]),
      TMPDIR: dir,
    };
    const r = await run(kv, ["get", "!crash"], { cwd: dir, env });
    assertEquals(r.code, 1, r.stdout);
    const entries = crashEntries(r.stderr);
    assertEquals(entries.length, 1, r.stderr);
    assert(/\[ERROR\] plugin\.sh: plugin crashed: uncaught exception:/.test(entries[0]), r.stderr);
    assert(entries[0].includes(`error="Error: the timer exploded"`), r.stderr);
    await assertNothingLeft(dir);
  });
});
