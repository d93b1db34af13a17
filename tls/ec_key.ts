/**
 * A fresh ECDSA P-256 or P-384 key pair without `generateKey`. In Deno 2.9.6
 * the first `generateKey` of either curve starts a one-time initialisation of
 * 35-50 ms of CPU; importing a key does not, and neither do signing and
 * verifying. So the private scalar is drawn here, from the same CSPRNG
 * (`crypto.getRandomValues`), uniformly in [1, n-1] by rejection, imported as
 * PKCS#8, and the public key read back through its JWK export: 1-5 ms in all
 * (bench/README.md, "Start-up", thirteenth round). Deno's import does not
 * check the scalar's range (it takes 0 and n), so the range check here is
 * what keeps the key valid.
 *
 * @module
 */

import { bits, oid, seq, TAG, tlv, uint } from "./_der.ts";
import { OID } from "./_oids.ts";
import type { KeyType } from "./cert.ts";

/** The curves {@linkcode importedEcKeyPair} makes keys on. */
export type ImportedCurve = "P-256" | "P-384";

const CURVES: Readonly<Record<ImportedCurve, { oid: string; order: bigint; bytes: number }>> = {
  "P-256": {
    oid: OID.p256,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    bytes: 32,
  },
  "P-384": {
    oid: OID.p384,
    order:
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    bytes: 48,
  },
};

/**
 * Whether `scalar` (big-endian) is a valid private key on `curve`: in [1, n-1].
 *
 * @param curve The curve.
 * @param scalar The scalar's bytes.
 * @returns True when it is.
 */
export function isPrivateScalar(curve: ImportedCurve, scalar: Uint8Array): boolean {
  let value = 0n;
  for (const b of scalar) value = (value << 8n) | BigInt(b);
  return value > 0n && value < CURVES[curve].order;
}

/**
 * The PKCS#8 PrivateKeyInfo of an EC private key, with its public key (an
 * uncompressed point) or without it (RFC 5915's `publicKey` is optional).
 */
function pkcs8Of(
  curve: ImportedCurve,
  scalar: Uint8Array,
  point?: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const ecPrivateKey = seq(
    uint(new Uint8Array([1])),
    tlv(TAG.octetString, scalar),
    ...(point ? [tlv(0xa1, bits(point))] : []),
  );
  return seq(
    uint(new Uint8Array([0])),
    seq(oid(OID.ecPublicKey), oid(CURVES[curve].oid)),
    tlv(TAG.octetString, ecPrivateKey),
  ) as Uint8Array<ArrayBuffer>;
}

/** A key pair of {@linkcode importedEcKeyPair}, with its PKCS#8. */
export interface ImportedKeyPair extends CryptoKeyPair {
  /**
   * The private key as PKCS#8 with its public key, as TLS libraries want it
   * (WebCrypto's export of an imported key leaves the public key out).
   */
  pkcs8: Uint8Array;
}

/**
 * Makes a fresh ECDSA key pair on P-256 or P-384, both keys extractable, the
 * private one for signing and the public one for verifying.
 *
 * @param curve The curve.
 * @param random Fills a buffer with random bytes (tests); `crypto.getRandomValues` by default.
 * @returns The key pair and its PKCS#8.
 */
export async function importedEcKeyPair(
  curve: ImportedCurve,
  random: (buf: Uint8Array<ArrayBuffer>) => void = (buf) => crypto.getRandomValues(buf),
): Promise<ImportedKeyPair> {
  const scalar = new Uint8Array(CURVES[curve].bytes);
  do random(scalar); while (!isPrivateScalar(curve, scalar));
  const algorithm = { name: "ECDSA", namedCurve: curve };
  const bare = pkcs8Of(curve, scalar);
  try {
    const privateKey = await crypto.subtle.importKey("pkcs8", bare, algorithm, true, ["sign"]);
    const { x, y } = await crypto.subtle.exportKey("jwk", privateKey);
    const publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: curve, x, y },
      algorithm,
      true,
      ["verify"],
    );
    // The uncompressed point, 04 || x || y, each coordinate at the curve's full size.
    const point = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
    return { privateKey, publicKey, pkcs8: pkcs8Of(curve, scalar, point) };
  } finally {
    scalar.fill(0);
    bare.fill(0);
  }
}

/** A key pair of {@linkcode freshKeyPair} and its private key as PKCS#8. */
export interface FreshKeyPair {
  /** The keys (the private one extractable). */
  keys: CryptoKeyPair;
  /** The private key, PKCS#8 DER. */
  pkcs8: Uint8Array;
}

/**
 * A fresh key pair of `keyType`: ECDSA P-256 and P-384 ones by
 * {@linkcode importedEcKeyPair}, the others by `generateKey` with `algorithm`.
 *
 * @param keyType The key type.
 * @param algorithm `generateKey`'s algorithm for the key type.
 * @returns The keys and the private key's PKCS#8.
 */
export async function freshKeyPair(
  keyType: KeyType,
  algorithm: EcKeyGenParams | RsaHashedKeyGenParams | Algorithm,
): Promise<FreshKeyPair> {
  const curve = keyType === "ecdsa-p256" ? "P-256" : keyType === "ecdsa-p384" ? "P-384" : null;
  if (curve) {
    const { privateKey, publicKey, pkcs8 } = await importedEcKeyPair(curve);
    return { keys: { privateKey, publicKey }, pkcs8 };
  }
  const keys = await crypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return { keys, pkcs8: new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)) };
}
