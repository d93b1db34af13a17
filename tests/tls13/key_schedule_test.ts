/**
 * The key schedule against RFC 8448 §3 ("Simple 1-RTT Handshake"): its
 * cipher suite is TLS_AES_128_GCM_SHA256, but every secret up to the
 * traffic secrets uses SHA-256 as ours does; its 16-byte keys check
 * HKDF-Expand-Label with another length, and the client's Finished checks
 * verify_data. HKDF itself against RFC 5869's SHA-256 test cases.
 *
 * @module
 */

import {
  applicationSecrets,
  equalConstantTime,
  finishedVerifyData,
  handshakeSecrets,
  hkdfExpand,
  hkdfExpandLabel,
  hkdfExtract,
  hkdfLabel,
  nextTrafficSecret,
  sha256,
  trafficKeys,
  Transcript,
} from "../../tls13/key_schedule.ts";
import { assert, assertEquals } from "../_util/assert.ts";

const hex = (s: string) =>
  new Uint8Array(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const fill = (n: number, b: number) => new Uint8Array(n).fill(b);
const range = (from: number, to: number) =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

// RFC 8448 §3.
const ECDHE = hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
const HASH_CH_SH = hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
const HASH_CH_SF = hex("9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13");

Deno.test("key schedule: RFC 8448 handshake secrets, keys and IVs", async () => {
  const hs = await handshakeSecrets(ECDHE, HASH_CH_SH);
  assertEquals(
    toHex(hs.handshakeSecret),
    "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac",
  );
  assertEquals(
    toHex(hs.client),
    "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
  );
  assertEquals(
    toHex(hs.server),
    "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
  );
  const empty = new Uint8Array(0);
  assertEquals(
    toHex(await hkdfExpandLabel(hs.server, "key", empty, 16)),
    "3fce516009c21727d0f2e4e86ee403bc",
  );
  assertEquals(
    toHex(await hkdfExpandLabel(hs.server, "iv", empty, 12)),
    "5d313eb2671276ee13000b30",
  );
  assertEquals(
    toHex(await hkdfExpandLabel(hs.client, "key", empty, 16)),
    "dbfaa693d1762c5b666af5d950258d01",
  );
  assertEquals(
    toHex(await hkdfExpandLabel(hs.client, "iv", empty, 12)),
    "5bd3c71b836e0b76bb73265f",
  );
  // Ours are 32-byte keys: the first 16 bytes of a longer expansion differ (the length is in the label).
  const ours = await trafficKeys(hs.server);
  assertEquals(ours.key.length, 32);
  assertEquals(ours.iv.length, 12);
  assertEquals(toHex(ours.iv), "5d313eb2671276ee13000b30");
  assert(
    toHex(ours.key).slice(0, 32) !== "3fce516009c21727d0f2e4e86ee403bc",
    "length is part of the label",
  );
});

Deno.test("key schedule: RFC 8448 master and application traffic secrets", async () => {
  const hs = await handshakeSecrets(ECDHE, HASH_CH_SH);
  const ap = await applicationSecrets(hs.handshakeSecret, HASH_CH_SF);
  assertEquals(
    toHex(ap.masterSecret),
    "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919",
  );
  assertEquals(
    toHex(ap.client),
    "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
  );
  assertEquals(
    toHex(ap.server),
    "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
  );
});

Deno.test("key schedule: RFC 8448 client Finished verify_data", async () => {
  const hs = await handshakeSecrets(ECDHE, HASH_CH_SH);
  const verify = await finishedVerifyData(hs.client, HASH_CH_SF);
  assertEquals(toHex(verify), "a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61");
  assert(
    equalConstantTime(
      verify,
      hex("a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61"),
    ),
  );
  const tampered = verify.slice();
  tampered[31] ^= 1;
  assert(!equalConstantTime(verify, tampered), "one bit differs");
  assert(!equalConstantTime(verify, verify.subarray(0, 31)), "lengths differ");
});

Deno.test("key schedule: HkdfLabel layout, transcript hash, KeyUpdate's next secret", async () => {
  // uint16 length, opaque label<7..255> = "tls13 key", opaque context<0..255> = "".
  assertEquals(toHex(hkdfLabel("key", new Uint8Array(0), 16)), "001009746c733133206b657900");
  const t = new Transcript();
  t.add(new Uint8Array([1, 2]));
  t.add(new Uint8Array([3]));
  assertEquals(toHex(await t.hash()), toHex(await sha256(new Uint8Array([1, 2, 3]))));
  const s = hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
  const next = await nextTrafficSecret(s);
  assertEquals(toHex(next), toHex(await hkdfExpandLabel(s, "traffic upd", new Uint8Array(0), 32)));
  assert(toHex(next) !== toHex(s));
});

/** RFC 5869 A.1-A.3 (HKDF-SHA-256). */
const RFC5869 = [
  {
    ikm: fill(22, 0x0b),
    salt: range(0x00, 0x0c),
    info: range(0xf0, 0xf9),
    length: 42,
    prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
    okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  },
  {
    ikm: range(0x00, 0x4f),
    salt: range(0x60, 0xaf),
    info: range(0xb0, 0xff),
    length: 82,
    prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
    okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c" +
      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71" +
      "cc30c58179ec3e87c14c01d5c1f3434f1d87",
  },
  {
    ikm: fill(22, 0x0b),
    salt: new Uint8Array(0),
    info: new Uint8Array(0),
    length: 42,
    prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
    okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  },
];

Deno.test("key schedule: HKDF (hkdfExtract, hkdfExpand) gives RFC 5869's test cases A.1-A.3", async () => {
  for (const [i, v] of RFC5869.entries()) {
    const prk = await hkdfExtract(v.salt, v.ikm);
    assertEquals(toHex(prk), v.prk, `A.${i + 1} PRK`);
    assertEquals(toHex(await hkdfExpand(prk, v.info, v.length)), v.okm, `A.${i + 1} OKM`);
  }
});
