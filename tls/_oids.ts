/**
 * Private: the X.509 object identifiers and bit names used by `cert.ts`, each
 * spelled out once.
 *
 * @module
 */

import type { KeyType, X509KeyUsage } from "./cert.ts";

/** Object identifiers by name. */
export const OID = {
  // Public key algorithms and curves.
  ecPublicKey: "1.2.840.10045.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  p521: "1.3.132.0.35",
  // Signature algorithms.
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecdsaWithSha512: "1.2.840.10045.4.3.4",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  sha384WithRsa: "1.2.840.113549.1.1.12",
  sha512WithRsa: "1.2.840.113549.1.1.13",
  rsassaPss: "1.2.840.113549.1.1.10",
  ed25519: "1.3.101.112",
  // Name attributes.
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  country: "2.5.4.6",
  locality: "2.5.4.7",
  stateOrProvince: "2.5.4.8",
  street: "2.5.4.9",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  userId: "0.9.2342.19200300.100.1.1",
  domainComponent: "0.9.2342.19200300.100.1.25",
  // Extensions.
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  // Extended key usages.
  anyExtendedKeyUsage: "2.5.29.37.0",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
} as const;

/** Key type of an ECDSA public key by its named-curve OID. */
export const CURVE_KEY_TYPES: Readonly<Record<string, KeyType>> = {
  [OID.p256]: "ecdsa-p256",
  [OID.p384]: "ecdsa-p384",
  [OID.p521]: "ecdsa-p521",
};

/**
 * Names of signature algorithms, as `openssl x509 -text` prints them (its long
 * names: `ED25519` and `rsassaPss` included, whatever their case).
 */
export const SIGNATURE_NAMES: Readonly<Record<string, string>> = {
  [OID.ecdsaWithSha256]: "ecdsa-with-SHA256",
  [OID.ecdsaWithSha384]: "ecdsa-with-SHA384",
  [OID.ecdsaWithSha512]: "ecdsa-with-SHA512",
  [OID.sha256WithRsa]: "sha256WithRSAEncryption",
  [OID.sha384WithRsa]: "sha384WithRSAEncryption",
  [OID.sha512WithRsa]: "sha512WithRSAEncryption",
  [OID.rsassaPss]: "rsassaPss",
  [OID.ed25519]: "ED25519",
};

/** Names of extended key usages, as Go's and RFC 5280's identifiers. */
export const EXT_KEY_USAGE_NAMES: Readonly<Record<string, string>> = {
  [OID.anyExtendedKeyUsage]: "any",
  [OID.serverAuth]: "serverAuth",
  [OID.clientAuth]: "clientAuth",
  [OID.codeSigning]: "codeSigning",
  [OID.emailProtection]: "emailProtection",
  [OID.timeStamping]: "timeStamping",
  [OID.ocspSigning]: "OCSPSigning",
};

/** RFC 4514 short names of name attribute types. */
export const NAME_ATTRIBUTES: Readonly<Record<string, string>> = {
  [OID.commonName]: "CN",
  [OID.serialNumber]: "SERIALNUMBER",
  [OID.country]: "C",
  [OID.locality]: "L",
  [OID.stateOrProvince]: "ST",
  [OID.street]: "STREET",
  [OID.organization]: "O",
  [OID.organizationalUnit]: "OU",
  [OID.userId]: "UID",
  [OID.domainComponent]: "DC",
};

/** Key usage bits in RFC 5280 order: the index is the bit number. */
export const KEY_USAGE_BITS: readonly X509KeyUsage[] = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];
