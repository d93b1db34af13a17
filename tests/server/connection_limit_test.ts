/**
 * The plugin's main listener, plaintext, AutoMTLS (our TLS 1.3 server) or
 * with the plugin's own certificate (`serve({ tls })`, node:tls), keeps at
 * most MAX_OPEN_CONNECTIONS connections open. At the limit a new connection
 * closes the oldest one that has not proven itself yet (no HTTP/2 preface,
 * no TLS handshake done), or else is closed itself; one WARN per burst; once a
 * connection ends a new one is served again. Driven through `serve()` (the
 * fixture plugin), with a real gRPC health check as the proof of service.
 */

import { type ClientTls, connect } from "../../rpc/connect.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import { generateCertificate } from "../../tls/cert.ts";
import { checkHealth } from "../../services/health.ts";
import { MAX_OPEN_CONNECTIONS } from "../../transport/connection_table.ts";
import { type DirectPlugin, hostEnv, startDirect } from "../_util/direct.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, withTempDir } from "../_util/host.ts";
import { assertThrows } from "../_util/assert.ts";
import { within } from "../_util/fuzz.ts";
import { createLogger } from "../../log/logger.ts";
import { createNativeEngine } from "../../server/engines/native.ts";

/** Bound on a refused connection's close: an accepted one stays open for the 10 s preface timeout. */
const REFUSAL_MS = 5_000;

/** Whether the peer closes `conn` (EOF or reset) within `ms`, reading whatever it sends. */
async function closedByPeer(conn: Deno.Conn, ms = REFUSAL_MS): Promise<boolean> {
  const buf = new Uint8Array(1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
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

/** A connection to the plugin (the host's TLS settings under AutoMTLS), checked healthy. */
async function dialHealthy(address: string, tls?: ClientTls) {
  const channel = await connect({
    network: "unix",
    address,
    tls,
    maxMessageBytes: 1 << 20,
    timeoutMs: 10_000,
  });
  try {
    await checkHealth(channel, { timeoutMs: 5_000 });
  } catch (err) {
    channel.close("test: refused");
    throw err;
  }
  return channel;
}

/** One health check on a fresh connection. */
async function healthCheck(address: string, tls?: ClientTls): Promise<void> {
  const channel = await dialHealthy(address, tls);
  channel.close("test over");
}

/** How the plugin's main listener serves: plaintext, AutoMTLS, or its own certificate (node:tls). */
type Mode = "plaintext" | "AutoMTLS" | "user TLS";

/** The fixture plugin with its host's settings for `mode`, and the client TLS for it. */
async function start(dir: string, mode: Mode) {
  const hostCert = mode === "AutoMTLS" ? await makeAutoCertificate("ecdsa-p521") : undefined;
  const flags: string[] = [];
  let userTls: ClientTls | undefined;
  if (mode === "user TLS") {
    const [server, client] = await Promise.all([generateCertificate(), generateCertificate()]);
    for (
      const [name, pem] of [["cert", server.certPem], ["key", server.keyPem], [
        "ca",
        client.certPem,
      ]]
    ) {
      await Deno.writeTextFile(`${dir}/${name}.pem`, pem);
    }
    flags.push(
      `--tls-cert=${dir}/cert.pem`,
      `--tls-key=${dir}/key.pem`,
      `--tls-client-ca=${dir}/ca.pem`,
    );
    userTls = { certPem: client.certPem, keyPem: client.keyPem, serverCertDer: server.certDer };
  }
  const p = startDirect(
    [
      DENO,
      "run",
      ...pluginFlags([dir]),
      ROOT + "tests/fixtures/plugin.ts",
      "--log-level=trace",
      ...flags,
    ],
    { cwd: dir, env: hostEnv(dir, hostCert ? { PLUGIN_CLIENT_CERT: hostCert.certPem } : {}) },
  );
  const info = await p.handshake;
  const tls: ClientTls | undefined = userTls ?? (hostCert && {
    certPem: hostCert.certPem,
    keyPem: hostCert.keyPem,
    serverCertDer: info.serverCertDer,
  });
  return { p, address: info.address, tls };
}

/** A WARN line about refused connections. */
const REFUSAL_WARN = /"@level":"warn".*connections refused/;

/** The WARN lines about refused connections. */
function refusalWarnings(lines: string[]): string[] {
  return lines.filter((l) => REFUSAL_WARN.test(l));
}

/**
 * Waits for the plugin's WARN about refused connections (its stderr is a
 * pipe: the line comes after the refusal itself), then returns every such WARN.
 */
async function refusalWarned(p: DirectPlugin): Promise<string[]> {
  await within(
    p.waitForLog(REFUSAL_WARN),
    REFUSAL_MS,
    "the plugin's WARN about the refused connection (a line matching " + REFUSAL_WARN + ")",
  ).catch((err) => {
    throw new Error(`${err.message}; stderr so far:\n${p.stderrLines.join("\n")}`);
  });
  return refusalWarnings(p.stderrLines);
}

for (const mode of ["plaintext", "AutoMTLS", "user TLS"] as const) {
  Deno.test(`${mode} main listener: ${MAX_OPEN_CONNECTIONS} silent connections cannot keep the host out (the oldest silent one is closed), one WARN`, async () => {
    await withTempDir(async (dir) => {
      const { p, address, tls } = await start(dir, mode);
      const silent: Deno.Conn[] = [];
      const clients: Awaited<ReturnType<typeof connect>>[] = [];
      try {
        for (let i = 0; i < MAX_OPEN_CONNECTIONS; i++) {
          silent.push(await Deno.connect({ transport: "unix", path: address }));
        }
        // Each real client is served, and takes the place of the oldest silent socket.
        for (let i = 0; i < 3; i++) {
          clients.push(await dialHealthy(address, tls));
          assert(await closedByPeer(silent[i]), `silent connection ${i} was kept open`);
        }
        assert(!(await closedByPeer(silent[3], 200)), "a younger silent connection was closed");
        const warns = await refusalWarned(p);
        assertEquals(warns.length, 1, "one WARN per burst:\n" + warns.join("\n"));
        assert(warns[0].includes(`${MAX_OPEN_CONNECTIONS} are open already`), warns[0]);
        // What an operator can do: the option that raises the bound.
        const warn = JSON.parse(warns[0]);
        assertEquals(warn.limit, MAX_OPEN_CONNECTIONS, warns[0]);
        assert(/createNativeEngine\(\{ \.\.\.o, maxConnections: N \}\)/.test(warn.fix), warns[0]);
      } finally {
        for (const c of silent) c.close();
        for (const c of clients) c.close("test over");
      }
      p.child.kill("SIGTERM");
      assertEquals((await p.status).code, 0, p.stderrLines.join("\n"));
    });
  });

  Deno.test(`${mode} main listener: with ${MAX_OPEN_CONNECTIONS} established connections one more is refused, with one WARN; a freed slot serves again`, async () => {
    await withTempDir(async (dir) => {
      const { p, address, tls } = await start(dir, mode);
      const channels: Awaited<ReturnType<typeof connect>>[] = [];
      try {
        for (let i = 0; i < MAX_OPEN_CONNECTIONS; i++) {
          channels.push(await dialHealthy(address, tls)); // established: it has spoken
        }
        let refused = false;
        await healthCheck(address, tls).catch(() => refused = true);
        assert(refused, `connection ${MAX_OPEN_CONNECTIONS + 1} was served`);
        const warns = await refusalWarned(p);
        assertEquals(warns.length, 1, "one WARN per burst:\n" + warns.join("\n"));
        assert(!p.stderrLines.some((l) => l.includes("connection closed")), "a connection closed");
        // Free one slot: once the plugin has seen it close, a real call is served.
        channels.shift()!.close("test: making room");
        await p.waitForLog(/connection closed/);
        await healthCheck(address, tls);
      } finally {
        for (const c of channels) c.close("test over");
      }
      p.child.kill("SIGTERM");
      assertEquals((await p.status).code, 0, p.stderrLines.join("\n"));
    });
  });
}

Deno.test("createNativeEngine({ maxConnections }): the bound its WARN names is the one the listener keeps", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const logged = Promise.withResolvers<void>();
    const logger = createLogger({
      level: "warn",
      write: (l) => {
        lines.push(l);
        if (/connections refused/.test(l)) logged.resolve();
      },
    });
    const engine = createNativeEngine({ maxMessageBytes: 1 << 20, logger, maxConnections: 2 });
    const path = `${dir}/plugin.sock`;
    await engine.bind("unix", path);
    const silent: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 3; i++) silent.push(await Deno.connect({ transport: "unix", path }));
      // The third closes the oldest silent one: the bound is 2, not MAX_OPEN_CONNECTIONS.
      assert(await closedByPeer(silent[0]), "the oldest of 3 silent connections was kept open");
      await logged.promise;
      const warn = JSON.parse(lines.find((l) => /connections refused/.test(l))!);
      assertEquals(warn.limit, 2, JSON.stringify(warn));
      assert(warn["@message"].includes("2 are open already"), warn["@message"]);
      assert(warn.fix.includes("maxConnections"), warn.fix);
    } finally {
      for (const c of silent) c.close();
      await engine.shutdown(0);
    }
  });
});

Deno.test("createNativeEngine({ maxConnections }): a bound that is not a positive integer is named", () => {
  const logger = createLogger({ level: "off", write: () => {} });
  for (const bad of [0, -1, 1.5, NaN]) {
    assertThrows(
      () => createNativeEngine({ maxMessageBytes: 1 << 20, logger, maxConnections: bad }),
      RangeError,
      /maxConnections must be a positive integer/,
    );
  }
});
