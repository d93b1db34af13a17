/**
 * AutoMTLS with real go-plugin hosts: our Go host on go-plugin v1.8.0 with
 * `AutoMTLS: true`, built against the grpc-go go-plugin pins and against the
 * newest grpc-go (which rejects TLS servers that do not negotiate ALPN h2).
 * On the native engine every handshake must be served by our own TLS 1.3
 * server (its DEBUG line), not handed to node:tls.
 */

import type { GO_PROGRAMS } from "../_util/go.ts";
import { assertNothingLeft, hostFixture, TEST_ENGINE } from "../_util/fixture.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";

const HOSTS: (keyof typeof GO_PROGRAMS)[] = ["host", "host-grpc-latest"];

async function autoMtls(
  hostName: keyof typeof GO_PROGRAMS,
  dir: string,
  pluginArgs: string[],
  flags: string[] = [],
) {
  const put = await hostFixture(
    dir,
    ["-automtls", ...flags, "put", "secret", "s3cr3t"],
    pluginArgs,
    hostName,
  );
  assert(put.result.ok, `${hostName} put failed: ${put.result.error}\n${put.stderr}`);
  const get = await hostFixture(
    dir,
    ["-automtls", ...flags, "get", "secret"],
    pluginArgs,
    hostName,
  );
  assert(get.result.ok, `${hostName} get failed: ${get.result.error}\n${get.stderr}`);
  assertEquals(get.result.value, "s3cr3t\n\nWritten from plugin-deno");
  for (const r of [put, get]) {
    assert(
      r.stderr.includes("configuring server automatic mTLS"),
      `plugin did not turn AutoMTLS on:\n${r.stderr}`,
    );
    // The native engine: our own TLS 1.3 server (tls13/) served the host, not node:tls's
    // fallback (grpc-js serves TLS with node:tls).
    assertEquals(
      r.stderr.includes("TLS 1.3 handshake (rpcplugin)") &&
        !r.stderr.includes("TLS handshake handed to node:tls"),
      TEST_ENGINE === "native",
      `the host's handshake did not take the ${TEST_ENGINE} engine's TLS path:\n${r.stderr}`,
    );
    assert(
      !/\btls: |x509: |handshake failed|missing selected ALPN/.test(r.stderr),
      `TLS errors in the host's log:\n${r.stderr}`,
    );
    assert(!r.stderr.includes("plugin failed to exit gracefully"), r.stderr);
    assert(!r.stderr.includes("stdio service not available"), r.stderr);
  }
  await assertNothingLeft(dir);
  return put.result;
}

for (const hostName of HOSTS) {
  Deno.test(`AutoMTLS, ${hostName}: put/get over a unix socket`, async () => {
    await withTempDir(async (dir) => {
      const r = await autoMtls(hostName, dir, []);
      assertEquals(r.network, "unix");
    });
  });

  Deno.test(`AutoMTLS, ${hostName}: put/get over TCP`, async () => {
    await withTempDir(async (dir) => {
      const min = 20000 + Math.floor(Math.random() * 20000);
      const r = await autoMtls(hostName, dir, ["--transport=tcp"], [
        "-min-port",
        `${min}`,
        "-max-port",
        `${min + 20}`,
      ]);
      assertEquals(r.network, "tcp");
    });
  });
}

for (const keyType of ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519", "rsa-2048"]) {
  Deno.test(`AutoMTLS, host-grpc-latest: plugin certificate ${keyType}`, async () => {
    await withTempDir((dir) => autoMtls("host-grpc-latest", dir, [`--automtls-key=${keyType}`]));
  });
}
