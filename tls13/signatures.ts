/**
 * CertificateVerify's signatures on WebCrypto: ours (made with the AutoMTLS
 * key) and the client's, checked with the public key of the certificate it
 * must present (ECDSA P-256/P-384/P-521 with their RFC 8446 hashes, Ed25519,
 * RSA-PSS with an rsaEncryption key). TLS carries ECDSA signatures as DER;
 * WebCrypto takes r||s.
 *
 * @module
 */

import {
  children,
  ecdsaSignatureDer,
  ecdsaSignatureRaw,
  readOid,
  readTlv,
  TAG,
} from "../tls/_der.ts";
import { OID } from "../tls/_oids.ts";
import type { KeyType } from "../tls/cert.ts";
import { SignatureScheme } from "./constants.ts";

const subtle = crypto.subtle;
type Bytes = Uint8Array<ArrayBuffer>;

/** How a scheme signs with WebCrypto. */
interface SchemeAlgorithm {
  /** importKey's algorithm. */
  key: EcKeyImportParams | RsaHashedImportParams | Algorithm;
  /** sign/verify's algorithm. */
  sign: EcdsaParams | RsaPssParams | Algorithm;
  /** Bytes of r and of s, for ECDSA. */
  ecdsaSize?: number;
}

const ecdsa = (namedCurve: string, hash: string, size: number): SchemeAlgorithm => ({
  key: { name: "ECDSA", namedCurve },
  sign: { name: "ECDSA", hash },
  ecdsaSize: size,
});
const pss = (hash: string, saltLength: number): SchemeAlgorithm => ({
  key: { name: "RSA-PSS", hash },
  sign: { name: "RSA-PSS", saltLength },
});

const ALGORITHMS: Readonly<Record<number, SchemeAlgorithm>> = {
  [SignatureScheme.ecdsaSecp256r1Sha256]: ecdsa("P-256", "SHA-256", 32),
  [SignatureScheme.ecdsaSecp384r1Sha384]: ecdsa("P-384", "SHA-384", 48),
  [SignatureScheme.ecdsaSecp521r1Sha512]: ecdsa("P-521", "SHA-512", 66),
  [SignatureScheme.rsaPssRsaeSha256]: pss("SHA-256", 32),
  [SignatureScheme.rsaPssRsaeSha384]: pss("SHA-384", 48),
  [SignatureScheme.rsaPssRsaeSha512]: pss("SHA-512", 64),
  [SignatureScheme.ed25519]: { key: { name: "Ed25519" }, sign: { name: "Ed25519" } },
};

/** Every scheme we verify, in our order of preference (CertificateRequest's list). */
export const VERIFIED_SCHEMES: readonly number[] = Object.freeze([
  SignatureScheme.ecdsaSecp256r1Sha256,
  SignatureScheme.ecdsaSecp384r1Sha384,
  SignatureScheme.ecdsaSecp521r1Sha512,
  SignatureScheme.ed25519,
  SignatureScheme.rsaPssRsaeSha256,
  SignatureScheme.rsaPssRsaeSha384,
  SignatureScheme.rsaPssRsaeSha512,
]);

/** Signs our CertificateVerify. */
export interface Signer {
  /** The scheme: the client's signature_algorithms must offer it. */
  scheme: number;
  /** Signs `content`; resolves to the signature as TLS carries it. */
  sign(content: Uint8Array): Promise<Uint8Array>;
}

/** Our CertificateVerify scheme per key type; RSA keys sign RSA-PSS with SHA-256. */
const SCHEME_OF: Readonly<Partial<Record<KeyType, number>>> = {
  "ecdsa-p256": SignatureScheme.ecdsaSecp256r1Sha256,
  "ecdsa-p384": SignatureScheme.ecdsaSecp384r1Sha384,
  "ecdsa-p521": SignatureScheme.ecdsaSecp521r1Sha512,
  "ed25519": SignatureScheme.ed25519,
};

/**
 * The signer of an AutoMTLS key: ECDSA with its curve's hash, Ed25519, or
 * RSA-PSS with SHA-256 (an RSA key from WebCrypto's RSASSA-PKCS1-v1_5
 * generation is imported again from its PKCS#8 as RSA-PSS).
 *
 * @param keyType The key type.
 * @param privateKey The key (needed for ECDSA and Ed25519; RSA's is imported again from `pkcs8`).
 * @param pkcs8 The key's PKCS#8 DER, needed for RSA.
 */
export async function signerFor(
  keyType: KeyType,
  privateKey: CryptoKey | undefined,
  pkcs8?: Uint8Array,
): Promise<Signer> {
  const scheme = SCHEME_OF[keyType] ?? SignatureScheme.rsaPssRsaeSha256;
  const alg = ALGORITHMS[scheme];
  let key: CryptoKey;
  if (scheme === SignatureScheme.rsaPssRsaeSha256) {
    if (!pkcs8) throw new TypeError("an RSA key needs its PKCS#8 to sign RSA-PSS");
    key = await subtle.importKey("pkcs8", pkcs8 as Bytes, alg.key, false, ["sign"]);
  } else if (privateKey) key = privateKey;
  else throw new TypeError(`a ${keyType} signer needs its private key`);
  return {
    scheme,
    async sign(content) {
      const sig = new Uint8Array(await subtle.sign(alg.sign, key, content as Bytes));
      return alg.ecdsaSize ? ecdsaSignatureDer(sig) : sig;
    },
  };
}

/**
 * WebCrypto's import algorithm for a private key of `keyType` that signs
 * without being imported again (ECDSA, Ed25519), or undefined (RSA:
 * {@linkcode signerFor} imports its PKCS#8 itself).
 *
 * @param keyType The key type.
 * @returns importKey's algorithm, or undefined.
 */
export function signingKeyImport(
  keyType: KeyType,
): EcKeyImportParams | Algorithm | undefined {
  const scheme = SCHEME_OF[keyType];
  return scheme === undefined ? undefined : ALGORITHMS[scheme].key;
}

/** Checks the client's CertificateVerify. */
export interface Verifier {
  /** The schemes this key can be verified with. */
  schemes: readonly number[];
  /** Whether `signature` (as TLS carries it) signs `content` under `scheme`. */
  verify(scheme: number, content: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** The schemes of a SubjectPublicKeyInfo's algorithm. */
function schemesOf(spki: Uint8Array): number[] {
  const top = readTlv(spki, 0);
  const [algId] = children(spki, top);
  const [algOid, params] = children(spki, algId);
  const alg = readOid(spki, algOid);
  if (alg === OID.ed25519) return [SignatureScheme.ed25519];
  if (alg === OID.rsaEncryption) {
    return [
      SignatureScheme.rsaPssRsaeSha256,
      SignatureScheme.rsaPssRsaeSha384,
      SignatureScheme.rsaPssRsaeSha512,
    ];
  }
  if (alg === OID.ecPublicKey && params?.tag === TAG.oid) {
    const curve = readOid(spki, params);
    if (curve === OID.p256) return [SignatureScheme.ecdsaSecp256r1Sha256];
    if (curve === OID.p384) return [SignatureScheme.ecdsaSecp384r1Sha384];
    if (curve === OID.p521) return [SignatureScheme.ecdsaSecp521r1Sha512];
  }
  return [];
}

/**
 * The verifier of a certificate's public key. Keys are imported on first
 * use of each scheme (one for every key but RSA's).
 *
 * @param spki The certificate's SubjectPublicKeyInfo, DER.
 * @returns The verifier; its `schemes` is empty for a key we cannot verify.
 */
export function verifierFor(spki: Uint8Array): Verifier {
  let schemes: number[];
  try {
    schemes = schemesOf(spki);
  } catch {
    schemes = [];
  }
  const keys = new Map<number, Promise<CryptoKey>>();
  const keyFor = (scheme: number) => {
    let key = keys.get(scheme);
    if (!key) {
      key = subtle.importKey("spki", spki as Bytes, ALGORITHMS[scheme].key, false, ["verify"]);
      keys.set(scheme, key);
    }
    return key;
  };
  // Import the first (for ECDSA and Ed25519, the only) key now: the handshake need not wait.
  if (schemes.length) keyFor(schemes[0]).catch(() => {});
  return {
    schemes,
    async verify(scheme, content, signature) {
      if (!schemes.includes(scheme)) return false;
      const alg = ALGORITHMS[scheme];
      const sig = alg.ecdsaSize ? ecdsaSignatureRaw(signature, alg.ecdsaSize) : signature;
      if (!sig) return false;
      try {
        return await subtle.verify(alg.sign, await keyFor(scheme), sig as Bytes, content as Bytes);
      } catch {
        return false;
      }
    },
  };
}
