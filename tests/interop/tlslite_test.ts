/**
 * tlslite-ng (pure-Python TLS, from PyPI) against the plugin's own TLS 1.3
 * server, a second independent peer next to Go's crypto/tls: the plugin is
 * started through serve() (the test fixture) under AutoMTLS with the host's
 * certificate in PLUGIN_CLIENT_CERT; tests/interop/tlslite_peer.py runs a
 * benign mutual-TLS handshake with an HTTP/2 SETTINGS exchange and hostile
 * cases, each reporting the alert the server sent. One step per case.
 *
 * The venv (tests/interop/tlslite/requirements.txt) is made under
 * .cache/tlslite/ with bench/_setup.ts's pythonVenv; if Python or pip fails
 * the test fails naming it (set $BENCH_PYTHON to another interpreter).
 *
 * Run: deno test --sanitize-ops --sanitize-resources --allow-run --allow-read --allow-write
 *   --allow-env --allow-net tests/interop/tlslite_test.ts
 */

import { pythonVenv } from "../../bench/_setup.ts";
import { generateCertificate } from "../../tls/mod.ts";
import { hostEnv, startDirect } from "../_util/direct.ts";
import { FIXTURE } from "../_util/fixture.ts";
import { assert, assertEquals, socketFiles, withTempDir, writeFiles } from "../_util/host.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";

/** One line of tlslite_peer.py's output. */
interface CaseResult {
  name: string;
  expect: string[];
  got: string;
  ok: boolean;
  why: string;
}

Deno.test("tlslite-ng against our TLS 1.3 server: interop and hostile cases", async (t) => {
  let python: string;
  try {
    python = await pythonVenv(
      Deno.env.get("BENCH_PYTHON") ?? "python3",
      `${ROOT}.cache/tlslite/venv`,
      `${ROOT}tests/interop/tlslite/requirements.txt`,
    );
  } catch (err) {
    throw new Error(
      `cannot make the tlslite-ng venv (needs python3 >= 3.11 with venv, and pip reaching PyPI ` +
        `for tlslite-ng==0.8.2): ${err instanceof Error ? err.message : err}`,
    );
  }
  await withTempDir(async (dir) => {
    const host = await generateCertificate();
    const other = await generateCertificate();
    const paths = await writeFiles(dir, {
      "host.pem": host.certPem,
      "host.key": host.keyPem,
      "other.pem": other.certPem,
      "other.key": other.keyPem,
    });
    const plugin = startDirect([DENO, "run", ...pluginFlags([dir]), ROOT + FIXTURE], {
      cwd: dir,
      env: hostEnv(dir, { PLUGIN_CLIENT_CERT: host.certPem, RPCPLUGIN_LOG_LEVEL: "debug" }),
    });
    let results: CaseResult[] = [];
    let peer: Deno.CommandOutput | undefined;
    try {
      const info = await plugin.handshake;
      assert(info.serverCertDer, "AutoMTLS: the handshake line must carry the plugin certificate");
      peer = await new Deno.Command(python, {
        args: [
          `${ROOT}tests/interop/tlslite_peer.py`,
          info.address,
          ...paths,
        ],
        cwd: dir,
        stdin: "null",
      }).output();
      const out = new TextDecoder().decode(peer.stdout).trim();
      results = out ? out.split("\n").map((l) => JSON.parse(l) as CaseResult) : [];
    } finally {
      plugin.child.kill("SIGTERM");
    }
    const status = await plugin.status;
    const stderr = new TextDecoder().decode(peer?.stderr);
    assert(results.length >= 20, `tlslite_peer.py reported ${results.length} cases:\n${stderr}`);
    for (const r of results) {
      await t.step(r.name, () => {
        assert(
          r.ok,
          `expected ${r.expect.join(" or ")} (${r.why}), got ${r.got}\n` +
            `plugin log (last lines):\n${plugin.stderrLines.slice(-15).join("\n")}`,
        );
      });
    }
    assertEquals(peer?.code, 0, stderr);
    // Our own TLS 1.3 server took the benign handshakes, not node:tls.
    assert(
      plugin.stderrLines.some((l) => l.includes("TLS 1.3 handshake (rpcplugin)")),
      "no handshake went through tls13/",
    );
    assertEquals(status.code, 0, plugin.stderrLines.join("\n"));
    assertEquals(socketFiles(dir), [], "socket files left behind");
  });
});
