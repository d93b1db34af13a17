/**
 * The TLS 1.3 server's settings from a server's TLS settings: AutoMTLS's
 * parsed keys when it made them, else (a certificate installed as PEM) the
 * PEM parsed once.
 *
 * @module
 */

import type { AutoMtlsKeys, ServerTls } from "../server/engine.ts";
import { readHostCertificate } from "../tls/autocert.ts";
import { pemToDer } from "../tls/pem.ts";
import type { Tls13Config } from "./server.ts";
import { signerFor, signingKeyImport, verifierFor } from "./signatures.ts";

/**
 * Our TLS 1.3 server's settings for `tls`, or null when it cannot serve
 * them (no required client certificate, or one whose key we cannot verify):
 * then `node:tls` serves every connection.
 *
 * @param tls The server's TLS settings.
 * @returns The settings, or null.
 */
export async function tls13ConfigOf(tls: ServerTls): Promise<Tls13Config | null> {
  if (!tls.requireClientCert || !tls.clientCaPem) return null;
  const keys = tls.autoMtls ?? await keysOfPem(tls.certPem, tls.keyPem, tls.clientCaPem);
  if (!keys) return null;
  const verifier = verifierFor(keys.clientSpki);
  if (!verifier.schemes.length) return null;
  const pkcs8 = signingKeyImport(keys.keyType) ? undefined : pemToDer(tls.keyPem, "PRIVATE KEY");
  return {
    certDer: keys.certDer,
    signer: await signerFor(keys.keyType, keys.privateKey, pkcs8),
    clientCertDer: keys.clientCertDer,
    verifier,
  };
}

/**
 * {@linkcode AutoMtlsKeys} read from PEM, or null for a key type we cannot
 * sign with. `privateKey` is absent for RSA: {@linkcode signerFor} imports
 * its PKCS#8 itself, as RSA-PSS.
 */
async function keysOfPem(
  certPem: string,
  keyPem: string,
  clientCaPem: string,
): Promise<(Omit<AutoMtlsKeys, "privateKey"> & { privateKey?: CryptoKey }) | null> {
  const ours = readHostCertificate(certPem);
  const host = readHostCertificate(clientCaPem);
  if (ours.keyType === "unknown") return null;
  const algorithm = signingKeyImport(ours.keyType);
  const privateKey = algorithm
    ? await crypto.subtle.importKey(
      "pkcs8",
      pemToDer(keyPem, "PRIVATE KEY") as Uint8Array<ArrayBuffer>,
      algorithm,
      false,
      ["sign"],
    )
    : undefined;
  return {
    privateKey,
    keyType: ours.keyType,
    certDer: ours.der,
    clientCertDer: host.der,
    clientSpki: host.spki,
  };
}
