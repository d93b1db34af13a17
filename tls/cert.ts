/**
 * X.509 certificates for go-plugin's AutoMTLS, made with WebCrypto and pkijs.
 *
 * {@linkcode generateCertificate} makes a key pair and a certificate that a
 * go-plugin host accepts for the plugin's TLS server (valid for `localhost`,
 * with the serverAuth and clientAuth extended key usages).
 * {@linkcode parseCertificatePem} reads a certificate, such as the host's from
 * `PLUGIN_CLIENT_CERT`, and {@linkcode certToHandshakeField} encodes the
 * plugin's certificate for the handshake line.
 *
 * This module loads `npm:pkijs` when imported; import it lazily (with
 * `await import()`) where AutoMTLS is optional. The PEM helpers in `pem.ts`
 * and the error class in `errors.ts` do not load it.
 *
 * @example Making the plugin's certificate and its handshake field
 * ```ts
 * import { certToHandshakeField, generateCertificate } from "./cert.ts";
 *
 * const cert = await generateCertificate();
 * const field6 = certToHandshakeField(cert.certDer);
 * // Serve TLS with cert.certPem and cert.keyPem; print field6 in the handshake.
 * ```
 *
 * @module
 */

import * as pkijs from "pkijs";
import { derToPem, pemToDer } from "./pem.ts";
import { parseIpAddress } from "./_ip.ts";
import { KEY_USAGE_BITS, OID } from "./_oids.ts";
import { freshKeyPair } from "./ec_key.ts";
import {
  decodeCertificate,
  describeCertificate,
  ed25519SignedBy,
  subjectKeyIdOf,
} from "./_read.ts";
import {
  encodeExtensions,
  encodeName,
  encodeTime,
  keyIdentifier,
  randomSerial,
  signCertificate,
} from "./_write.ts";

export {
  CertificateError,
  type CertificateErrorKind,
  type CertificateErrorOptions,
} from "./errors.ts";
export { certToHandshakeField, derToPem, pemToDer } from "./pem.ts";

/**
 * Key algorithms of certificates: of the one AutoMTLS makes (`serve()`'s
 * `autoMtlsKeyType`: by default Ed25519 under a go-plugin-style P-521 host
 * certificate, else P-256), and of those
 * `generateCertificate()` of `@rpcplugin/rpcplugin/tls` makes.
 *
 * @example
 * ```ts
 * import type { KeyType } from "@rpcplugin/rpcplugin";
 * const autoMtlsKeyType: KeyType = "ecdsa-p384";
 * ```
 */
export type KeyType =
  | "ecdsa-p256"
  | "ecdsa-p384"
  | "ecdsa-p521"
  | "ed25519"
  | "rsa-2048"
  | "rsa-3072"
  | "rsa-4096";

/**
 * Every {@linkcode KeyType}, in the order of the type.
 *
 * @example Making one certificate of each key type
 * ```ts
 * import { generateCertificate, KEY_TYPES } from "./cert.ts";
 *
 * // RSA keys take up to seconds to make; the ECDSA ones milliseconds.
 * for (const keyType of KEY_TYPES.filter((k) => k.startsWith("ecdsa"))) {
 *   await generateCertificate({ keyType });
 * }
 * ```
 */
export const KEY_TYPES: readonly KeyType[] = Object.freeze([
  "ecdsa-p256",
  "ecdsa-p384",
  "ecdsa-p521",
  "ed25519",
  "rsa-2048",
  "rsa-3072",
  "rsa-4096",
]);

/**
 * A bit of the X.509 key usage extension (RFC 5280 section 4.2.1.3).
 *
 * Named `X509KeyUsage` because WebCrypto already has a global `KeyUsage` type.
 */
export type X509KeyUsage =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly";

/** An extended key usage that {@linkcode generateCertificate} can set. */
export type ExtKeyUsage = "serverAuth" | "clientAuth";

/** Options for {@linkcode generateCertificate}. */
export interface CertificateOptions {
  /**
   * The key algorithm. ECDSA P-256 is the quickest to make and to use.
   *
   * @default {"ecdsa-p256"}
   */
  keyType?: KeyType;
  /**
   * The subject's common name (CN). Go ignores it for host name checks; the
   * DNS names in {@linkcode dnsNames} count. An empty string leaves CN out.
   *
   * @default {"localhost"}
   */
  commonName?: string;
  /**
   * The subject's organization (O), written as its own RDN before CN. An
   * empty string leaves O out.
   *
   * @default {"rpcplugin"}
   */
  organization?: string;
  /**
   * DNS names for the subject alternative name extension. go-plugin hosts
   * verify the name `localhost`, so keep it in the list.
   *
   * @default {["localhost"]}
   */
  dnsNames?: string[];
  /**
   * IPv4 or IPv6 addresses for the subject alternative name extension.
   *
   * @default {["127.0.0.1", "::1"]}
   */
  ipAddresses?: string[];
  /**
   * Start of validity, rounded down to a whole second. The default is
   * backdated for clock skew.
   *
   * @default {30 seconds before now}
   */
  notBefore?: Date;
  /**
   * End of validity, rounded down to a whole second. Dates from 2050 on are
   * written as GeneralizedTime, as RFC 5280 requires.
   *
   * @default {262 980 hours (about 30 years) after now, like go-plugin}
   */
  notAfter?: Date;
  /**
   * Whether the certificate is a CA (basic constraints `CA:TRUE`), which it
   * must be to act as {@linkcode issuer} for other certificates.
   *
   * @default {false}
   */
  isCA?: boolean;
  /**
   * Key usage bits. An empty array leaves the extension out.
   *
   * @default {["digitalSignature"], plus "keyEncipherment" for RSA keys and "keyCertSign" for a CA}
   */
  keyUsages?: X509KeyUsage[];
  /**
   * Extended key usages. A go-plugin host needs serverAuth on the plugin's
   * certificate; clientAuth lets the same certificate dial broker callbacks.
   * An empty array leaves the extension out, which Go also accepts.
   *
   * @default {["serverAuth", "clientAuth"]}
   */
  extKeyUsages?: ExtKeyUsage[];
  /**
   * A CA certificate (made with `isCA: true`) that signs the new certificate.
   * Without it the certificate is self-signed.
   */
  issuer?: GeneratedCertificate;
}

/** A certificate made by {@linkcode generateCertificate}, with its key. */
export interface GeneratedCertificate {
  /** The certificate as PEM (`CERTIFICATE`). */
  certPem: string;
  /** The private key as unencrypted PKCS#8 PEM (`PRIVATE KEY`). Keep it secret. */
  keyPem: string;
  /** The certificate's DER bytes. */
  certDer: Uint8Array;
  /** The key algorithm of the certificate's key. */
  keyType: KeyType;
  /** The private key as an extractable WebCrypto key, usable for signing. */
  privateKey: CryptoKey;
}

/** What {@linkcode parseCertificatePem} reads from a certificate. */
export interface CertificateInfo {
  /** The public key's algorithm, or `"unknown"` for any other key (Ed448, RSA-1024, …). */
  keyType: KeyType | "unknown";
  /** The subject as an RFC 4514 string, last RDN first, e.g. `CN=localhost,O=rpcplugin`. */
  subject: string;
  /** The issuer as an RFC 4514 string, like {@linkcode subject}. */
  issuer: string;
  /** DNS names from the subject alternative name extension. */
  dnsNames: string[];
  /** IP addresses from the subject alternative name extension (`::1` style for IPv6). */
  ipAddresses: string[];
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** Whether basic constraints say `CA:TRUE`. */
  isCA: boolean;
  /** Extended key usages by name (`serverAuth`, `clientAuth`, …) or as a dotted OID. */
  extKeyUsages: string[];
  /** Key usage bits set; empty when the extension is absent. */
  keyUsages: X509KeyUsage[];
  /** The serial number as lowercase hex, without leading zero bytes. */
  serialNumber: string;
  /**
   * The signature algorithm by the name `openssl x509 -text` prints (`ecdsa-with-SHA256`,
   * `sha256WithRSAEncryption`, `ED25519`, `rsassaPss`), or as a dotted OID.
   */
  signatureAlgorithm: string;
  /** SHA-256 of the DER as lowercase hex without colons. */
  fingerprintSha256: string;
  /** The certificate's DER bytes (a copy). */
  der: Uint8Array;
}

interface KeySpec {
  readonly generate: EcKeyGenParams | RsaHashedKeyGenParams | Algorithm;
  readonly rsa: boolean;
}

function rsaSpec(modulusLength: number): KeySpec {
  const publicExponent = new Uint8Array([1, 0, 1]);
  return {
    generate: { name: "RSASSA-PKCS1-v1_5", modulusLength, publicExponent, hash: "SHA-256" },
    rsa: true,
  };
}

const KEY_SPECS: Readonly<Record<KeyType, KeySpec>> = {
  "ecdsa-p256": { generate: { name: "ECDSA", namedCurve: "P-256" }, rsa: false },
  "ecdsa-p384": { generate: { name: "ECDSA", namedCurve: "P-384" }, rsa: false },
  "ecdsa-p521": { generate: { name: "ECDSA", namedCurve: "P-521" }, rsa: false },
  "ed25519": { generate: { name: "Ed25519" }, rsa: false },
  "rsa-2048": rsaSpec(2048),
  "rsa-3072": rsaSpec(3072),
  "rsa-4096": rsaSpec(4096),
};

/** go-plugin's lifetime: 262 980 hours, about 30 years. */
const DEFAULT_LIFETIME_MS = 262_980 * 60 * 60 * 1000;
/** Backdating of the default notBefore, for clock skew. */
const DEFAULT_BACKDATE_MS = 30 * 1000;

// The pkijs engine is made on first use, bound to WebCrypto explicitly, and
// passed to the pkijs calls that need one: nothing here relies on or changes
// pkijs's global engine.
let cryptoEngine: pkijs.CryptoEngine | undefined;
function webCryptoEngine(): pkijs.CryptoEngine {
  return cryptoEngine ??= new pkijs.CryptoEngine({ name: "webcrypto", crypto: globalThis.crypto });
}

// ---------------------------------------------------------------------------
// Generating.

/**
 * Makes a new key pair and an X.509 v3 certificate for it.
 *
 * By default the certificate is self-signed, ECDSA P-256, valid for
 * `localhost`, `127.0.0.1` and `::1`, from 30 seconds ago for about 30 years,
 * with the serverAuth and clientAuth extended key usages: what a go-plugin
 * host expects of a plugin under AutoMTLS. The serial number is a random
 * positive integer of up to 127 bits. ECDSA keys sign with the hash that
 * matches their curve (SHA-256, SHA-384, SHA-512); Ed25519 keys sign with
 * Ed25519 (RFC 8410); RSA keys sign with sha256WithRSAEncryption.
 *
 * Needs no permissions.
 *
 * @example A plugin's certificate for AutoMTLS
 * ```ts
 * import { generateCertificate } from "./cert.ts";
 *
 * const { certPem, keyPem } = await generateCertificate();
 * console.log(certPem.startsWith("-----BEGIN CERTIFICATE-----")); // true
 * console.log(keyPem.startsWith("-----BEGIN PRIVATE KEY-----")); // true
 * ```
 *
 * @example A CA and a leaf it signs
 * ```ts
 * import { generateCertificate } from "./cert.ts";
 *
 * const ca = await generateCertificate({ isCA: true, commonName: "test CA" });
 * const leaf = await generateCertificate({ keyType: "rsa-2048", issuer: ca });
 * ```
 *
 * @param options What to put in the certificate; every field has a default.
 * @returns The certificate and its private key, as PEM, DER and a `CryptoKey`.
 * @throws {TypeError} When an option has the wrong type or value: an unknown
 * key type, key usage or extended key usage, a DNS name that is not ASCII, an
 * IP address that does not parse, or an issuer that is not a CA or whose key
 * does not match its certificate.
 * @throws {RangeError} When a date is invalid, outside the years 0–9999, or
 * `notAfter` is not after `notBefore`.
 */
export async function generateCertificate(
  options: CertificateOptions = {},
): Promise<GeneratedCertificate> {
  const keyType = options.keyType ?? "ecdsa-p256";
  const spec = Object.hasOwn(KEY_SPECS, keyType) ? KEY_SPECS[keyType] : undefined;
  if (spec === undefined) {
    throw new TypeError(
      `Cannot make a key of type "${keyType}": use one of ${
        KEY_TYPES.map((k) => `"${k}"`).join(", ")
      }`,
    );
  }
  const isCA = options.isCA ?? false;
  const subject = encodeName(
    options.organization ?? "rpcplugin",
    options.commonName ?? "localhost",
  );
  const dnsNames = checkDnsNames(options.dnsNames ?? ["localhost"]);
  const ipAddresses = checkIpAddresses(options.ipAddresses ?? ["127.0.0.1", "::1"]);
  const now = Date.now();
  const notBefore = checkDate(
    "notBefore",
    options.notBefore ?? new Date(now - DEFAULT_BACKDATE_MS),
  );
  const notAfter = checkDate("notAfter", options.notAfter ?? new Date(now + DEFAULT_LIFETIME_MS));
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new RangeError(
      `Cannot make a certificate whose notAfter (${notAfter.toISOString()}) is not after its notBefore (${notBefore.toISOString()}): pass a later notAfter`,
    );
  }
  const keyUsages = checkKeyUsages(options.keyUsages ?? defaultKeyUsages(spec.rsa, isCA));
  const extKeyUsages = checkExtKeyUsages(options.extKeyUsages ?? ["serverAuth", "clientAuth"]);
  const issuer = options.issuer === undefined ? undefined : readIssuer(options.issuer);

  // P-256 and P-384 keys are imported, not generated (tls/ec_key.ts: 35-50 ms less).
  const { keys, pkcs8: keyDer } = await freshKeyPair(keyType, spec.generate);
  const publicKeyInfo = pkijs.PublicKeyInfo.fromBER(
    await crypto.subtle.exportKey("spki", keys.publicKey),
  );
  const certificate = new pkijs.Certificate({
    version: 2, // v3
    serialNumber: randomSerial(),
    issuer: issuer?.name ?? subject,
    subject,
    notBefore: encodeTime(notBefore),
    notAfter: encodeTime(notAfter),
    subjectPublicKeyInfo: publicKeyInfo,
    extensions: encodeExtensions({
      keyUsages,
      extKeyUsages,
      isCA,
      subjectKeyId: keyIdentifier(publicKeyInfo),
      authorityKeyId: issuer?.keyId,
      dnsNames,
      ipAddresses,
      emptySubject: subject.typesAndValues.length === 0,
    }),
  });
  await signCertificate(certificate, issuer?.privateKey ?? keys.privateKey);
  if (issuer !== undefined && !(await signedBy(certificate, issuer.certificate))) {
    throw new TypeError(
      "Cannot sign with the issuer: its privateKey does not belong to its certificate; pass the GeneratedCertificate returned for the CA unchanged",
    );
  }

  const certDer = new Uint8Array(certificate.toSchema().toBER());
  return {
    certPem: derToPem(certDer, "CERTIFICATE"),
    keyPem: derToPem(keyDer, "PRIVATE KEY"),
    certDer,
    keyType,
    privateKey: keys.privateKey,
  };
}

function defaultKeyUsages(rsa: boolean, isCA: boolean): X509KeyUsage[] {
  const usages: X509KeyUsage[] = ["digitalSignature"];
  if (rsa) usages.push("keyEncipherment");
  if (isCA) usages.push("keyCertSign");
  return usages;
}

function checkList(name: string, value: unknown): void {
  if (!Array.isArray(value)) {
    throw new TypeError(`Cannot use ${name} ${JSON.stringify(value)}: pass an array`);
  }
}

function checkDnsNames(names: string[]): string[] {
  checkList("dnsNames", names);
  for (const name of names) {
    // dNSName is an IA5String; Go rejects a certificate with non-ASCII names.
    if (typeof name !== "string" || !/^[\x21-\x7e]+$/.test(name)) {
      throw new TypeError(
        `Cannot put DNS name ${
          JSON.stringify(name)
        } in a certificate: use a non-empty ASCII name without spaces (punycode for international names)`,
      );
    }
  }
  return names;
}

function checkIpAddresses(addresses: string[]): Uint8Array[] {
  checkList("ipAddresses", addresses);
  return addresses.map((address) => {
    const bytes = typeof address === "string" ? parseIpAddress(address) : undefined;
    if (bytes === undefined) {
      throw new TypeError(
        `Cannot put IP address ${
          JSON.stringify(address)
        } in a certificate: use a literal IPv4 or IPv6 address such as "127.0.0.1" or "::1", without a zone or prefix length`,
      );
    }
    return bytes;
  });
}

function checkDate(name: string, date: Date): Date {
  const time = date instanceof Date ? date.getTime() : NaN;
  if (Number.isNaN(time)) {
    throw new RangeError(
      `Cannot use ${name} ${String(date)}: pass a valid Date`,
    );
  }
  // Whole seconds: Go rejects fractional seconds in GeneralizedTime.
  const rounded = new Date(Math.floor(time / 1000) * 1000);
  const year = rounded.getUTCFullYear();
  if (year < 0 || year > 9999) {
    throw new RangeError(
      `Cannot use ${name} ${rounded.toISOString()}: X.509 dates must be in the years 0 to 9999`,
    );
  }
  return rounded;
}

function checkKeyUsages(usages: X509KeyUsage[]): X509KeyUsage[] {
  checkList("keyUsages", usages);
  for (const usage of usages) {
    if (!KEY_USAGE_BITS.includes(usage)) {
      throw new TypeError(
        `Cannot set key usage "${usage}": use one of ${
          KEY_USAGE_BITS.map((u) => `"${u}"`).join(", ")
        }`,
      );
    }
  }
  return [...new Set(usages)];
}

function checkExtKeyUsages(usages: ExtKeyUsage[]): ExtKeyUsage[] {
  checkList("extKeyUsages", usages);
  for (const usage of usages) {
    if (usage !== "serverAuth" && usage !== "clientAuth") {
      throw new TypeError(
        `Cannot set extended key usage "${usage}": use "serverAuth" or "clientAuth"`,
      );
    }
  }
  return [...new Set(usages)];
}

/**
 * Whether `issuer`'s public key verifies `certificate`'s signature: through
 * pkijs, or WebCrypto for Ed25519 (which pkijs 4 does not verify).
 */
async function signedBy(
  certificate: pkijs.Certificate,
  issuer: pkijs.Certificate,
): Promise<boolean> {
  try {
    if (certificate.signatureAlgorithm.algorithmId === OID.ed25519) {
      return await ed25519SignedBy(certificate, issuer.subjectPublicKeyInfo);
    }
    return await certificate.verify(issuer, webCryptoEngine());
  } catch {
    // pkijs throws rather than returning false for some mismatches, such as
    // a P-521 signature checked with a P-256 key.
    return false;
  }
}

interface IssuerData {
  certificate: pkijs.Certificate;
  name: pkijs.RelativeDistinguishedNames;
  keyId: Uint8Array;
  privateKey: CryptoKey;
}

function readIssuer(issuer: GeneratedCertificate): IssuerData {
  if (!(issuer?.certDer instanceof Uint8Array) || !(issuer.privateKey instanceof CryptoKey)) {
    throw new TypeError(
      "Cannot sign with the issuer: pass the GeneratedCertificate returned by generateCertificate({ isCA: true })",
    );
  }
  const certificate = decodeCertificate(issuer.certDer);
  const info = describeCertificate(certificate, issuer.certDer);
  if (!info.isCA) {
    throw new TypeError(
      `Cannot sign with the issuer "${info.subject}": it is not a CA; make it with generateCertificate({ isCA: true })`,
    );
  }
  if (info.keyUsages.length > 0 && !info.keyUsages.includes("keyCertSign")) {
    throw new TypeError(
      `Cannot sign with the issuer "${info.subject}": its key usage lacks keyCertSign; make it without keyUsages or include "keyCertSign"`,
    );
  }
  return {
    certificate,
    // The issuer's subject bytes, unchanged, so that name chaining matches.
    name: certificate.subject,
    keyId: subjectKeyIdOf(certificate) ?? keyIdentifier(certificate.subjectPublicKeyInfo),
    privateKey: issuer.privateKey,
  };
}

// ---------------------------------------------------------------------------
// Parsing.

/**
 * Reads the first certificate of a PEM text.
 *
 * Other PEM blocks and text around the certificate are ignored. The
 * signature is not checked.
 *
 * @example Reading the host's certificate
 * ```ts
 * import { generateCertificate, parseCertificatePem } from "./cert.ts";
 *
 * const { certPem } = await generateCertificate();
 * const info = parseCertificatePem(certPem); // e.g. Deno.env.get("PLUGIN_CLIENT_CERT")
 * console.log(info.subject, info.dnsNames, info.isCA); // "CN=localhost,O=rpcplugin" [ "localhost" ] false
 * ```
 *
 * @param pem PEM text with a `CERTIFICATE` block.
 * @returns What the certificate says.
 * @throws {CertificateError} `"not-pem"` when the text has no PEM block,
 * `"not-certificate"` when its PEM blocks are of another kind (such as a
 * private key), `"malformed"` when the base64 or the DER cannot be decoded.
 */
export function parseCertificatePem(pem: string): CertificateInfo {
  return parseCertificateDer(pemToDer(pem, "CERTIFICATE"));
}

/**
 * Reads a certificate from its DER bytes.
 *
 * The signature is not checked.
 *
 * @example Reading a generated certificate's DER
 * ```ts
 * import { generateCertificate, parseCertificateDer } from "./cert.ts";
 *
 * const { certDer } = await generateCertificate({ keyType: "ecdsa-p384" });
 * console.log(parseCertificateDer(certDer).keyType); // "ecdsa-p384"
 * ```
 *
 * @param der The certificate's DER bytes.
 * @returns What the certificate says.
 * @throws {CertificateError} `"malformed"` when the bytes are not a DER
 * X.509 certificate.
 */
export function parseCertificateDer(der: Uint8Array): CertificateInfo {
  return describeCertificate(decodeCertificate(der), der);
}
