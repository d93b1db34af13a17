/**
 * Our Go host (tests/interop/host, on go-plugin v1.8.x) launches the Deno
 * test plugin: what go-plugin's example host does not cover.
 */

import { assertNothingLeft, hostFixture } from "../_util/fixture.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, run, withTempDir } from "../_util/host.ts";

const host = (dir: string, flags: string[], pluginArgs: string[], op: string[]) =>
  hostFixture(dir, [...flags, ...op], pluginArgs);
const noLeftovers = assertNothingLeft;

Deno.test("go host: Ping() over a unix socket, graceful kill", async () => {
  await withTempDir(async (dir) => {
    const r = await host(dir, [], [], ["ping"]);
    assert(r.result.ok, `ping failed: ${r.result.error}\n${r.stderr}`);
    assertEquals([r.result.network, r.result.protocol, r.result.negotiated_version], [
      "unix",
      "grpc",
      1,
    ]);
    assert(r.result.address.startsWith(`${dir}/plugin`), r.result.address);
    assert(r.result.exited, "plugin did not exit");
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    await noLeftovers(dir);
  });
});

Deno.test("go host: TCP transport scans PLUGIN_MIN_PORT..PLUGIN_MAX_PORT", async () => {
  await withTempDir(async (dir) => {
    const min = 20000 + Math.floor(Math.random() * 20000);
    // Occupy the first port so the scan has to move on.
    const blocker = Deno.listen({ hostname: "127.0.0.1", port: min });
    try {
      const r = await host(dir, ["-min-port", `${min}`, "-max-port", `${min + 9}`], [
        "--transport=tcp",
      ], [
        "put",
        "k",
        "v",
      ]);
      assert(r.result.ok, `put over tcp failed: ${r.result.error}\n${r.stderr}`);
      assertEquals(r.result.network, "tcp");
      const port = Number(r.result.address.split(":")[1]);
      assert(
        r.result.address.startsWith("127.0.0.1:") && port > min && port <= min + 9,
        r.result.address,
      );
    } finally {
      blocker.close();
    }
    await noLeftovers(dir);
  });
});

Deno.test("go host: TCP with every port of the range taken is a clear start-up error", async () => {
  await withTempDir(async (dir) => {
    const min = 20000 + Math.floor(Math.random() * 20000);
    const blockers = [0, 1].map((i) => Deno.listen({ hostname: "127.0.0.1", port: min + i }));
    try {
      const r = await host(dir, ["-min-port", `${min}`, "-max-port", `${min + 1}`], [
        "--transport=tcp",
      ], ["ping"]);
      assert(!r.result.ok, "expected a start-up failure");
      assert(
        r.stderr.includes(`No free TCP port on 127.0.0.1 between ${min} and ${min + 1}`),
        r.stderr,
      );
    } finally {
      for (const b of blockers) b.close();
    }
    await noLeftovers(dir);
  });
});

Deno.test("go host: version negotiation picks the highest common version", async () => {
  await withTempDir(async (dir) => {
    for (
      const [hostVersions, pluginVersions, want] of [
        ["1,2,3", "2,3", 3],
        ["3,1,2", "2,3", 3],
        ["1,2", "2,3", 2],
        ["5", "1,5,9", 5],
      ] as const
    ) {
      const r = await host(dir, ["-versions", hostVersions], [`--versions=${pluginVersions}`], [
        "ping",
      ]);
      assert(r.result.ok, `host ${hostVersions} / plugin ${pluginVersions}: ${r.result.error}`);
      assertEquals(
        r.result.negotiated_version,
        want,
        `host ${hostVersions} / plugin ${pluginVersions}`,
      );
    }
    await noLeftovers(dir);
  });
});

Deno.test("go host: no common version: the plugin says so and exits 1, leaving nothing behind", async () => {
  await withTempDir(async (dir) => {
    const r = await host(dir, ["-versions", "1,2"], ["--versions=4,5"], ["ping"]);
    assert(!r.result.ok, "expected a version mismatch");
    assert(
      /plugin exited before we could connect|Failed to read any lines from plugin's stdout/.test(
        r.result.error,
      ),
      r.result.error,
    );
    assert(
      /\[ERROR\] host\.sh: \[ERROR\] plugin failed to start: The host supports protocol versions (1,2|2,1) .* this plugin serves 4, 5/
        .test(r.stderr),
      r.stderr,
    );
    await noLeftovers(dir);
  });
});

Deno.test("go host: wrong cookie: the plugin exits 1 and the host reports it", async () => {
  await withTempDir(async (dir) => {
    const r = await host(dir, ["-cookie-value", "not-hello"], [], ["ping"]);
    assert(!r.result.ok, "expected a cookie failure");
    assert(r.stderr.includes("This binary is a plugin"), r.stderr);
    assert(!r.stderr.includes("BASIC_PLUGIN=hello"), "the expected cookie leaked");
    await noLeftovers(dir);
  });
});

Deno.test("plugin run by hand (no cookie): message on stderr, exit 1, nothing on stdout", async () => {
  await withTempDir(async (dir) => {
    const r = await run(DENO, ["run", ...pluginFlags([dir]), ROOT + "examples/kv/plugin.ts"], {
      cwd: dir,
      env: { TMPDIR: dir, BASIC_PLUGIN: "" },
    });
    assertEquals(r.code, 1);
    assertEquals(r.stdout, "");
    assert(
      r.stderr.includes("This binary is a plugin. These are not meant to be executed directly."),
      r.stderr,
    );
    assert(!r.stderr.includes("hello"), "the expected cookie value leaked");
    await noLeftovers(dir);
  });
});

Deno.test("go host: console output before and after the handshake goes to GRPCStdio, logs keep their level", async () => {
  await withTempDir(async (dir) => {
    const wants = [
      "[STDIO-OUT] chatty: console.log before serve()",
      "[STDIO-OUT] chatty: console.log after the handshake",
      "[STDIO-ERR] chatty: console.error after the handshake",
      "[TRACE] host.sh: chatty: a trace line",
      "[DEBUG] host.sh: chatty: a debug line",
      "[INFO]  host.sh: chatty: a info line",
      "[WARN]  host.sh: chatty: a warn line",
      "[ERROR] host.sh: chatty: a error line",
    ];
    // The Go host kills the plugin once every line has reached it (or fails after 20 s).
    const r = await host(dir, [], ["--chatty"], ["waitfor", "20s", ...wants]);
    assert(r.result.ok, `waitfor failed: ${r.result.error}\n${r.stderr}`);
    const err = r.stderr;
    for (const want of wants) {
      assert(err.includes(want), `host stderr lacks ${JSON.stringify(want)}:\n${err}`);
    }
    assert(/chatty: a warn line: .*answer=42/.test(err), "fields were not re-logged");
    assert(!err.includes("plugin failed to exit gracefully"), err);
    await noLeftovers(dir);
  });
});

Deno.test("go host: 2000 Get calls at concurrency 16 without an error", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/kv_k`, "v");
    const r = await host(dir, [], [], ["calls", "2000", "16", "k"]);
    assert(r.result.ok, `${r.result.error} ${r.result.first_error}`);
    assertEquals([r.result.calls, r.result.errors], [2000, 0]);
    await noLeftovers(dir);
  });
});
