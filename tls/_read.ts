/**
 * Private: decoding a certificate's DER and describing it, for
 * `parseCertificatePem()` and `generateCertificate({ issuer })` in `cert.ts`.
 *
 * @module
 */

import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { createHash } from "node:crypto";
import type { CertificateInfo, KeyType } from "./cert.ts";
import { CertificateError } from "./errors.ts";
import { formatIpAddress } from "./_ip.ts";
import {
  CURVE_KEY_TYPES,
  EXT_KEY_USAGE_NAMES,
  KEY_USAGE_BITS,
  NAME_ATTRIBUTES,
  OID,
  SIGNATURE_NAMES,
} from "./_oids.ts";

function malformed(what: string, cause?: unknown): CertificateError {
  return new CertificateError(
    "malformed",
    `Cannot decode the certificate: ${what}; check that the input holds a whole X.509 certificate and export it again`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Decodes DER bytes into a pkijs certificate.
 *
 * @throws {CertificateError} `"malformed"` when the bytes are not exactly one
 * DER X.509 certificate.
 */
export function decodeCertificate(der: Uint8Array): pkijs.Certificate {
  if (!(der instanceof Uint8Array) || der.length === 0) {
    throw malformed("the DER input is empty or not a Uint8Array");
  }
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1) {
    throw malformed(`the bytes are not valid DER (${parsed.result.error})`);
  }
  if (parsed.offset !== der.length) {
    throw malformed(`${der.length - parsed.offset} bytes of trailing data follow the DER`);
  }
  try {
    return new pkijs.Certificate({ schema: parsed.result });
  } catch (error) {
    throw malformed("the DER does not have the structure of an X.509 certificate", error);
  }
}

/** The value of the subject key identifier extension, if the certificate has one. */
export function subjectKeyIdOf(certificate: pkijs.Certificate): Uint8Array | undefined {
  const found = certificate.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  if (found === undefined) return undefined;
  const parsed = asn1js.fromBER(found.extnValue.valueBlock.valueHexView);
  return parsed.result instanceof asn1js.OctetString
    ? parsed.result.valueBlock.valueHexView.slice()
    : undefined;
}

/**
 * What a decoded certificate says.
 *
 * @throws {CertificateError} `"malformed"` when an extension it reads cannot
 * be decoded.
 */
export function describeCertificate(
  certificate: pkijs.Certificate,
  der: Uint8Array,
): CertificateInfo {
  const signatureOid = certificate.signatureAlgorithm.algorithmId;
  const info: CertificateInfo = {
    keyType: keyTypeOf(certificate.subjectPublicKeyInfo),
    subject: formatName(certificate.subject),
    issuer: formatName(certificate.issuer),
    dnsNames: [],
    ipAddresses: [],
    notBefore: certificate.notBefore.value,
    notAfter: certificate.notAfter.value,
    isCA: false,
    extKeyUsages: [],
    keyUsages: [],
    serialNumber: toHex(stripZeros(certificate.serialNumber.valueBlock.valueHexView)),
    signatureAlgorithm: SIGNATURE_NAMES[signatureOid] ?? signatureOid,
    fingerprintSha256: createHash("sha256").update(der).digest("hex"),
    der: der.slice(),
  };
  for (const extension of certificate.extensions ?? []) {
    switch (extension.extnID) {
      case OID.subjectAltName:
        readAltNames(extensionValue(extension, asn1js.Sequence, "subject alternative name"), info);
        break;
      case OID.basicConstraints: {
        const first =
          extensionValue(extension, asn1js.Sequence, "basic constraints").valueBlock.value[0];
        info.isCA = first instanceof asn1js.Boolean && first.getValue();
        break;
      }
      case OID.extKeyUsage:
        for (
          const item of extensionValue(extension, asn1js.Sequence, "extended key usage").valueBlock
            .value
        ) {
          if (!(item instanceof asn1js.ObjectIdentifier)) {
            throw malformed("the extended key usage extension holds something other than an OID");
          }
          const oid = item.getValue();
          info.extKeyUsages.push(EXT_KEY_USAGE_NAMES[oid] ?? oid);
        }
        break;
      case OID.keyUsage: {
        const bytes =
          extensionValue(extension, asn1js.BitString, "key usage").valueBlock.valueHexView;
        KEY_USAGE_BITS.forEach((usage, bit) => {
          if ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) info.keyUsages.push(usage);
        });
        break;
      }
    }
  }
  return info;
}

function extensionValue<T extends asn1js.AsnType>(
  extension: pkijs.Extension,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => T,
  what: string,
): T {
  const parsed = asn1js.fromBER(extension.extnValue.valueBlock.valueHexView);
  if (parsed.offset === -1 || !(parsed.result instanceof type)) {
    throw malformed(`the ${what} extension cannot be decoded`);
  }
  return parsed.result;
}

function readAltNames(names: asn1js.Sequence, info: CertificateInfo): void {
  for (const name of names.valueBlock.value) {
    // GeneralName is a CHOICE of context-specific tags; dNSName [2] and
    // iPAddress [7] are primitive.
    if (name.idBlock.tagClass !== 3 || name.idBlock.isConstructed) continue;
    const bytes = (name as asn1js.Primitive).valueBlock.valueHexView;
    if (name.idBlock.tagNumber === 2) info.dnsNames.push(new TextDecoder().decode(bytes));
    else if (name.idBlock.tagNumber === 7) info.ipAddresses.push(formatIpAddress(bytes));
  }
}

function keyTypeOf(info: pkijs.PublicKeyInfo): KeyType | "unknown" {
  const algorithm = info.algorithm.algorithmId;
  if (algorithm === OID.ed25519) return "ed25519";
  if (algorithm === OID.ecPublicKey) {
    const curve = info.algorithm.algorithmParams;
    return curve instanceof asn1js.ObjectIdentifier
      ? CURVE_KEY_TYPES[curve.getValue()] ?? "unknown"
      : "unknown";
  }
  if (algorithm === OID.rsaEncryption) {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    const parsed = asn1js.fromBER(info.subjectPublicKey.valueBlock.valueHexView);
    const modulus = parsed.result instanceof asn1js.Sequence
      ? parsed.result.valueBlock.value[0]
      : undefined;
    if (!(modulus instanceof asn1js.Integer)) return "unknown";
    const bytes = stripZeros(modulus.valueBlock.valueHexView);
    const bits = bytes.length * 8 - (Math.clz32(bytes[0]) - 24);
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
  }
  return "unknown";
}

/** RFC 4514: last RDN first, `,` between RDNs, `+` inside a multi-valued one. */
function formatName(name: pkijs.RelativeDistinguishedNames): string {
  const parsed = asn1js.fromBER(name.valueBeforeDecode);
  if (!(parsed.result instanceof asn1js.Sequence)) return "";
  const rdns: string[] = [];
  for (const rdn of parsed.result.valueBlock.value) {
    if (!(rdn instanceof asn1js.Set)) continue;
    const attributes: string[] = [];
    for (const attribute of rdn.valueBlock.value) {
      if (!(attribute instanceof asn1js.Sequence)) continue;
      const [type, value] = attribute.valueBlock.value;
      if (!(type instanceof asn1js.ObjectIdentifier) || value === undefined) continue;
      const oid = type.getValue();
      const text = value instanceof asn1js.BaseStringBlock
        ? escapeNameValue(value.getValue())
        : `#${toHex(new Uint8Array(value.toBER()))}`;
      attributes.push(`${NAME_ATTRIBUTES[oid] ?? oid}=${text}`);
    }
    rdns.push(attributes.join("+"));
  }
  return rdns.reverse().join(",");
}

function escapeNameValue(value: string): string {
  let escaped = value.replace(/[\\"+,;<>]/g, (c) => `\\${c}`).replaceAll("\0", "\\00");
  if (escaped.startsWith("#") || escaped.startsWith(" ")) escaped = `\\${escaped}`;
  if (escaped.endsWith(" ")) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}

function stripZeros(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether `certificate` carries an Ed25519 signature that the Ed25519 key in
 * `issuerKey` verifies, checked with WebCrypto (pkijs 4 verifies no Ed25519).
 */
export async function ed25519SignedBy(
  certificate: pkijs.Certificate,
  issuerKey: pkijs.PublicKeyInfo,
): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "spki",
    issuerKey.toSchema().toBER(),
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  return await crypto.subtle.verify(
    "Ed25519",
    key,
    certificate.signatureValue.valueBlock.valueHexView.slice(),
    certificate.tbsView.slice(),
  );
}
