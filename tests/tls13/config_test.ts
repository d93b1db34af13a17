/**
 * Tests of tls13/config.ts's PEM path (a certificate installed as PEM, not
 * AutoMTLS's parsed keys): for each key type the settings sign a
 * CertificateVerify that the certificate's own key verifies, RSA included
 * (no CryptoKey: its PKCS#8 is imported again as RSA-PSS).
 *
 * Run: deno test -A tests/tls13/config_test.ts
 */

import { tls13ConfigOf } from "../../tls13/config.ts";
import { verifierFor } from "../../tls13/signatures.ts";
import { readHostCertificate } from "../../tls/autocert.ts";
import { generateCertificate } from "../../tls/cert.ts";
import { assert, assertEquals } from "../_util/assert.ts";

for (const keyType of ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "ed25519"] as const) {
  Deno.test(`tls13ConfigOf(): a ${keyType} certificate and key given as PEM sign what the certificate verifies`, async () => {
    const server = await generateCertificate({ keyType });
    const host = await generateCertificate({ commonName: "host" });
    const config = await tls13ConfigOf({
      certPem: server.certPem,
      keyPem: server.keyPem,
      clientCaPem: host.certPem,
      requireClientCert: true,
    });
    assert(config, "our TLS 1.3 server serves it");
    assertEquals(config.certDer, readHostCertificate(server.certPem).der);
    assertEquals(config.clientCertDer, readHostCertificate(host.certPem).der);
    const content = crypto.getRandomValues(new Uint8Array(130));
    const signature = await config.signer.sign(content);
    const verifier = verifierFor(readHostCertificate(server.certPem).spki);
    assert(verifier.schemes.includes(config.signer.scheme), "a scheme of the certificate's key");
    assert(
      await verifier.verify(config.signer.scheme, content, signature),
      "the signature verifies",
    );
  });
}
