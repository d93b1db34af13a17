/** Tests of `host/env.ts`: the plugin's environment. */

import { buildPluginEnv, type PluginEnvOptions } from "../../host/env.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

const handshake = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" };
const base: PluginEnvOptions = { handshake, protocolVersions: [1], hostEnv: {} };

Deno.test("buildPluginEnv() sets the cookie, default port range and versions", () => {
  assertEquals(buildPluginEnv({ ...base, protocolVersions: [5, 6] }), {
    BASIC_PLUGIN: "hello",
    PLUGIN_MIN_PORT: "10000",
    PLUGIN_MAX_PORT: "25000",
    PLUGIN_PROTOCOL_VERSIONS: "5,6",
  });
});

Deno.test("buildPluginEnv() sets the optional TLS and socket variables only when given", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const env = buildPluginEnv({
    ...base,
    minPort: 0,
    maxPort: 0,
    clientCertPem: pem,
    unixSocketDir: "/run/plugins",
    unixSocketGroup: 1001,
  });
  assertEquals(env.PLUGIN_CLIENT_CERT, pem);
  assertEquals(env.PLUGIN_UNIX_SOCKET_DIR, "/run/plugins");
  assertEquals(env.PLUGIN_UNIX_SOCKET_GROUP, "1001");
  assertEquals([env.PLUGIN_MIN_PORT, env.PLUGIN_MAX_PORT], ["0", "0"]);
  const plain = buildPluginEnv(base);
  for (const name of ["PLUGIN_CLIENT_CERT", "PLUGIN_UNIX_SOCKET_DIR", "PLUGIN_UNIX_SOCKET_GROUP"]) {
    assert(!(name in plain), `${name} set without its option`);
  }
  assert(!("PLUGIN_MULTIPLEX_GRPC" in plain));
  assertEquals(buildPluginEnv({ ...base, multiplexGrpc: true }).PLUGIN_MULTIPLEX_GRPC, "true");
  assert(!("PLUGIN_MULTIPLEX_GRPC" in buildPluginEnv({ ...base, multiplexGrpc: false })));
});

Deno.test("buildPluginEnv() keeps the host env but scrubs every inherited PLUGIN_* variable", () => {
  const env = buildPluginEnv({
    ...base,
    hostEnv: {
      PATH: "/usr/bin",
      HOME: "/home/u",
      PLUGIN_CLIENT_CERT: "outer plugin's cert",
      PLUGIN_MULTIPLEX_GRPC: "true",
      PLUGIN_UNIX_SOCKET_DIR: "/outer",
      PLUGIN_ANYTHING: "x",
      plugin_lower: "y",
      BASIC_PLUGIN: "stale",
      MY_PLUGIN_SETTING: "kept",
    },
  });
  assertEquals(env, {
    PATH: "/usr/bin",
    HOME: "/home/u",
    BASIC_PLUGIN: "hello",
    MY_PLUGIN_SETTING: "kept",
    PLUGIN_MIN_PORT: "10000",
    PLUGIN_MAX_PORT: "25000",
    PLUGIN_PROTOCOL_VERSIONS: "1",
  });
});

Deno.test("buildPluginEnv() with skipHostEnv starts empty", () => {
  const env = buildPluginEnv({ ...base, hostEnv: { PATH: "/usr/bin" }, skipHostEnv: true });
  assert(!("PATH" in env));
  assertEquals(env.BASIC_PLUGIN, "hello");
});

Deno.test("buildPluginEnv() reads Deno.env when no hostEnv is given", () => {
  const env = buildPluginEnv({ handshake, protocolVersions: [1] });
  assertEquals(env.PATH, Deno.env.get("PATH"));
});

Deno.test("buildPluginEnv() adds the caller's env over the host's, other PLUGIN_* names included", () => {
  const env = buildPluginEnv({
    ...base,
    hostEnv: { LANG: "C", TERM: "xterm" },
    env: { LANG: "de_DE.UTF-8", PLUGIN_APP_SETTING: "on" },
  });
  assertEquals(env.LANG, "de_DE.UTF-8");
  assertEquals(env.TERM, "xterm");
  assertEquals(env.PLUGIN_APP_SETTING, "on");
});

Deno.test("buildPluginEnv() refuses env entries for variables the host sets itself", () => {
  const cases: [string, RegExp][] = [
    ["BASIC_PLUGIN", /use the handshake option/],
    ["PLUGIN_MIN_PORT", /use the minPort option/],
    ["PLUGIN_MAX_PORT", /use the maxPort option/],
    ["PLUGIN_PROTOCOL_VERSIONS", /use the protocolVersions option/],
    ["PLUGIN_CLIENT_CERT", /clientCertPem/],
    ["PLUGIN_UNIX_SOCKET_DIR", /unixSocketDir/],
    ["PLUGIN_UNIX_SOCKET_GROUP", /unixSocketGroup/],
    ["PLUGIN_MULTIPLEX_GRPC", /brokerMultiplex option/],
  ];
  for (const [name, hint] of cases) {
    const err = assertThrows(
      () => buildPluginEnv({ ...base, env: { [name]: "x" } }),
      TypeError,
      new RegExp(`env sets ${name}, which the host sets itself`),
    );
    assert(hint.test(err.message), err.message);
  }
});

Deno.test("buildPluginEnv() rejects bad arguments with what to fix", () => {
  assertThrows(() => buildPluginEnv({ ...base, protocolVersions: [] }), TypeError, /is empty/);
  assertThrows(
    () => buildPluginEnv({ ...base, protocolVersions: [1.5] }),
    RangeError,
    /1\.5 is not a non-negative integer/,
  );
  assertThrows(
    () => buildPluginEnv({ ...base, minPort: 30000, maxPort: 20000 }),
    RangeError,
    /minPort 30000 is greater than maxPort 20000/,
  );
  assertThrows(() => buildPluginEnv({ ...base, maxPort: 70000 }), RangeError, /0 to 65535/);
  assertThrows(
    () => buildPluginEnv({ ...base, handshake: { magicCookieKey: "A=B", magicCookieValue: "v" } }),
    TypeError,
    /not a valid environment variable name/,
  );
  assertThrows(
    () => buildPluginEnv({ ...base, handshake: { magicCookieKey: "K", magicCookieValue: "" } }),
    TypeError,
    /magicCookieValue is empty/,
  );
  assertThrows(
    () => buildPluginEnv({ ...base, clientCertPem: "MIIBxyz" }),
    TypeError,
    /not a PEM certificate/,
  );
  assertThrows(() => buildPluginEnv({ ...base, env: { "": "x" } }), TypeError, /valid environment/);
  assertThrows(() => buildPluginEnv({ ...base, unixSocketDir: "" }), TypeError, /is empty/);
});
