/**
 * Tests of tls/cert.ts, tls/pem.ts and tls/errors.ts.
 *
 * Run: deno test --allow-read --allow-write --allow-run=openssl tests/tls/
 * The OpenSSL tests fail, saying so, when `openssl` cannot be started.
 */

import * as pkijs from "pkijs";
import { ed25519SignedBy } from "../../tls/_read.ts";
import {
  CertificateError,
  certToHandshakeField,
  derToPem,
  generateCertificate,
  KEY_TYPES,
  type KeyType,
  parseCertificateDer,
  parseCertificatePem,
  pemToDer,
} from "../../tls/cert.ts";
import {
  assert,
  assertEquals,
  assertIncludes,
  assertRejects,
  defaultCertificate,
  hasCommand,
  run,
  withTempDir,
} from "./_util.ts";

const SIGNATURES: Record<KeyType, string> = {
  "ecdsa-p256": "ecdsa-with-SHA256",
  "ecdsa-p384": "ecdsa-with-SHA384",
  "ecdsa-p521": "ecdsa-with-SHA512",
  "ed25519": "ED25519",
  "rsa-2048": "sha256WithRSAEncryption",
  "rsa-3072": "sha256WithRSAEncryption",
  "rsa-4096": "sha256WithRSAEncryption",
};

/** WebCrypto's algorithm of a key type's private key. */
function importAlgorithm(keyType: KeyType): Algorithm {
  if (keyType.startsWith("rsa")) return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as Algorithm;
  if (keyType === "ed25519") return { name: "Ed25519" };
  return { name: "ECDSA", namedCurve: `P-${keyType.slice(-3)}` } as Algorithm;
}

const HOURS_30_YEARS = 262_980;

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks the certificate's signature with its own public key: through pkijs,
 * or WebCrypto for Ed25519 (which pkijs 4 does not verify).
 */
async function selfSignatureValid(der: Uint8Array): Promise<boolean> {
  const cert = pkijs.Certificate.fromBER(der.slice());
  if (cert.signatureAlgorithm.algorithmId === "1.3.101.112") {
    return await ed25519SignedBy(cert, cert.subjectPublicKeyInfo);
  }
  const engine = new pkijs.CryptoEngine({ name: "webcrypto", crypto: globalThis.crypto });
  return await cert.verify(undefined, engine);
}

/** The raw bytes of every GeneralizedTime (tag 0x18) of the form YYYYMMDDhhmmss… in `der`. */
function generalizedTimes(der: Uint8Array): string[] {
  const found: string[] = [];
  for (let i = 0; i + 2 < der.length; i++) {
    if (der[i] !== 0x18) continue;
    const length = der[i + 1];
    const text = new TextDecoder().decode(der.subarray(i + 2, i + 2 + length));
    if (/^\d{14}/.test(text) && text.endsWith("Z")) found.push(text);
  }
  return found;
}

Deno.test("generateCertificate() makes every key type and parseCertificatePem() reads it back", async () => {
  for (const keyType of KEY_TYPES) {
    const before = Date.now();
    const cert = await defaultCertificate(keyType);
    const info = parseCertificatePem(cert.certPem);
    const where = `key type ${keyType}`;
    assertEquals(cert.keyType, keyType, where);
    assertEquals(info.keyType, keyType, where);
    assertEquals(info.signatureAlgorithm, SIGNATURES[keyType], where);
    assertEquals(
      Array.from(pemToDer(cert.certPem, "CERTIFICATE")),
      Array.from(cert.certDer),
      where,
    );
    assertEquals(Array.from(info.der), Array.from(cert.certDer), where);
    assertEquals(info.fingerprintSha256, await sha256Hex(cert.certDer.slice()), where);
    assert(/^[0-9a-f]{64}$/.test(info.fingerprintSha256), where);
    assert(cert.keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n"), where);
    assert(cert.keyPem.endsWith("-----END PRIVATE KEY-----\n"), where);
    assertEquals(cert.privateKey.type, "private", where);
    const algorithm = importAlgorithm(keyType);
    assertEquals(cert.privateKey.algorithm.name, algorithm.name, where);
    // The key PEM imports back into WebCrypto as PKCS#8.
    await crypto.subtle.importKey(
      "pkcs8",
      pemToDer(cert.keyPem, "PRIVATE KEY").slice(),
      algorithm,
      false,
      ["sign"],
    );
    assert(await selfSignatureValid(cert.certDer), `${where}: signature does not verify`);

    // Defaults.
    assertEquals(info.subject, "CN=localhost,O=rpcplugin", where);
    assertEquals(info.issuer, info.subject, where);
    assertEquals(info.dnsNames, ["localhost"], where);
    assertEquals(info.ipAddresses, ["127.0.0.1", "::1"], where);
    assertEquals(info.isCA, false, where);
    assertEquals(info.extKeyUsages, ["serverAuth", "clientAuth"], where);
    assertEquals(
      info.keyUsages,
      keyType.startsWith("rsa") ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"],
      where,
    );
    // Serial: positive, at most 127 random bits, no leading zero byte.
    const serial = BigInt(`0x${info.serialNumber}`);
    assert(serial > 0n && serial < 1n << 127n, `${where}: serial ${info.serialNumber}`);
    assert(!info.serialNumber.startsWith("00"), where);
    // Validity: backdated by 30 s, about 30 years (go-plugin's 262 980 h), whole seconds.
    assertEquals(info.notBefore.getTime() % 1000, 0, where);
    assertEquals(info.notAfter.getTime() % 1000, 0, where);
    assert(
      info.notBefore.getTime() <= before - 29_000,
      `${where}: notBefore ${info.notBefore.toISOString()}`,
    );
    assert(info.notBefore.getTime() >= before - 31_000 - 60_000, where);
    const lifetimeHours = (info.notAfter.getTime() - info.notBefore.getTime()) / 3_600_000;
    assert(Math.abs(lifetimeHours - HOURS_30_YEARS) < 1, `${where}: lifetime ${lifetimeHours} h`);
  }
});

Deno.test("generateCertificate() puts the requested SANs, names and validity in", async () => {
  const notBefore = new Date("2024-02-29T12:34:56.789Z");
  const notAfter = new Date("2030-01-02T03:04:05.999Z");
  const cert = await generateCertificate({
    commonName: 'plugin, "kv"',
    organization: "Example Org",
    dnsNames: ["localhost", "plugin.internal", "*.example.test"],
    ipAddresses: [
      "10.1.2.3",
      "::1",
      "fe80::1",
      "2001:db8::8:800:200c:417a",
      "::ffff:192.0.2.1",
      "1:0:0:2::",
      "1:0:0:2:0:0:3:4",
      "1:2:3:4:5:6:7:8",
      "0:0:0:0:0:0:0:0",
    ],
    notBefore,
    notAfter,
  });
  const info = parseCertificateDer(cert.certDer);
  assertEquals(info.subject, 'CN=plugin\\, \\"kv\\",O=Example Org');
  assertEquals(info.dnsNames, ["localhost", "plugin.internal", "*.example.test"]);
  assertEquals(info.ipAddresses, [
    "10.1.2.3",
    "::1",
    "fe80::1",
    "2001:db8::8:800:200c:417a",
    "::ffff:c000:201",
    "1:0:0:2::",
    "1::2:0:0:3:4",
    "1:2:3:4:5:6:7:8",
    "::",
  ]);
  // Rounded down to whole seconds.
  assertEquals(info.notBefore.toISOString(), "2024-02-29T12:34:56.000Z");
  assertEquals(info.notAfter.toISOString(), "2030-01-02T03:04:05.000Z");
  assertEquals(generalizedTimes(cert.certDer), []);
});

Deno.test("generateCertificate() writes a notAfter from 2050 on as GeneralizedTime in whole seconds", async () => {
  const cert = await generateCertificate({ notAfter: new Date("2060-06-15T10:20:30.456Z") });
  assertEquals(generalizedTimes(cert.certDer), ["20600615102030Z"]);
  assertEquals(
    parseCertificatePem(cert.certPem).notAfter.toISOString(),
    "2060-06-15T10:20:30.000Z",
  );

  const early = await generateCertificate({
    notBefore: new Date("1949-12-31T23:59:59Z"),
    notAfter: new Date("2049-12-31T23:59:59Z"),
  });
  assertEquals(generalizedTimes(early.certDer), ["19491231235959Z"]);
  const info = parseCertificatePem(early.certPem);
  assertEquals(info.notBefore.toISOString(), "1949-12-31T23:59:59.000Z");
  assertEquals(info.notAfter.toISOString(), "2049-12-31T23:59:59.000Z");
});

Deno.test("generateCertificate() honours isCA, keyUsages and extKeyUsages", async () => {
  const ca = await generateCertificate({
    isCA: true,
    commonName: "test CA",
    keyType: "ecdsa-p384",
  });
  const caInfo = parseCertificatePem(ca.certPem);
  assertEquals(caInfo.isCA, true);
  assertEquals(caInfo.keyUsages, ["digitalSignature", "keyCertSign"]);

  const serverOnly = parseCertificatePem(
    (await generateCertificate({ extKeyUsages: ["serverAuth"] })).certPem,
  );
  assertEquals(serverOnly.extKeyUsages, ["serverAuth"]);

  const noEku = parseCertificatePem((await generateCertificate({ extKeyUsages: [] })).certPem);
  assertEquals(noEku.extKeyUsages, []);

  const usages = parseCertificatePem(
    (await generateCertificate({ keyUsages: ["keyAgreement", "digitalSignature", "decipherOnly"] }))
      .certPem,
  );
  assertEquals(usages.keyUsages, ["digitalSignature", "keyAgreement", "decipherOnly"]);

  const noKu = parseCertificatePem((await generateCertificate({ keyUsages: [] })).certPem);
  assertEquals(noKu.keyUsages, []);

  const anonymous = parseCertificatePem(
    (await generateCertificate({ commonName: "", organization: "", ipAddresses: [] })).certPem,
  );
  assertEquals(anonymous.subject, "");
  assertEquals(anonymous.dnsNames, ["localhost"]);
  assertEquals(anonymous.ipAddresses, []);
});

Deno.test("generateCertificate() signs with an Ed25519 CA, and an Ed25519 leaf with an ECDSA CA", async () => {
  const edCa = await generateCertificate({ isCA: true, commonName: "ed CA", keyType: "ed25519" });
  const leaf = await generateCertificate({ issuer: edCa, keyType: "ecdsa-p256" });
  const info = parseCertificatePem(leaf.certPem);
  assertEquals([info.issuer, info.signatureAlgorithm, info.keyType], [
    "CN=ed CA,O=rpcplugin",
    "ED25519",
    "ecdsa-p256",
  ]);
  const p256Ca = await generateCertificate({ isCA: true, commonName: "ec CA" });
  const edLeaf = await generateCertificate({ issuer: p256Ca, keyType: "ed25519" });
  const edInfo = parseCertificatePem(edLeaf.certPem);
  assertEquals([edInfo.signatureAlgorithm, edInfo.keyType], ["ecdsa-with-SHA256", "ed25519"]);
  // The issuer check holds for Ed25519 keys (pkijs 4 cannot verify them; WebCrypto does).
  const otherEd = await generateCertificate({ keyType: "ed25519" });
  await assertRejects(
    () => generateCertificate({ issuer: { ...edCa, privateKey: otherEd.privateKey } }),
    TypeError,
    "does not belong",
  );
});

Deno.test("generateCertificate() signs with an issuer CA", async () => {
  const ca = await generateCertificate({
    isCA: true,
    commonName: "test CA",
    keyType: "ecdsa-p521",
  });
  const leaf = await generateCertificate({ issuer: ca, keyType: "ecdsa-p256" });
  const info = parseCertificatePem(leaf.certPem);
  assertEquals(info.issuer, "CN=test CA,O=rpcplugin");
  assertEquals(info.subject, "CN=localhost,O=rpcplugin");
  // The signature algorithm follows the signer's key, not the subject's.
  assertEquals(info.signatureAlgorithm, "ecdsa-with-SHA512");
  assertEquals(info.keyType, "ecdsa-p256");
  const engine = new pkijs.CryptoEngine({ name: "webcrypto", crypto: globalThis.crypto });
  const leafCert = pkijs.Certificate.fromBER(leaf.certDer.slice());
  assert(
    await leafCert.verify(pkijs.Certificate.fromBER(ca.certDer.slice()), engine),
    "leaf not signed by CA",
  );
  const otherCa = await generateCertificate({
    isCA: true,
    commonName: "test CA",
    keyType: "ecdsa-p521",
  });
  assert(
    !(await leafCert.verify(pkijs.Certificate.fromBER(otherCa.certDer.slice()), engine)),
    "leaf verified with the wrong CA's key",
  );
});

Deno.test("generateCertificate() rejects bad options with TypeError or RangeError", async () => {
  await assertRejects(
    () => generateCertificate({ keyType: "ed448" as KeyType }),
    TypeError,
    '"ed448"',
  );
  await assertRejects(
    () => generateCertificate({ ipAddresses: ["localhost"] }),
    TypeError,
    "IP address",
  );
  await assertRejects(() => generateCertificate({ ipAddresses: ["fe80::1%eth0"] }), TypeError);
  await assertRejects(() => generateCertificate({ ipAddresses: ["1.2.3.04"] }), TypeError);
  await assertRejects(
    () => generateCertificate({ dnsNames: ["bücher.example"] }),
    TypeError,
    "punycode",
  );
  await assertRejects(() => generateCertificate({ dnsNames: [""] }), TypeError);
  await assertRejects(
    () =>
      generateCertificate({ notBefore: new Date("2030-01-01"), notAfter: new Date("2029-01-01") }),
    RangeError,
    "notAfter",
  );
  await assertRejects(() => generateCertificate({ notAfter: new Date("nope") }), RangeError);
  await assertRejects(
    () => generateCertificate({ keyUsages: ["sign" as "digitalSignature"] }),
    TypeError,
  );
  await assertRejects(
    () => generateCertificate({ extKeyUsages: ["codeSigning" as "serverAuth"] }),
    TypeError,
  );

  const leaf = await defaultCertificate("ecdsa-p256");
  await assertRejects(() => generateCertificate({ issuer: leaf }), TypeError, "not a CA");
  const ca = await generateCertificate({ isCA: true });
  await assertRejects(
    () => generateCertificate({ issuer: { ...ca, privateKey: leaf.privateKey } }),
    TypeError,
    "does not belong",
  );
  // A key of another type: pkijs throws on the mismatch; still a TypeError.
  const p521 = await generateCertificate({ keyType: "ecdsa-p521" });
  await assertRejects(
    () => generateCertificate({ issuer: { ...ca, privateKey: p521.privateKey } }),
    TypeError,
    "does not belong",
  );
  await assertRejects(
    () => generateCertificate({ dnsNames: "localhost" as unknown as string[] }),
    TypeError,
    "array",
  );
});

Deno.test("certToHandshakeField() is unpadded standard base64 of the DER", async () => {
  // All three padding cases, and bytes that need "+" and "/".
  assertEquals(certToHandshakeField(new Uint8Array([0xfb, 0xff, 0xbf])), "+/+/");
  assertEquals(certToHandshakeField(new Uint8Array([0xfb, 0xff])), "+/8");
  assertEquals(certToHandshakeField(new Uint8Array([0xfb])), "+w");
  await assertRejects(() => certToHandshakeField(new Uint8Array()), TypeError);

  for (const keyType of KEY_TYPES) {
    const { certDer } = await defaultCertificate(keyType);
    const field = certToHandshakeField(certDer);
    assert(/^[A-Za-z0-9+/]+$/.test(field), `${keyType}: ${field}`);
    assert(field.length > 50, "the host ignores a field of 50 characters or fewer");
    const padded = field + "=".repeat((4 - (field.length % 4)) % 4);
    assertEquals(Array.from(Uint8Array.fromBase64(padded)), Array.from(certDer), keyType);
  }
});

Deno.test("derToPem() and pemToDer() round-trip, with CRLF and bundles", async () => {
  const der = crypto.getRandomValues(new Uint8Array(200));
  const pem = derToPem(der, "CERTIFICATE");
  for (const line of pem.trimEnd().split("\n")) assert(line.length <= 64, line);
  assertEquals(Array.from(pemToDer(pem, "CERTIFICATE")), Array.from(der));
  assertEquals(Array.from(pemToDer(pem.replaceAll("\n", "\r\n"), "CERTIFICATE")), Array.from(der));

  const cert = await defaultCertificate("ecdsa-p256");
  const bundle = `key first:\n${cert.keyPem}\nthen the cert\n${cert.certPem}`;
  assertEquals(
    parseCertificatePem(bundle).fingerprintSha256,
    parseCertificateDer(cert.certDer).fingerprintSha256,
  );
  await assertRejects(() => derToPem(der, "certificate"), TypeError);
});

Deno.test("parseCertificatePem() throws CertificateError that says what is wrong", async () => {
  const cert = await defaultCertificate("ecdsa-p256");
  const body = (pem: string) => pem.split("\n").slice(1, -2).join("\n");

  let error = await assertRejects(
    () => parseCertificatePem("hello"),
    CertificateError,
    "BEGIN CERTIFICATE",
  );
  assertEquals(error.kind, "not-pem");
  error = await assertRejects(() => parseCertificatePem(""), CertificateError);
  assertEquals(error.kind, "not-pem");

  error = await assertRejects(
    () => parseCertificatePem(cert.keyPem),
    CertificateError,
    "private key",
  );
  assertEquals([error.kind, error.label], ["not-certificate", "PRIVATE KEY"]);
  const ecKey = `-----BEGIN EC PRIVATE KEY-----\n${
    body(cert.keyPem)
  }\n-----END EC PRIVATE KEY-----\n`;
  error = await assertRejects(() => parseCertificatePem(ecKey), CertificateError, "private key");
  assertEquals([error.kind, error.label], ["not-certificate", "EC PRIVATE KEY"]);

  const brokenBase64 = cert.certPem.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!");
  error = await assertRejects(() => parseCertificatePem(brokenBase64), CertificateError, "base64");
  assertEquals(error.kind, "malformed");

  const garbage = derToPem(new Uint8Array([1, 2, 3, 4, 5, 6]), "CERTIFICATE");
  error = await assertRejects(
    () => parseCertificatePem(garbage),
    CertificateError,
    "Cannot decode",
  );
  assertEquals(error.kind, "malformed");

  // Valid DER, but a private key, not a certificate.
  const keyAsCert = derToPem(pemToDer(cert.keyPem, "PRIVATE KEY"), "CERTIFICATE");
  error = await assertRejects(() => parseCertificatePem(keyAsCert), CertificateError, "X.509");
  assertEquals(error.kind, "malformed");

  const trailing = derToPem(new Uint8Array([...cert.certDer, 0, 0]), "CERTIFICATE");
  error = await assertRejects(() => parseCertificatePem(trailing), CertificateError, "trailing");
  assertEquals(error.kind, "malformed");

  const truncated = derToPem(cert.certDer.subarray(0, 100), "CERTIFICATE");
  error = await assertRejects(() => parseCertificatePem(truncated), CertificateError);
  assertEquals(error.kind, "malformed");

  const mismatched = cert.certPem.replace("END CERTIFICATE", "END PRIVATE KEY");
  error = await assertRejects(() => parseCertificatePem(mismatched), CertificateError, "ends with");
  assertEquals(error.kind, "malformed");

  assert(error instanceof Error && error.name === "CertificateError");
});

const HAS_OPENSSL = hasCommand("openssl", ["version"]);

/** These tests need OpenSSL: without it they fail, saying so (no silent skip). */
function requireOpenssl(): void {
  if (!HAS_OPENSSL) {
    throw new Error("`openssl version` cannot be run: install OpenSSL (apt-get install openssl)");
  }
}

Deno.test({
  name: "openssl x509 -text shows the requested fields of every key type",
  fn: async () => {
    requireOpenssl();
    await withTempDir(async (dir) => {
      for (const keyType of KEY_TYPES) {
        const cert = await defaultCertificate(keyType);
        const certFile = `${dir}/${keyType}.pem`;
        const keyFile = `${dir}/${keyType}.key`;
        await Deno.writeTextFile(certFile, cert.certPem);
        await Deno.writeTextFile(keyFile, cert.keyPem);
        const text = await run("openssl", ["x509", "-noout", "-text", "-in", certFile]);
        assertEquals(text.code, 0, text.stderr);
        const bits = keyType.startsWith("rsa")
          ? keyType.slice(4)
          : keyType === "ed25519"
          ? "256"
          : keyType.slice(-3);
        assertIncludes(text.stdout, [
          "Version: 3 (0x2)",
          `Signature Algorithm: ${SIGNATURES[keyType]}`,
          "Subject: O = rpcplugin, CN = localhost",
          "Issuer: O = rpcplugin, CN = localhost",
          keyType === "ed25519" ? "ED25519 Public-Key:" : `Public-Key: (${bits} bit)`,
          keyType.startsWith("rsa")
            ? "Exponent: 65537 (0x10001)"
            : keyType === "ed25519"
            ? "Public Key Algorithm: ED25519"
            : `NIST CURVE: P-${bits}`,
          "X509v3 Basic Constraints: critical",
          "CA:FALSE",
          "X509v3 Key Usage: critical",
          keyType.startsWith("rsa") ? "Digital Signature, Key Encipherment" : "Digital Signature",
          "X509v3 Extended Key Usage:",
          "TLS Web Server Authentication, TLS Web Client Authentication",
          "X509v3 Subject Alternative Name:",
          "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
          "X509v3 Subject Key Identifier:",
        ], keyType);
        // The key file holds the certificate's key.
        const certKey = await run("openssl", ["x509", "-noout", "-pubkey", "-in", certFile]);
        const fileKey = await run("openssl", ["pkey", "-pubout", "-in", keyFile]);
        assertEquals(fileKey.code, 0, fileKey.stderr);
        assertEquals(certKey.stdout, fileKey.stdout, `${keyType}: key does not match certificate`);
      }

      // A CA with a GeneralizedTime notAfter and a leaf it signs: openssl verifies the chain.
      const ca = await generateCertificate({
        isCA: true,
        commonName: "test CA",
        keyType: "rsa-2048",
        notAfter: new Date("2060-01-01T00:00:00Z"),
      });
      const leaf = await generateCertificate({ issuer: ca });
      await Deno.writeTextFile(`${dir}/ca.pem`, ca.certPem);
      await Deno.writeTextFile(`${dir}/leaf.pem`, leaf.certPem);
      const caText = await run("openssl", ["x509", "-noout", "-text", "-in", `${dir}/ca.pem`]);
      assertIncludes(caText.stdout, [
        "Subject: O = rpcplugin, CN = test CA",
        "CA:TRUE",
        "Digital Signature, Key Encipherment, Certificate Sign",
        "Not After : Jan  1 00:00:00 2060 GMT",
      ]);
      const verify = await run("openssl", [
        "verify",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/leaf.pem`,
      ]);
      assertEquals(verify.code, 0, verify.stdout + verify.stderr);
      assertIncludes(verify.stdout, [": OK"]);
    });
  },
});

Deno.test({
  name:
    "parseCertificatePem() names signature algorithms as openssl x509 -text does (certificates openssl made)",
  fn: async () => {
    requireOpenssl();
    await withTempDir(async (dir) => {
      const kinds: [string, string[]][] = [
        ["ed25519", ["-newkey", "ed25519"]],
        ["rsa-pss", ["-newkey", "rsa:2048", "-sigopt", "rsa_padding_mode:pss", "-sha256"]],
        ["rsa", ["-newkey", "rsa:2048", "-sha384"]],
        ["ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"]],
      ];
      for (const [name, args] of kinds) {
        const certFile = `${dir}/${name}.pem`;
        const made = await run("openssl", [
          "req",
          "-x509",
          ...args,
          "-nodes",
          "-keyout",
          `${dir}/${name}.key`,
          "-out",
          certFile,
          "-subj",
          "/CN=openssl",
          "-days",
          "1",
        ]);
        assertEquals(made.code, 0, made.stderr);
        const text = await run("openssl", ["x509", "-noout", "-text", "-in", certFile]);
        const printed = /Signature Algorithm: (\S+)/.exec(text.stdout)?.[1];
        const info = parseCertificatePem(await Deno.readTextFile(certFile));
        assertEquals(info.signatureAlgorithm, printed, name);
      }
    });
  },
});
