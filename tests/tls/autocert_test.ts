import { makeAutoCertificate, readHostCertificate } from "../../tls/autocert.ts";
import { generateCertificate, parseCertificatePem } from "../../tls/cert.ts";
import { CertificateError } from "../../tls/errors.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

Deno.test("makeAutoCertificate() makes what the pkijs reader and AutoMTLS expect", async () => {
  const now = new Date(Date.UTC(2030, 5, 1, 12, 0, 0, 250));
  for (const keyType of ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519"] as const) {
    const cert = await makeAutoCertificate(keyType, now);
    const info = parseCertificatePem(cert.certPem);
    assertEquals(info.keyType, keyType);
    const host = readHostCertificate(cert.certPem);
    assertEquals(host.keyType, keyType);
    if (keyType === "ed25519") {
      // RFC 8410: id-Ed25519 without parameters, signed over the TBS with the key itself.
      assertEquals(info.signatureAlgorithm, "ED25519");
      assertEquals([...host.spki.subarray(0, 12)], [48, 42, 48, 5, 6, 3, 43, 101, 112, 3, 33, 0]);
      const key = await crypto.subtle.importKey("spki", host.spki.slice(), "Ed25519", false, [
        "verify",
      ]);
      const der = cert.certDer;
      // Certificate ::= SEQUENCE { tbs, sigAlg (7 bytes), BIT STRING (67 bytes: 0x03 0x41 0x00 + 64) }
      const tbsStart = der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2;
      const sigAt = der.length - 64;
      const tbs = der.slice(tbsStart, sigAt - 3 - 7);
      assert(
        await crypto.subtle.verify("Ed25519", key, der.slice(sigAt), tbs),
        "the Ed25519 signature verifies",
      );
    }
    assertEquals([info.subject, info.issuer], [
      "CN=localhost,O=rpcplugin",
      "CN=localhost,O=rpcplugin",
    ]);
    assertEquals([info.dnsNames, info.ipAddresses], [["localhost"], ["127.0.0.1", "::1"]]);
    assertEquals([info.isCA, info.extKeyUsages, info.keyUsages], [false, [
      "serverAuth",
      "clientAuth",
    ], [
      "digitalSignature",
    ]]);
    assertEquals(info.notBefore.toISOString(), "2030-06-01T11:59:30.000Z");
    assertEquals(info.notAfter.toISOString(), "2060-06-01T12:00:00.000Z"); // GeneralizedTime
    assertEquals([...info.der], [...cert.certDer]);
    assert(cert.keyPem.startsWith("-----BEGIN PRIVATE KEY-----"), "PKCS#8 key");
  }
});

Deno.test("readHostCertificate() reads key type and validity of go-plugin-like host certificates", async () => {
  const cases = [
    ["ecdsa-p521", { isCA: true, commonName: "localhost" }],
    ["ecdsa-p256", {}],
    ["rsa-2048", {}],
    ["ed25519", {}],
  ] as const;
  for (const [keyType, extra] of cases) {
    const cert = await generateCertificate({ keyType, ...extra });
    const info = readHostCertificate(cert.certPem);
    const full = parseCertificatePem(cert.certPem);
    assertEquals(info.keyType, keyType);
    assertEquals(info.commonName, /(?:^|,)CN=([^,]*)/.exec(full.subject)?.[1] ?? "");
    assertEquals([info.notBefore.getTime(), info.notAfter.getTime()], [
      full.notBefore.getTime(),
      full.notAfter.getTime(),
    ]);
  }
});

Deno.test("readHostCertificate() refuses what is not a certificate, with CertificateError", async () => {
  const key = await generateCertificate();
  assertThrows(() => readHostCertificate("garbage"), CertificateError);
  assertThrows(() => readHostCertificate(key.keyPem), CertificateError, /PRIVATE KEY/);
  const notX509 = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
  assertThrows(
    () => readHostCertificate(notX509),
    CertificateError,
    /not a valid X.509 certificate/,
  );
  const truncated = key.certPem.replace(/\n[A-Za-z0-9+/=]+\n-----END/, "\n-----END");
  assertThrows(() => readHostCertificate(truncated), CertificateError);
});
