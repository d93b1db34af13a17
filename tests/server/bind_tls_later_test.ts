/**
 * The native engine's `bindTlsLater` (what `serve()` uses under AutoMTLS to
 * bind while the key is made): before `install` every TLS handshake is
 * refused; after it our TLS 1.3 server (tls13/) serves TLS with the
 * installed certificate, offers h2 by ALPN and still requires the client
 * certificate AutoMTLS allows: the installed CA's certificate itself (the
 * host's, byte for byte).
 *
 * @module
 */

import { createNativeEngine } from "../../server/engines/native.ts";
import { createLogger } from "../../log/logger.ts";
import { generateCertificate } from "../../tls/cert.ts";
import { assert, assertEquals } from "../_util/host.ts";
import { tryServe } from "../tls13/_client.ts";

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
