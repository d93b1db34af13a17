/**
 * Private: encoding the parts of a certificate (name, times, extensions,
 * serial, signature) for `generateCertificate()` in `cert.ts`.
 *
 * @module
 */

import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { createHash } from "node:crypto";
import type { ExtKeyUsage, X509KeyUsage } from "./cert.ts";
import { KEY_USAGE_BITS, OID } from "./_oids.ts";

/**
 * Builds a Name with O and CN as two separate single-valued RDNs, in that
 * order, leaving out empty values. (pkijs's own Name encoding would put both
 * attributes into one multi-valued RDN.)
 */
export function encodeName(
  organization: string,
  commonName: string,
): pkijs.RelativeDistinguishedNames {
  const rdns: asn1js.Set[] = [];
  for (const [oid, value] of [[OID.organization, organization], [OID.commonName, commonName]]) {
    if (typeof value !== "string") {
      throw new TypeError(`Cannot use ${JSON.stringify(value)} in the subject: pass a string`);
    }
    if (value === "") continue;
    const attribute = new asn1js.Sequence({
      value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Utf8String({ value })],
    });
    rdns.push(new asn1js.Set({ value: [attribute] }));
  }
  return pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: rdns }).toBER());
}

/**
 * A validity time: UTCTime for the years 1950 to 2049, GeneralizedTime
 * otherwise (RFC 5280 4.1.2.5). The date must already be in whole seconds.
 */
export function encodeTime(date: Date): pkijs.Time {
  const year = date.getUTCFullYear();
  const type = year >= 1950 && year < 2050
    ? pkijs.TimeType.UTCTime
    : pkijs.TimeType.GeneralizedTime;
  return new pkijs.Time({ type, value: date });
}

/** What goes into the extensions of a new certificate. */
export interface ExtensionValues {
  keyUsages: X509KeyUsage[];
  extKeyUsages: ExtKeyUsage[];
  isCA: boolean;
  subjectKeyId: Uint8Array;
  authorityKeyId: Uint8Array | undefined;
  dnsNames: string[];
  ipAddresses: Uint8Array[];
  /** RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty. */
  emptySubject: boolean;
}

/**
 * The extensions, in the order Go writes them: key usage, extended key usage,
 * basic constraints, subject and authority key identifiers, subject
 * alternative names. Empty lists leave their extension out.
 */
export function encodeExtensions(values: ExtensionValues): pkijs.Extension[] {
  const extensions: pkijs.Extension[] = [];
  if (values.keyUsages.length > 0) {
    extensions.push(extension(OID.keyUsage, true, encodeKeyUsage(values.keyUsages)));
  }
  if (values.extKeyUsages.length > 0) {
    const oids = values.extKeyUsages.map((usage) =>
      new asn1js.ObjectIdentifier({ value: OID[usage] })
    );
    extensions.push(extension(OID.extKeyUsage, false, new asn1js.Sequence({ value: oids })));
  }
  const caFlag = values.isCA ? [new asn1js.Boolean({ value: true })] : [];
  extensions.push(extension(OID.basicConstraints, true, new asn1js.Sequence({ value: caFlag })));
  extensions.push(
    extension(
      OID.subjectKeyIdentifier,
      false,
      new asn1js.OctetString({ valueHex: values.subjectKeyId }),
    ),
  );
  if (values.authorityKeyId !== undefined) {
    const keyId = contextPrimitive(0, values.authorityKeyId);
    extensions.push(
      extension(OID.authorityKeyIdentifier, false, new asn1js.Sequence({ value: [keyId] })),
    );
  }
  if (values.dnsNames.length > 0 || values.ipAddresses.length > 0) {
    const names = [
      ...values.dnsNames.map((name) => contextPrimitive(2, new TextEncoder().encode(name))),
      ...values.ipAddresses.map((ip) => contextPrimitive(7, ip)),
    ];
    extensions.push(
      extension(OID.subjectAltName, values.emptySubject, new asn1js.Sequence({ value: names })),
    );
  }
  return extensions;
}

function encodeKeyUsage(usages: X509KeyUsage[]): asn1js.BitString {
  const bits = usages.map((usage) => KEY_USAGE_BITS.indexOf(usage));
  const highest = Math.max(...bits);
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3] |= 0x80 >> (bit & 7);
  // DER: no trailing zero bits, so the unused bits are those after the highest bit set.
  return new asn1js.BitString({ valueHex: bytes, unusedBits: 7 - (highest & 7) });
}

function contextPrimitive(tag: number, bytes: Uint8Array): asn1js.Primitive {
  return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: tag }, valueHex: bytes });
}

function extension(extnID: string, critical: boolean, value: asn1js.BaseBlock): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER() });
}

/** The bytes of a DER INTEGER holding the unsigned big-endian `bytes`: minimal, positive. */
function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const value = bytes.subarray(start);
  if ((value[0] & 0x80) === 0) return value.slice();
  const padded = new Uint8Array(value.length + 1);
  padded.set(value, 1);
  return padded;
}

/** A random, non-zero, positive serial number of up to 127 bits. */
export function randomSerial(): asn1js.Integer {
  const bytes = new Uint8Array(16);
  do {
    crypto.getRandomValues(bytes);
    bytes[0] &= 0x7f;
  } while (bytes.every((b) => b === 0));
  return new asn1js.Integer({ valueHex: unsignedInteger(bytes) });
}

/** Key identifier: SHA-256 of the public key bits, cut to 160 bits (RFC 7093 method 1). */
export function keyIdentifier(info: pkijs.PublicKeyInfo): Uint8Array {
  const bits = info.subjectPublicKey.valueBlock.valueHexView;
  return new Uint8Array(createHash("sha256").update(bits).digest().subarray(0, 20));
}

/** Signature algorithm OID and hash per ECDSA curve: the hash matches the curve size. */
const ECDSA_SIGNATURES: Readonly<Record<string, { hash: string; oid: string }>> = {
  "P-256": { hash: "SHA-256", oid: OID.ecdsaWithSha256 },
  "P-384": { hash: "SHA-384", oid: OID.ecdsaWithSha384 },
  "P-521": { hash: "SHA-512", oid: OID.ecdsaWithSha512 },
};

/** Signature algorithm OID per hash bound to an RSASSA-PKCS1-v1_5 key. */
const RSA_SIGNATURES: Readonly<Record<string, string>> = {
  "SHA-256": OID.sha256WithRsa,
  "SHA-384": OID.sha384WithRsa,
  "SHA-512": OID.sha512WithRsa,
};

/**
 * Signs `certificate` with `key`, choosing the signature algorithm from the
 * key: ecdsa-with-SHA256/384/512 by curve, or sha256/384/512WithRSAEncryption
 * by the hash the RSA key is bound to.
 */
export async function signCertificate(
  certificate: pkijs.Certificate,
  key: CryptoKey,
): Promise<void> {
  const algorithm = key.algorithm;
  let oid: string;
  let params: EcdsaParams | Algorithm;
  if (algorithm.name === "ECDSA") {
    const curve = (algorithm as EcKeyAlgorithm).namedCurve;
    const choice = ECDSA_SIGNATURES[curve];
    if (choice === undefined) {
      throw new TypeError(
        `Cannot sign with an ECDSA key on curve "${curve}": use P-256, P-384 or P-521`,
      );
    }
    oid = choice.oid;
    params = { name: "ECDSA", hash: choice.hash };
  } else if (algorithm.name === "RSASSA-PKCS1-v1_5") {
    const hash = (algorithm as RsaHashedKeyAlgorithm).hash.name;
    const found = RSA_SIGNATURES[hash];
    if (found === undefined) {
      throw new TypeError(
        `Cannot sign with an RSA key bound to hash "${hash}": use SHA-256, SHA-384 or SHA-512`,
      );
    }
    oid = found;
    params = { name: "RSASSA-PKCS1-v1_5" };
  } else if (algorithm.name === "Ed25519") {
    oid = OID.ed25519;
    params = { name: "Ed25519" };
  } else {
    throw new TypeError(
      `Cannot sign a certificate with a "${algorithm.name}" key: use an ECDSA, Ed25519 or RSASSA-PKCS1-v1_5 key`,
    );
  }
  const ecdsa = params.name === "ECDSA";
  // RFC 4055: the RSA signature algorithms carry NULL parameters; RFC 5758
  // and RFC 8410: the ECDSA and Ed25519 ones carry none.
  const identifier = () =>
    new pkijs.AlgorithmIdentifier(
      params.name === "RSASSA-PKCS1-v1_5"
        ? { algorithmId: oid, algorithmParams: new asn1js.Null() }
        : { algorithmId: oid },
    );
  certificate.signature = identifier();
  certificate.signatureAlgorithm = identifier();
  const tbs = new Uint8Array(certificate.encodeTBS().toBER());
  certificate.tbsView = tbs;
  const signature = new Uint8Array(await crypto.subtle.sign(params, key, tbs));
  certificate.signatureValue = new asn1js.BitString({
    valueHex: ecdsa ? ecdsaRawToDer(signature) : signature,
  });
}

/** WebCrypto's ECDSA signature is r‖s; X.509 wants the DER of SEQUENCE { r, s }. */
function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const r = new asn1js.Integer({ valueHex: unsignedInteger(raw.subarray(0, half)) });
  const s = new asn1js.Integer({ valueHex: unsignedInteger(raw.subarray(half)) });
  return new Uint8Array(new asn1js.Sequence({ value: [r, s] }).toBER());
}
