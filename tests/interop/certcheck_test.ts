/**
 * Real-peer check of tls/cert.ts: Go's crypto/x509 and crypto/tls read the
 * generated certificates the way a go-plugin host does (tests/interop/certcheck).
 *
 * Run: deno test --allow-read --allow-write --allow-run=go,openssl,<tmp>/certcheck tests/interop/certcheck_test.ts
 * (or plain --allow-run). Skipped when `go` cannot be started.
 */

import { generateCertificate, KEY_TYPES, type KeyType } from "../../tls/cert.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import {
  assert,
  assertEquals,
  defaultCertificate,
  hasCommand,
  run,
  withTempDir,
} from "../tls/_util.ts";

const INTEROP_DIR = new URL(".", import.meta.url).pathname;

interface CertCheck {
  ok: boolean;
  keyAlgorithm?: string;
  bits?: number;
  curve?: string;
  signatureAlgorithm?: string;
  subject?: string;
  dnsNames: string[];
  ips: string[];
  isCA: boolean;
  notAfter?: string;
  serverAuthOk: boolean;
  clientAuthOk: boolean;
  clientAuthError?: string;
  selfSignatureOk?: boolean;
  keyPairOk?: boolean;
  error?: string;
}

async function buildCertcheck(dir: string): Promise<string> {
  const binary = `${dir}/certcheck`;
  const build = await run("go", ["build", "-o", binary, "./certcheck"], { cwd: INTEROP_DIR });
  assertEquals(build.code, 0, `go build failed:\n${build.stderr}`);
  return binary;
}

async function certcheck(binary: string, args: string[]): Promise<CertCheck> {
  const result = await run(binary, args);
  assert(result.stdout.trim() !== "", `certcheck printed nothing:\n${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as CertCheck;
  assertEquals(result.code, parsed.ok ? 0 : 1, "exit code does not match ok");
  return parsed;
}

const EXPECTED: Record<
  KeyType,
  { keyAlgorithm: string; bits: number; curve?: string; sig: string }
> = {
  "ecdsa-p256": { keyAlgorithm: "ECDSA", bits: 256, curve: "P-256", sig: "ECDSA-SHA256" },
  "ecdsa-p384": { keyAlgorithm: "ECDSA", bits: 384, curve: "P-384", sig: "ECDSA-SHA384" },
  "ecdsa-p521": { keyAlgorithm: "ECDSA", bits: 521, curve: "P-521", sig: "ECDSA-SHA512" },
  "ed25519": { keyAlgorithm: "Ed25519", bits: 256, sig: "Ed25519" },
  "rsa-2048": { keyAlgorithm: "RSA", bits: 2048, sig: "SHA256-RSA" },
  "rsa-3072": { keyAlgorithm: "RSA", bits: 3072, sig: "SHA256-RSA" },
  "rsa-4096": { keyAlgorithm: "RSA", bits: 4096, sig: "SHA256-RSA" },
};

Deno.test({
  name: "Go crypto/x509 accepts generated certificates as a go-plugin host would",
  fn: async (t) => {
    if (!hasCommand("go", ["version"])) {
      throw new Error(
        "`go version` cannot be run: install Go (the interop tests build their peers with it)",
      );
    }
    await withTempDir(async (dir) => {
      const binary = await buildCertcheck(dir);
      const write = async (name: string, text: string) => {
        const path = `${dir}/${name}`;
        await Deno.writeTextFile(path, text);
        return path;
      };

      for (const keyType of KEY_TYPES) {
        await t.step(`${keyType} with its key`, async () => {
          const cert = await defaultCertificate(keyType);
          const result = await certcheck(binary, [
            await write(`${keyType}.pem`, cert.certPem),
            await write(`${keyType}.key`, cert.keyPem),
          ]);
          assert(result.ok, `${keyType}: ${result.error}`);
          const expected = EXPECTED[keyType];
          assertEquals(
            [result.keyAlgorithm, result.bits, result.curve, result.signatureAlgorithm],
            [expected.keyAlgorithm, expected.bits, expected.curve, expected.sig],
          );
          assertEquals(result.subject, "CN=localhost,O=rpcplugin");
          assertEquals(result.dnsNames, ["localhost"]);
          assertEquals(result.ips, ["127.0.0.1", "::1"]);
          assertEquals(result.isCA, false);
          assertEquals([result.serverAuthOk, result.clientAuthOk], [true, true]);
          assertEquals([result.selfSignatureOk, result.keyPairOk], [true, true]);
        });
      }

      for (
        const keyType of ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519", "rsa-2048"] as const
      ) {
        await t.step(`AutoMTLS certificate (tls/autocert.ts, no pkijs), ${keyType}`, async () => {
          const cert = await makeAutoCertificate(keyType);
          const result = await certcheck(binary, [
            await write(`auto-${keyType}.pem`, cert.certPem),
            await write(`auto-${keyType}.key`, cert.keyPem),
          ]);
          assert(result.ok, `${keyType}: ${result.error}`);
          const expected = EXPECTED[keyType];
          assertEquals(
            [result.keyAlgorithm, result.bits, result.curve, result.signatureAlgorithm],
            [expected.keyAlgorithm, expected.bits, expected.curve, expected.sig],
          );
          assertEquals([result.subject, result.dnsNames, result.ips, result.isCA], [
            "CN=localhost,O=rpcplugin",
            ["localhost"],
            ["127.0.0.1", "::1"],
            false,
          ]);
          assertEquals([result.serverAuthOk, result.clientAuthOk], [true, true]);
          assertEquals([result.selfSignatureOk, result.keyPairOk], [true, true]);
        });
      }

      await t.step("notAfter in 2060 (GeneralizedTime), CA:TRUE like go-plugin's own", async () => {
        const cert = await generateCertificate({
          keyType: "ecdsa-p521",
          isCA: true,
          notAfter: new Date("2060-03-04T05:06:07.890Z"),
        });
        const result = await certcheck(binary, [
          await write("2060.pem", cert.certPem),
          await write("2060.key", cert.keyPem),
        ]);
        assert(result.ok, result.error);
        assertEquals(result.notAfter, "2060-03-04T05:06:07Z");
        assertEquals(result.isCA, true);
      });

      await t.step("a leaf signed by a generated CA verifies against that CA", async () => {
        const ca = await generateCertificate({
          isCA: true,
          commonName: "test CA",
          keyType: "rsa-2048",
        });
        const leaf = await generateCertificate({ issuer: ca });
        const result = await certcheck(binary, [
          "-roots",
          await write("ca.pem", ca.certPem),
          await write("leaf.pem", leaf.certPem),
          await write("leaf.key", leaf.keyPem),
        ]);
        assert(result.ok, result.error);
        assertEquals(result.signatureAlgorithm, "SHA256-RSA");
      });

      await t.step(
        "serverAuth-only certificate: the host accepts it, broker callbacks would not",
        async () => {
          const cert = await generateCertificate({ extKeyUsages: ["serverAuth"] });
          const result = await certcheck(binary, [await write("server-only.pem", cert.certPem)]);
          assert(result.ok, result.error);
          assertEquals(result.clientAuthOk, false);
        },
      );

      await t.step("the checker does reject: a certificate without localhost", async () => {
        const cert = await generateCertificate({ dnsNames: ["example.test"] });
        const result = await certcheck(binary, [await write("no-localhost.pem", cert.certPem)]);
        assertEquals(result.ok, false);
        assert(result.error?.includes("localhost"), result.error);
      });

      await t.step("the checker does reject: a key that is not the certificate's", async () => {
        const cert = await defaultCertificate("ecdsa-p256");
        const other = await generateCertificate();
        const result = await certcheck(binary, [
          await write("mismatch.pem", cert.certPem),
          await write("mismatch.key", other.keyPem),
        ]);
        assertEquals([result.ok, result.keyPairOk], [false, false]);
      });
    });
  },
});
