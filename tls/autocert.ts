/**
 * The AutoMTLS certificate, made and checked without pkijs (which costs
 * 20-25 ms of start-up to load): a self-signed leaf for `localhost`,
 * `127.0.0.1` and `::1`, EKU serverAuth + clientAuth, and a reader for the
 * host's certificate. The general factory is `tls/cert.ts`.
 *
 * @module
 */

import {
  bits,
  children,
  ecdsaSignatureDer,
  oid,
  readOid,
  readTime,
  readTlv,
  seq,
  TAG,
  time,
  type Tlv,
  tlv,
  uint,
  utf8,
} from "./_der.ts";
import { CURVE_KEY_TYPES, OID } from "./_oids.ts";
import { freshKeyPair } from "./ec_key.ts";
import type { KeyType } from "./cert.ts";
import { CertificateError } from "./errors.ts";
import { derToPem, pemToDer } from "./pem.ts";

/** A certificate with its key, as PEM, and its DER. */
export interface AutoCertificate {
  /** The certificate, PEM. */
  certPem: string;
  /** The PKCS#8 private key, PEM. */
  keyPem: string;
  /** The certificate, DER (for handshake field 6). */
  certDer: Uint8Array;
  /** The private key, for a TLS server that signs with WebCrypto (tls13/). */
  privateKey: CryptoKey;
}

interface Algorithm {
  gen: EcKeyGenParams | RsaHashedKeyGenParams | { name: string };
  sign: EcdsaParams | AlgorithmIdentifier;
  sigOid: string;
  rsa: boolean;
  /** WebCrypto's ECDSA signature is r||s; X.509 carries it as DER. */
  ecdsa: boolean;
}

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

function algorithmOf(keyType: KeyType): Algorithm {
  switch (keyType) {
    case "ecdsa-p256":
      return ec("P-256", "SHA-256", OID.ecdsaWithSha256);
    case "ecdsa-p384":
      return ec("P-384", "SHA-384", OID.ecdsaWithSha384);
    case "ecdsa-p521":
      return ec("P-521", "SHA-512", OID.ecdsaWithSha512);
    case "ed25519":
      // RFC 8410: the SPKI and the signature algorithm are id-Ed25519, without parameters.
      return {
        gen: { name: "Ed25519" },
        sign: { name: "Ed25519" },
        sigOid: OID.ed25519,
        rsa: false,
        ecdsa: false,
      };
    default: {
      const modulusLength = Number(keyType.slice(4));
      return {
        gen: {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength,
          publicExponent: RSA_EXPONENT,
          hash: "SHA-256",
        },
        sign: { name: "RSASSA-PKCS1-v1_5" },
        sigOid: OID.sha256WithRsa,
        rsa: true,
        ecdsa: false,
      };
    }
  }
}

function ec(namedCurve: string, hash: string, sigOid: string): Algorithm {
  return {
    gen: { name: "ECDSA", namedCurve },
    sign: { name: "ECDSA", hash },
    sigOid,
    rsa: false,
    ecdsa: true,
  };
}

const extension = (id: string, critical: boolean, value: Uint8Array) =>
  seq(
    oid(id),
    ...(critical ? [tlv(TAG.boolean, new Uint8Array([0xff]))] : []),
    tlv(TAG.octetString, value),
  );

/**
 * Makes the plugin's AutoMTLS certificate: self-signed, CA:FALSE, valid from
 * 30 s ago for 30 years (as go-plugin's), O=rpcplugin CN=localhost.
 *
 * @param keyType Key algorithm.
 * @param now The current time.
 * @returns Certificate and key.
 */
export async function makeAutoCertificate(
  keyType: KeyType,
  now: Date = new Date(),
): Promise<AutoCertificate> {
  const alg = algorithmOf(keyType);
  // P-256 and P-384 keys are imported, not generated: Deno's generateKey costs a one-time
  // 35-50 ms of CPU for them (tls/ec_key.ts).
  const { keys, pkcs8 } = await freshKeyPair(keyType, alg.gen);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const sigAlg = alg.rsa ? seq(oid(alg.sigOid), tlv(TAG.null)) : seq(oid(alg.sigOid));
  const name = seq(
    tlv(TAG.set, seq(oid(OID.organization), utf8("rpcplugin"))),
    tlv(TAG.set, seq(oid(OID.commonName), utf8("localhost"))),
  );
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const notBefore = new Date(now.getTime() - 30_000);
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + 30);
  // digitalSignature (bit 0), plus keyEncipherment (bit 2) for RSA.
  const keyUsage = alg.rsa
    ? tlv(TAG.bitString, new Uint8Array([5, 0xa0]))
    : tlv(TAG.bitString, new Uint8Array([7, 0x80]));
  const san = seq(
    tlv(0x82, new TextEncoder().encode("localhost")),
    tlv(0x87, new Uint8Array([127, 0, 0, 1])),
    tlv(0x87, new Uint8Array([...new Uint8Array(15), 1])),
  );
  const tbs = seq(
    tlv(0xa0, uint(new Uint8Array([2]))),
    uint(serial),
    sigAlg,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    tlv(
      0xa3,
      seq(
        extension(OID.keyUsage, true, keyUsage),
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
        extension(OID.basicConstraints, true, seq()),
        extension(OID.subjectAltName, false, san),
      ),
    ),
  );
  const raw = new Uint8Array(await crypto.subtle.sign(alg.sign, keys.privateKey, tbs));
  const certDer = seq(tbs, sigAlg, bits(alg.ecdsa ? ecdsaSignatureDer(raw) : raw));
  return {
    certPem: derToPem(certDer, "CERTIFICATE"),
    keyPem: derToPem(pkcs8, "PRIVATE KEY"),
    certDer,
    privateKey: keys.privateKey,
  };
}

/** The first CN of a Name (SEQUENCE OF SET OF {type, value}), or `""`. */
function commonNameOf(der: Uint8Array, name: Tlv): string {
  for (const rdn of children(der, name)) {
    for (const attr of children(der, rdn)) {
      const [type, value] = children(der, attr);
      if (value && readOid(der, type) === OID.commonName) {
        return new TextDecoder().decode(der.subarray(value.start, value.end));
      }
    }
  }
  return "";
}

/** What {@linkcode readHostCertificate} reads. */
export interface HostCertificate {
  /** Key type, or `"unknown"`. */
  keyType: KeyType | "unknown";
  /** The subject's common name (CN), or `""` when it has none. */
  commonName: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** The certificate, DER. */
  der: Uint8Array;
  /** Its SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
}

/**
 * Reads the host's certificate (`PLUGIN_CLIENT_CERT`): enough to check it
 * is an X.509 certificate, its validity, its key type and its subject's CN.
 *
 * @param pem The PEM text.
 * @returns Key type, subject CN and validity.
 * @throws {CertificateError} When it is not a PEM certificate, or is malformed.
 */
export function readHostCertificate(pem: string): HostCertificate {
  const der = pemToDer(pem, "CERTIFICATE");
  try {
    const cert = readTlv(der, 0);
    const [tbsEl] = children(der, cert);
    const tbs = children(der, tbsEl);
    const fields = tbs[0].tag === 0xa0 ? tbs.slice(1) : tbs; // serial, sigAlg, issuer, validity, subject, spki
    const [notBeforeEl, notAfterEl] = children(der, fields[3]);
    const [algId] = children(der, fields[5]);
    const [algOid, params] = children(der, algId);
    const alg = readOid(der, algOid);
    let keyType: KeyType | "unknown" = "unknown";
    if (alg === OID.ecPublicKey && params?.tag === TAG.oid) {
      keyType = CURVE_KEY_TYPES[readOid(der, params)] ?? "unknown";
    } else if (alg === OID.ed25519) {
      keyType = "ed25519";
    } else if (alg === OID.rsaEncryption) {
      const [, key] = children(der, fields[5]);
      const [modulus] = children(der, readTlv(der, key.start + 1, key.end));
      const bitsLen = (modulus.end - modulus.start - (der[modulus.start] === 0 ? 1 : 0)) * 8;
      keyType = bitsLen === 2048 || bitsLen === 3072 || bitsLen === 4096
        ? `rsa-${bitsLen}` as KeyType
        : "unknown";
    }
    return {
      keyType,
      commonName: commonNameOf(der, fields[4]),
      notBefore: readTime(der, notBeforeEl),
      notAfter: readTime(der, notAfterEl),
      der,
      // The SPKI element runs from the end of the subject to its own end.
      spki: der.subarray(fields[4].end, fields[5].end),
    };
  } catch (cause) {
    throw new CertificateError(
      "malformed",
      `The certificate's DER is not a valid X.509 certificate (${
        (cause as Error).message
      }): pass a PEM certificate`,
      { cause },
    );
  }
}
