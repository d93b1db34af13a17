/**
 * Tests of tls13/sha256_wasm.ts (SHA-256 and HMAC-SHA-256 in the WebAssembly
 * module, scripts/aead_wasm/sha256_wat.ts) and of the key schedule's HKDF on
 * top of it: FIPS 180-2's SHA-256 examples, RFC 4231's HMAC-SHA-256 test
 * cases, RFC 5869's HKDF-SHA-256 test cases (through key_schedule.ts's
 * hkdfExtract and hkdfExpand, on WebCrypto), a cross-check against WebCrypto over random
 * inputs (every length 0-300 around the 55/56/64-byte padding edges, and
 * large ones; keys of every length 1-200 around the 64-byte block), the
 * constants computed against FIPS 180-4's first and last, and the module's
 * memory holding no key material after a call. The committed module's bytes
 * are checked against a fresh build in chacha20_poly1305_wasm_test.ts (one
 * module for both).
 *
 * Run: deno test -A tests/tls13/sha256_wasm_test.ts
 */

import { hmacSha256Wasm, sha256Wasm } from "../../tls13/sha256_wasm.ts";
import { cryptoWasm, DATA } from "../../tls13/crypto_wasm.ts";
import { hkdfExpand, hkdfExtract, hmacSha256, sha256 } from "../../tls13/key_schedule.ts";
import { SHA256_H0, SHA256_K, SHA256_K_AT } from "../../scripts/aead_wasm/sha256_wat.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { toHex } from "../_util/fuzz.ts";
import { Prng } from "../_util/prng.ts";

const SEED = 20261202;
const text = (s: string) => new TextEncoder().encode(s);
const fill = (n: number, b: number) => new Uint8Array(n).fill(b);
const range = (from: number, to: number) =>
  Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function webSha256(data: Uint8Array): Promise<string> {
  return toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)),
  );
}

async function webHmac(key: Uint8Array, data: Uint8Array): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return toHex(
    new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>)),
  );
}

Deno.test("wasm SHA-256: FIPS 180-2's examples (one block, two blocks, one million 'a')", () => {
  assertEquals(
    toHex(sha256Wasm(text("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assertEquals(
    toHex(sha256Wasm(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assertEquals(
    toHex(sha256Wasm(fill(1_000_000, 0x61))),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  );
  assertEquals(
    toHex(sha256Wasm(new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("wasm SHA-256: K and H(0) computed from the primes are FIPS 180-4's", () => {
  assertEquals(SHA256_K.length, 64);
  assertEquals([SHA256_K[0], SHA256_K[1], SHA256_K[63]], [0x428a2f98, 0x71374491, 0xc67178f2]);
  assertEquals([SHA256_H0[0], SHA256_H0[7]], [0x6a09e667, 0x5be0cd19]);
});

/** RFC 4231 4.2-4.8 (test case 5 truncated to 128 bits). */
const RFC4231: { key: Uint8Array; data: Uint8Array; mac: string }[] = [
  {
    key: fill(20, 0x0b),
    data: text("Hi There"),
    mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  },
  {
    key: text("Jefe"),
    data: text("what do ya want for nothing?"),
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    key: fill(20, 0xaa),
    data: fill(50, 0xdd),
    mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
  {
    key: range(1, 25),
    data: fill(50, 0xcd),
    mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  },
  {
    key: fill(20, 0x0c),
    data: text("Test With Truncation"),
    mac: "a3b6167473100ee06e0c796c2955552b",
  },
  {
    key: fill(131, 0xaa),
    data: text("Test Using Larger Than Block-Size Key - Hash Key First"),
    mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  },
  {
    key: fill(131, 0xaa),
    data: text(
      "This is a test using a larger than block-size key and a larger than block-size data. " +
        "The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];

Deno.test("wasm HMAC-SHA-256: RFC 4231's test cases 1-7", async () => {
  for (const [i, v] of RFC4231.entries()) {
    const mac = toHex(hmacSha256Wasm(v.key, v.data)).slice(0, v.mac.length);
    assertEquals(mac, v.mac, `test case ${i + 1}`);
    // And through the key schedule's entry point.
    assertEquals(toHex(await hmacSha256(v.key, v.data)).slice(0, v.mac.length), v.mac);
  }
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

Deno.test("key schedule HKDF: RFC 5869's test cases A.1-A.3", async () => {
  for (const [i, v] of RFC5869.entries()) {
    const prk = await hkdfExtract(v.salt, v.ikm);
    assertEquals(toHex(prk), v.prk, `A.${i + 1} PRK`);
    assertEquals(toHex(await hkdfExpand(prk, v.info, v.length)), v.okm, `A.${i + 1} OKM`);
  }
});

Deno.test("wasm SHA-256 and HMAC-SHA-256: the same as WebCrypto over random inputs", async () => {
  const rng = new Prng(SEED);
  const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1000, 4095, 65536, 70_001, 1 << 20];
  for (const n of lengths) {
    const data = rng.bytes(n);
    assertEquals(toHex(sha256Wasm(data)), await webSha256(data), `SHA-256 of ${n} bytes`);
    assertEquals(
      toHex(await sha256(data)),
      await webSha256(data),
      `key schedule sha256, ${n} bytes`,
    );
    // WebCrypto refuses an empty HMAC key: every other length up to 200, and 32 (a secret).
    const key = rng.bytes(n <= 300 ? 1 + (n % 200) : 32);
    assertEquals(
      toHex(hmacSha256Wasm(key, data)),
      await webHmac(key, data),
      `HMAC of ${n} bytes under ${key.length}`,
    );
  }
});

Deno.test("wasm SHA-256 and HMAC-SHA-256: no key, message or digest left in the module's memory", () => {
  const mem = () => new Uint8Array(cryptoWasm().memory.buffer);
  const dirty = () => {
    const m = mem();
    const out: number[] = [];
    for (let i = 0; i < DATA + 2048; i++) {
      if ((i < SHA256_K_AT || i >= SHA256_K_AT + 256) && m[i] !== 0) out.push(i);
    }
    return out;
  };
  for (const n of [0, 10, 64, 200, 1500]) {
    const key = crypto.getRandomValues(new Uint8Array(n % 100 + 1));
    hmacSha256Wasm(key, crypto.getRandomValues(new Uint8Array(n)));
    assertEquals(dirty(), [], `after HMAC over ${n} bytes`);
    hmacSha256Wasm(crypto.getRandomValues(new Uint8Array(100)), new Uint8Array(n));
    assertEquals(dirty(), [], `after HMAC under a 100-byte key over ${n} bytes`);
    sha256Wasm(crypto.getRandomValues(new Uint8Array(n)));
    assertEquals(dirty(), [], `after SHA-256 of ${n} bytes`);
  }
  assert(mem().subarray(SHA256_K_AT, SHA256_K_AT + 4).some((b) => b !== 0), "K stays");
});
