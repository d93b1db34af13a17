/**
 * The certificate factory (WebCrypto + pkijs): ECDSA P-256/P-384/P-521,
 * Ed25519 and RSA 2048/3072/4096 certificates, self-signed or signed by a CA you made,
 * with the subject, SANs, validity, key usages and CA flag you choose; and a
 * reader for PEM certificates. A separate entry point from the plugin server,
 * which makes its AutoMTLS certificate without loading pkijs.
 *
 * @example A CA, a server leaf for TLS you bring yourself, and a client leaf
 * ```ts
 * import { generateCertificate, parseCertificatePem } from "@rpcplugin/rpcplugin/tls";
 *
 * const ca = await generateCertificate({ isCA: true, commonName: "my plugin CA" });
 * const server = await generateCertificate({ issuer: ca, dnsNames: ["localhost"] });
 * const client = await generateCertificate({ issuer: ca, extKeyUsages: ["clientAuth"] });
 * console.assert(parseCertificatePem(server.certPem).issuer.includes("my plugin CA"));
 * // serve({ ..., tls: { certPem: server.certPem, keyPem: server.keyPem, clientCaPem: ca.certPem } })
 * ```
 *
 * @module
 */

export {
  CertificateError,
  certToHandshakeField,
  derToPem,
  generateCertificate,
  KEY_TYPES,
  parseCertificateDer,
  parseCertificatePem,
  pemToDer,
} from "./cert.ts";
export type {
  CertificateErrorKind,
  CertificateErrorOptions,
  CertificateInfo,
  CertificateOptions,
  ExtKeyUsage,
  GeneratedCertificate,
  KeyType,
  X509KeyUsage,
} from "./cert.ts";
