/**
 * The native engine's `bindTlsLater` (what `serve()` uses under AutoMTLS to
 * bind while the key is made): before `install` every TLS handshake is
 * refused; after it the server serves TLS with the installed certificate,
 * offers h2 by ALPN and still requires a client certificate signed by the
 * installed CA (`setSecureContext` replaces the key, certificate and CA,
 * not the server's client-certificate rule).
 *
 * @module
 */

import { createNativeEngine } from "../../server/engines/native.ts";
import { createLogger } from "../../log/logger.ts";
import { generateCertificate } from "../../tls/cert.ts";
import { assert, assertEquals } from "../_util/host.ts";

/** HTTP/2's client preface and an empty SETTINGS frame. */
const PREFACE = new Uint8Array([
  ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  0,
  0,
  0,
  4,
  0,
  0,
  0,
  0,
  0,
]);

/**
 * Connects, completes the TLS handshake and sends HTTP/2's preface: served
 * when the server answers with its SETTINGS frame (type 4), else the error
 * (TLS 1.3 shows a refused client certificate on the first read).
 */
async function tryServe(
  port: number,
  caPem: string,
  client?: { certPem: string; keyPem: string },
): Promise<{ alpn?: string | null; error?: string }> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [caPem],
      alpnProtocols: ["h2"],
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });
    const info = await conn.handshake();
    await conn.write(PREFACE);
    const buf = new Uint8Array(9);
    const n = await conn.read(buf);
    if (n === null) return { error: "closed by the server" };
    if (n < 4 || buf[3] !== 4) return { error: `not a SETTINGS frame: ${buf.subarray(0, n)}` };
    return { alpn: info.alpnProtocol };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed by the peer
    }
  }
}

Deno.test("native engine bindTlsLater: handshakes refused until install, then TLS with h2 and a required client certificate", async () => {
  const lines: string[] = [];
  const engine = createNativeEngine({
    maxMessageBytes: 1 << 20,
    logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
  });
  const [server, host, stranger] = await Promise.all([
    generateCertificate(),
    generateCertificate({ isCA: true, commonName: "host" }),
    generateCertificate({ isCA: true, commonName: "stranger" }),
  ]);
  try {
    const bound = await engine.bindTlsLater!("tcp", "127.0.0.1:0", true);
    assert(bound.port !== null && bound.port > 0, `bound to port ${bound.port}`);
    const port = bound.port!;

    const early = await tryServe(port, server.certPem, host);
    assert(early.error, `a handshake before install must fail, got ${JSON.stringify(early)}`);

    bound.install({
      certPem: server.certPem,
      keyPem: server.keyPem,
      clientCaPem: host.certPem,
      requireClientCert: true,
    });
    const good = await tryServe(port, server.certPem, host);
    assert(!good.error, `after install: ${good.error}`);
    assertEquals(good.alpn, "h2");

    const none = await tryServe(port, server.certPem);
    assert(none.error, "a client without a certificate must be refused after install");
    const wrong = await tryServe(port, server.certPem, stranger);
    assert(wrong.error, "a client certificate the installed CA did not sign must be refused");
  } finally {
    await engine.shutdown(0);
  }
  assertEquals(lines.filter((l) => l.includes('"@level":"error"')).length, 0, lines.join("\n"));
});
