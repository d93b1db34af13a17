/**
 * Bad input at start-up: the plugin is launched the way a host launches it
 * (cookie and PLUGIN_* in its environment, the documented flags), and must
 * print one clear message on stderr naming the problem and the fix, exit 1,
 * print nothing on stdout, and leave no socket file or process behind.
 */

import { generateCertificate } from "../../tls/mod.ts";
import { hostEnv, startDirect } from "../_util/direct.ts";
import { FIXTURE, TEST_ENGINE } from "../_util/fixture.ts";
import { buildGo } from "../_util/go.ts";
import { SERVING } from "../fixtures/signals.ts";
import { DENO, denoRunLine, pluginFlags, ROOT } from "../_util/plugin.ts";
import {
  assert,
  assertEquals,
  OutputWatch,
  run,
  runHost,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";

const PLUGIN = ROOT + FIXTURE;

interface Case {
  name: string;
  env?: Record<string, string>;
  args?: string[];
  flags?: (dir: string) => string[];
  stderr: RegExp;
}

async function expectStartupFailure(c: Case) {
  await withTempDir(async (dir) => {
    const flags = c.flags ? c.flags(dir) : pluginFlags([dir]);
    const r = await run(DENO, ["run", ...flags, PLUGIN, ...(c.args ?? [])], {
      cwd: dir,
      env: { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1", TMPDIR: dir, ...c.env },
    });
    assertEquals(r.code, 1, `${c.name}: exit code\n${r.stderr}`);
    assertEquals(r.stdout, "", `${c.name}: stdout must stay empty`);
    assert(c.stderr.test(r.stderr), `${c.name}: stderr does not match ${c.stderr}:\n${r.stderr}`);
    assert(
      !r.stderr.includes("    at "),
      `${c.name}: a stack trace instead of a message:\n${r.stderr}`,
    );
    assertEquals(socketFiles(dir), [], `${c.name}: socket left behind`);
    assertEquals(await waitNoProcesses(dir), [], `${c.name}: process left behind`);
  });
}

const cases: Case[] = [
  {
    name: "PLUGIN_PROTOCOL_VERSIONS garbage",
    env: { PLUGIN_PROTOCOL_VERSIONS: "five,six" },
    stderr: /PLUGIN_PROTOCOL_VERSIONS="five,six" lists no protocol version/,
  },
  {
    name: "no common protocol version",
    env: { PLUGIN_PROTOCOL_VERSIONS: "7,8" },
    args: ["--versions=1,2"],
    stderr: /host supports protocol versions 7,8 .* this plugin serves 1, 2: use a plugin release/,
  },
  {
    name: "PLUGIN_MIN_PORT > PLUGIN_MAX_PORT",
    env: { PLUGIN_MIN_PORT: "30000", PLUGIN_MAX_PORT: "20000" },
    args: ["--transport=tcp"],
    stderr: /PLUGIN_MIN_PORT=30000 is greater than PLUGIN_MAX_PORT=20000/,
  },
  {
    name: "PLUGIN_MIN_PORT not a number",
    env: { PLUGIN_MIN_PORT: "low", PLUGIN_MAX_PORT: "20000" },
    args: ["--transport=tcp"],
    stderr: /PLUGIN_MIN_PORT="low" is not a port number/,
  },
  {
    name: "PLUGIN_MAX_PORT out of range",
    env: { PLUGIN_MIN_PORT: "10000", PLUGIN_MAX_PORT: "99999" },
    args: ["--transport=tcp"],
    stderr: /PLUGIN_MAX_PORT=99999 is out of range/,
  },
  {
    name: "PLUGIN_UNIX_SOCKET_DIR missing",
    env: { PLUGIN_UNIX_SOCKET_DIR: "/nonexistent-rpcplugin-dir" },
    flags: (dir) => pluginFlags([dir, "/nonexistent-rpcplugin-dir"]),
    stderr: /socket directory "\/nonexistent-rpcplugin-dir" does not exist/,
  },
  {
    // The directory is checked only once the bind has failed (no stat before the line).
    name: "PLUGIN_UNIX_SOCKET_DIR a file",
    env: { PLUGIN_UNIX_SOCKET_DIR: "/etc/hostname" },
    flags: (dir) => pluginFlags([dir, "/etc/hostname"]),
    stderr: /socket directory "\/etc\/hostname" is not a directory/,
  },
  {
    name: "socket path too long",
    env: { PLUGIN_UNIX_SOCKET_DIR: "/tmp/" + "x".repeat(110) },
    stderr:
      /longer than the 107 bytes the OS allows: set PLUGIN_UNIX_SOCKET_DIR to a shorter directory/,
  },
  {
    name: "socket directory not writable for Deno",
    env: { PLUGIN_UNIX_SOCKET_DIR: "/var/tmp" },
    stderr:
      /Deno refused listening on the unix socket \/var\/tmp\/plugin\d+ .*run the plugin with --allow-(read|write)/,
  },
  {
    name: "PLUGIN_UNIX_SOCKET_GROUP names no group",
    env: { PLUGIN_UNIX_SOCKET_GROUP: "no-such-group-rpcplugin" },
    flags: (dir) => pluginFlags([dir, "/etc/group"]),
    stderr:
      /PLUGIN_UNIX_SOCKET_GROUP names the group "no-such-group-rpcplugin", which does not exist/,
  },
  {
    name: "PLUGIN_UNIX_SOCKET_GROUP name without read access to /etc/group",
    env: { PLUGIN_UNIX_SOCKET_GROUP: "root" },
    stderr: /run with --allow-read=\/etc\/group, or have the host pass a numeric gid/,
  },
  {
    name: "PLUGIN_CLIENT_CERT not PEM",
    env: { PLUGIN_CLIENT_CERT: "this is not a certificate" },
    stderr:
      /PLUGIN_CLIENT_CERT does not hold a usable certificate \(no "-----BEGIN CERTIFICATE-----" line\)\. The host sets PLUGIN_CLIENT_CERT: .*Fix the host .*unset PLUGIN_CLIENT_CERT to serve without TLS$/m,
  },
  {
    name: "no --allow-net",
    flags: (dir) => ["--no-prompt", "--allow-env", `--allow-read=${dir}`, `--allow-write=${dir}`],
    stderr: /Deno refused listening on the unix socket .*run the plugin with --allow-net/,
  },
  {
    name: "no --allow-env",
    flags: (dir) => ["--no-prompt", "--allow-net", `--allow-read=${dir}`, `--allow-write=${dir}`],
    stderr: TEST_ENGINE === "grpc-js"
      ? /PermissionError: Deno refused access to the environment .*run the plugin with --allow-env/
      : /Deno refused reading the environment variable BASIC_PLUGIN .*run the plugin with --allow-env/,
  },
];

for (const c of cases) {
  Deno.test(`start-up error: ${c.name}`, async () => {
    if (c.name === "no --allow-env" && TEST_ENGINE === "grpc-js") {
      // grpc-js reads GRPC_* variables while it loads, before serve() runs:
      // Deno itself reports the uncaught PermissionError (with its "at" line);
      // the message must still name the flag, and nothing may reach stdout.
      await withTempDir(async (dir) => {
        const r = await run(DENO, ["run", ...c.flags!(dir), PLUGIN], { cwd: dir });
        assertEquals([r.code, r.stdout], [1, ""]);
        assert(c.stderr.test(r.stderr), r.stderr);
        assertEquals(socketFiles(dir), []);
      });
      return;
    }
    await expectStartupFailure(c);
  });
}

Deno.test("start-up error: PLUGIN_CLIENT_CERT holding a private key, or an expired certificate", async () => {
  const key = await generateCertificate({ keyType: "ecdsa-p256" });
  const expired = await generateCertificate({
    keyType: "ecdsa-p521",
    notBefore: new Date(Date.UTC(2020, 0, 1)),
    notAfter: new Date(Date.UTC(2021, 0, 1)),
  });
  await expectStartupFailure({
    name: "PLUGIN_CLIENT_CERT is a key",
    env: { PLUGIN_CLIENT_CERT: key.keyPem },
    stderr:
      /PLUGIN_CLIENT_CERT does not hold a usable certificate \(a "PRIVATE KEY" PEM block instead of a certificate\)\. The host sets/,
  });
  await expectStartupFailure({
    name: "PLUGIN_CLIENT_CERT expired",
    env: { PLUGIN_CLIENT_CERT: expired.certPem },
    stderr:
      /certificate in PLUGIN_CLIENT_CERT is valid from 2020-01-01.* to 2021-01-01.*not now.*restart the host/,
  });
});

Deno.test("PLUGIN_UNIX_SOCKET_GROUP from the Go host: the socket gets the group and mode 0660", async () => {
  await withTempDir(async (dir) => {
    const bin = await buildGo("host");
    const cmd = denoRunLine("tests/fixtures/plugin.ts", [dir, "/etc/group"]);
    // The host pings, then waits for the plugin to log a SIGINT, which the test sends once
    // it has looked at the socket.
    const child = new Deno.Command(bin, {
      args: ["-cmd", cmd, "-socket-group", "root", "waitfor", "20s", "interrupt signal, ignoring"],
      cwd: dir,
      env: { TMPDIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new OutputWatch(child.stderr);
    const pattern = new RegExp(`${SERVING}: .*pid=(\\d+)`);
    const pid = Number(await stderr.until((t) => pattern.exec(t)?.[1], "plugin serving"));
    const [name] = socketFiles(dir);
    assert(name, `no socket file in ${dir} once the plugin serves`);
    const st = await Deno.stat(`${dir}/${name}`);
    const [mode, gid] = [st.mode! & 0o777, st.gid!];
    Deno.kill(pid, "SIGINT");
    const [stdout, err] = await Promise.all([new Response(child.stdout).text(), stderr.done]);
    await child.status;
    const result = JSON.parse(stdout);
    assert(result.ok, `${result.error}\n${err}`);
    assertEquals([mode, gid], [0o660, 0]);
    assertEquals(socketFiles(dir), []);
  });
});

Deno.test("wrong cookie through the Go host: error at start, no socket, no process", async () => {
  await withTempDir(async (dir) => {
    const bin = await buildGo("host");
    const r = await runHost(bin, [
      "-cmd",
      denoRunLine("tests/fixtures/plugin.ts", [dir]),
      "-cookie-value",
      "x",
      "ping",
    ], {
      cwd: dir,
      env: { TMPDIR: dir },
    });
    assert(
      !r.result.ok &&
        /plugin exited before we could connect|Unrecognized remote plugin/.test(r.result.error),
      r.result.error,
    );
    assertEquals(socketFiles(dir), []);
    assertEquals(await waitNoProcesses(dir), []);
  });
});

Deno.test("PLUGIN_PROTOCOL_VERSIONS empty (a go-plugin host without versioned plugins) is no list: the plugin serves its lowest version", async () => {
  await withTempDir(async (dir) => {
    const p = startDirect([DENO, "run", ...pluginFlags([dir]), PLUGIN, "--versions=3,2"], {
      cwd: dir,
      env: hostEnv(dir, { PLUGIN_PROTOCOL_VERSIONS: "" }),
    });
    const info = await p.handshake;
    assertEquals([info.appVersion, info.network], [2, "unix"]);
    p.child.kill("SIGTERM");
    assertEquals((await p.status).code, 0, p.stderrLines.join("\n"));
    assertEquals(socketFiles(dir), []);
  });
});
