/**
 * The plugin's main listener, plaintext or AutoMTLS, keeps at most
 * MAX_OPEN_CONNECTIONS connections open: one more is closed at once with
 * one WARN, and once a connection ends a new one is served again. Driven
 * through `serve()` (the fixture plugin), with a real gRPC health check as
 * the proof of service.
 */

import { type ClientTls, connect } from "../../rpc/connect.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import { checkHealth } from "../../services/health.ts";
import { MAX_OPEN_CONNECTIONS } from "../../transport/accept.ts";
import { hostEnv, startDirect } from "../_util/direct.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";

/** Bound on a refused connection's close: an accepted one stays open for the 10 s preface timeout. */
const REFUSAL_MS = 5_000;

/** Whether the peer closes `conn` (EOF or reset) within REFUSAL_MS, reading whatever it sends. */
async function closedByPeer(conn: Deno.Conn): Promise<boolean> {
  const buf = new Uint8Array(1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), REFUSAL_MS);
  });
  const closed = (async () => {
    try {
      while ((await conn.read(buf)) !== null) {
        // the server's SETTINGS, if it served us
      }
    } catch {
      // reset
    }
    return true;
  })();
  try {
    return await Promise.race([closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One health check on a fresh connection. */
async function healthCheck(address: string, tls?: ClientTls): Promise<void> {
  const channel = await connect({
    network: "unix",
    address,
    tls,
    maxMessageBytes: 1 << 20,
    timeoutMs: 10_000,
  });
  try {
    await checkHealth(channel, { timeoutMs: 5_000 });
  } finally {
    channel.close("test over");
  }
}

for (const autoMtls of [false, true]) {
  Deno.test(
    `${autoMtls ? "AutoMTLS" : "plaintext"} main listener: connection ${
      MAX_OPEN_CONNECTIONS + 1
    } is closed at once, with one WARN; a freed slot serves again`,
    async () => {
      await withTempDir(async (dir) => {
        const hostCert = autoMtls ? await makeAutoCertificate("ecdsa-p521") : undefined;
        const p = startDirect(
          [
            DENO,
            "run",
            ...pluginFlags([dir]),
            ROOT + "tests/fixtures/plugin.ts",
            "--log-level=trace",
          ],
          {
            cwd: dir,
            env: hostEnv(dir, hostCert ? { PLUGIN_CLIENT_CERT: hostCert.certPem } : {}),
          },
        );
        const info = await p.handshake;
        const tls = hostCert && {
          certPem: hostCert.certPem,
          keyPem: hostCert.keyPem,
          serverCertDer: info.serverCertDer,
        };
        const held: Deno.Conn[] = [];
        try {
          for (let i = 0; i < MAX_OPEN_CONNECTIONS; i++) {
            held.push(await Deno.connect({ transport: "unix", path: info.address }));
          }
          // Beyond the bound: closed by the plugin without a byte (our read sees EOF).
          for (let i = 0; i < 3; i++) {
            const extra = await Deno.connect({ transport: "unix", path: info.address });
            const refused = await closedByPeer(extra);
            extra.close();
            assert(refused, `connection ${MAX_OPEN_CONNECTIONS + 1 + i} was kept open`);
          }
          const warn = await p.waitForLog(/"@level":"warn".*connections refused/);
          assert(warn.includes(`${MAX_OPEN_CONNECTIONS} are open already`), warn);
          assertEquals(
            p.stderrLines.filter((l) => /connections refused/.test(l) && l.includes('"warn"'))
              .length,
            1,
            "one WARN per burst",
          );
          // Free one slot: once the plugin has seen it close, a real call is served.
          held.shift()!.close();
          await p.waitForLog(autoMtls ? /burst over|connection closed/ : /connection closed/);
          await healthCheck(info.address, tls);
        } finally {
          for (const c of held) c.close();
        }
        p.child.kill("SIGTERM");
        assertEquals((await p.status).code, 0, p.stderrLines.join("\n"));
      });
    },
  );
}
