/**
 * The TLS 1.3 server's settings from a server's TLS settings: AutoMTLS's
 * parsed keys when it made them, else (a certificate installed as PEM) the
 * PEM parsed once.
 *
 * @module
 */

import type { ServerTls } from "../server/engine.ts";
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
  let keys = tls.autoMtls;
  if (!keys) {
    const ours = readHostCertificate(tls.certPem);
    const host = readHostCertificate(tls.clientCaPem);
    if (ours.keyType === "unknown") return null;
    const algorithm = signingKeyImport(ours.keyType);
    const privateKey = algorithm
      ? await crypto.subtle.importKey(
        "pkcs8",
        pemToDer(tls.keyPem, "PRIVATE KEY") as Uint8Array<ArrayBuffer>,
        algorithm,
        false,
        ["sign"],
      )
      : undefined; // RSA: signerFor imports the PKCS#8 itself
    keys = {
      privateKey: privateKey!,
      keyType: ours.keyType,
      certDer: ours.der,
      clientCertDer: host.der,
      clientSpki: host.spki,
    };
  }
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
