/**
 * tls/ec_key.ts: P-256 and P-384 keys made by importing a random scalar (no
 * `generateKey`, whose first call costs Deno 2.9.6 35-50 ms of CPU for these
 * curves): the pair signs and verifies, its PKCS#8 carries the public key, a
 * scalar outside [1, n-1] is drawn again, and the AutoMTLS certificate and
 * `generateCertificate()`'s of either curve are made without `generateKey`.
 *
 * @module
 */

import { assert, assertEquals } from "../_util/assert.ts";
import { importedEcKeyPair, isPrivateScalar } from "../../tls/ec_key.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import { generateCertificate, parseCertificatePem, pemToDer } from "../../tls/mod.ts";

const HASH = { "P-256": "SHA-256", "P-384": "SHA-384" } as const;
const ORDER_HEX = {
  "P-256": "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
  "P-384":
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
} as const;
/** The x coordinate of each curve's generator: the public key of the scalar 1. */
const GENERATOR_X = {
  "P-256": "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
  "P-384":
    "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
} as const;

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
const toHex = (bytes: Uint8Array) =>
  [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

for (const curve of ["P-256", "P-384"] as const) {
  Deno.test(`importedEcKeyPair ${curve}: signs and verifies; its PKCS#8 has the public key`, async () => {
    const keys = await importedEcKeyPair(curve);
    const data = new TextEncoder().encode("signed");
    const sign = { name: "ECDSA", hash: HASH[curve] };
    const sig = await crypto.subtle.sign(sign, keys.privateKey, data);
    assert(await crypto.subtle.verify(sign, keys.publicKey, sig, data), "does not verify");
    // The PKCS#8 imports as the same key, and carries the public point the SPKI has.
    const again = await crypto.subtle.importKey(
      "pkcs8",
      keys.pkcs8 as Uint8Array<ArrayBuffer>,
      { name: "ECDSA", namedCurve: curve },
      false,
      ["sign"],
    );
    const sig2 = await crypto.subtle.sign(sign, again, data);
    assert(await crypto.subtle.verify(sign, keys.publicKey, sig2, data), "PKCS#8 is another key");
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
    const point = toHex(spki.subarray(spki.length - (curve === "P-256" ? 65 : 97)));
    assert(point.startsWith("04") && toHex(keys.pkcs8).endsWith(point), "no public key in PKCS#8");
  });

  Deno.test(`importedEcKeyPair ${curve}: a scalar of 0 or of n or above is drawn again`, async () => {
    const order = fromHex(ORDER_HEX[curve]);
    const one = new Uint8Array(order.length);
    one[one.length - 1] = 1;
    const draws = [
      new Uint8Array(order.length),
      order,
      new Uint8Array(order.length).fill(0xff),
      one,
    ];
    let calls = 0;
    const keys = await importedEcKeyPair(curve, (buf) => buf.set(draws[calls++]));
    assertEquals(calls, 4);
    // The scalar 1: the public key is the generator.
    const point = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
    assertEquals(toHex(point.subarray(1, 1 + order.length)), GENERATOR_X[curve]);
    assert(!isPrivateScalar(curve, order) && isPrivateScalar(curve, one), "range");
    const below = order.slice();
    below[below.length - 1] -= 1;
    assert(isPrivateScalar(curve, below), "n - 1 is a valid scalar");
  });
}

Deno.test("makeAutoCertificate and generateCertificate: P-256 and P-384 keys without generateKey", async () => {
  const subtle = crypto.subtle;
  const original = subtle.generateKey;
  let generated = 0;
  subtle.generateKey = ((...args: Parameters<typeof original>) => {
    generated++;
    return original.apply(subtle, args);
  }) as typeof original;
  try {
    for (const keyType of ["ecdsa-p256", "ecdsa-p384"] as const) {
      const auto = await makeAutoCertificate(keyType);
      assertEquals(parseCertificatePem(auto.certPem).keyType, keyType);
      const made = await generateCertificate({ keyType });
      assertEquals(parseCertificatePem(made.certPem).keyType, keyType);
      // The key PEM is the certificate's key: it signs what the certificate's key verifies.
      const key = await crypto.subtle.importKey(
        "pkcs8",
        pemToDer(made.keyPem, "PRIVATE KEY") as Uint8Array<ArrayBuffer>,
        { name: "ECDSA", namedCurve: keyType === "ecdsa-p256" ? "P-256" : "P-384" },
        false,
        ["sign"],
      );
      assert(key.type === "private", "the key PEM does not import");
    }
    assertEquals(generated, 0);
    await makeAutoCertificate("ed25519");
    assertEquals(generated, 1); // the spy sees what it should
  } finally {
    subtle.generateKey = original;
  }
});
