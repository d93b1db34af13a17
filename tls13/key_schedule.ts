/**
 * TLS 1.3's key schedule for SHA-256 (RFC 8446 §7.1): HKDF (RFC 5869) from
 * HMAC-SHA-256, HKDF-Expand-Label, Derive-Secret, the transcript hash,
 * Finished's verify_data, traffic keys and KeyUpdate's next secret. No PSK:
 * the early secret is always the one of a zero key.
 *
 * The hashes run on WebCrypto: a WebAssembly SHA-256 of ours was measured no
 * faster for a handshake's schedule in a fresh process (bench/README.md,
 * "Seventh round"), and removed.
 *
 * @module
 */

/** Bytes of a SHA-256 digest: every secret of the schedule. */
export const HASH_BYTES = 32;
/** Key and IV bytes of TLS_CHACHA20_POLY1305_SHA256's traffic keys. */
export const KEY_BYTES = 32;
/** IV bytes (the per-record nonce's base). */
export const IV_BYTES = 12;

const subtle = crypto.subtle;
const encoder = new TextEncoder();
const ZEROS = new Uint8Array(HASH_BYTES);
const LABEL_PREFIX = encoder.encode("tls13 ");

/** SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

/**
 * Imported HMAC keys by the secret's object: a secret keys several HMACs
 * (a traffic secret its key, IV and finished key), imported once.
 */
const hmacKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

/**
 * HMAC-SHA-256 of `data` under `key` (on WebCrypto, imported once per key
 * object: do not mutate keys).
 */
export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  let k = hmacKeys.get(key);
  if (!k) {
    k = subtle.importKey(
      "raw",
      key as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    hmacKeys.set(key, k);
  }
  return new Uint8Array(await subtle.sign("HMAC", await k, data as Uint8Array<ArrayBuffer>));
}

/** HKDF-Extract(salt, IKM) (RFC 5869 §2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return hmacSha256(salt.length ? salt : ZEROS, ikm);
}

/** The HkdfLabel structure (RFC 8446 §7.1). */
export function hkdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  const name = encoder.encode(label);
  const out = new Uint8Array(2 + 1 + LABEL_PREFIX.length + name.length + 1 + context.length);
  out[0] = length >> 8;
  out[1] = length & 0xff;
  out[2] = LABEL_PREFIX.length + name.length;
  out.set(LABEL_PREFIX, 3);
  out.set(name, 3 + LABEL_PREFIX.length);
  let at = 3 + LABEL_PREFIX.length + name.length;
  out[at++] = context.length;
  out.set(context, at);
  return out;
}

/** HKDF-Expand(PRK, info, L) (RFC 5869 §2.3), `length` at most 255 * 32. */
export async function hkdfExpand(
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let t = new Uint8Array(0);
  for (let i = 1, at = 0; at < length; i++) {
    const input = new Uint8Array(t.length + info.length + 1);
    input.set(t);
    input.set(info, t.length);
    input[input.length - 1] = i;
    t = await hmacSha256(prk, input) as Uint8Array<ArrayBuffer>;
    out.set(t.subarray(0, Math.min(t.length, length - at)), at);
    at += t.length;
  }
  return out;
}

/** HKDF-Expand-Label(Secret, Label, Context, Length), `length` at most 255 * 32. */
export function hkdfExpandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  return hkdfExpand(secret, hkdfLabel(label, context, length), length);
}

/** Derive-Secret(Secret, Label, Messages), given the transcript hash of the messages. */
export function deriveSecret(
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Promise<Uint8Array> {
  return hkdfExpandLabel(secret, label, transcriptHash, HASH_BYTES);
}

/**
 * The handshake's messages, in order, for the transcript hash (RFC 8446
 * §4.4.1). WebCrypto has no incremental digest: the messages are kept
 * (a few KiB) and hashed whole when a hash is asked for.
 */
export class Transcript {
  #parts: Uint8Array[] = [];
  #bytes = 0;

  /** Adds one handshake message (header included). */
  add(message: Uint8Array): void {
    this.#parts.push(message);
    this.#bytes += message.length;
  }

  /** SHA-256 of the messages added so far. */
  hash(): Promise<Uint8Array> {
    const all = new Uint8Array(this.#bytes);
    let at = 0;
    for (const p of this.#parts) {
      all.set(p, at);
      at += p.length;
    }
    return sha256(all);
  }
}

let derivedForHandshake: Promise<Uint8Array> | null = null;

/**
 * Derive-Secret(Early Secret, "derived", "") with no PSK: the same for
 * every connection, computed once (call it early to have it ready).
 */
export function derivedEarly(): Promise<Uint8Array> {
  return derivedForHandshake ??= (async () => {
    const early = await hkdfExtract(ZEROS, ZEROS);
    return deriveSecret(early, "derived", await sha256(new Uint8Array(0)));
  })();
}

/** The secrets of the handshake phase. */
export interface HandshakeSecrets {
  /** Handshake Secret: the salt of the master secret. */
  handshakeSecret: Uint8Array;
  /** client_handshake_traffic_secret */
  client: Uint8Array;
  /** server_handshake_traffic_secret */
  server: Uint8Array;
}

/** The client's and the server's traffic secrets of a phase ("c hs traffic", "s hs traffic", ...). */
function trafficSecrets(
  secret: Uint8Array,
  phase: "hs" | "ap",
  transcriptHash: Uint8Array,
): Promise<[Uint8Array, Uint8Array]> {
  return Promise.all([
    deriveSecret(secret, `c ${phase} traffic`, transcriptHash),
    deriveSecret(secret, `s ${phase} traffic`, transcriptHash),
  ]);
}

/**
 * The handshake secrets from the (EC)DHE shared secret and the transcript
 * hash of ClientHello...ServerHello.
 */
export async function handshakeSecrets(
  shared: Uint8Array,
  helloHash: Uint8Array,
): Promise<HandshakeSecrets> {
  const handshakeSecret = await hkdfExtract(await derivedEarly(), shared);
  const [client, server] = await trafficSecrets(handshakeSecret, "hs", helloHash);
  return { handshakeSecret, client, server };
}

/** The secrets of the application phase. */
export interface ApplicationSecrets {
  /** Master Secret. */
  masterSecret: Uint8Array;
  /** client_application_traffic_secret_0 */
  client: Uint8Array;
  /** server_application_traffic_secret_0 */
  server: Uint8Array;
}

let emptyHash: Promise<Uint8Array> | null = null;

/** The Master Secret from the handshake secret (no transcript needed: compute it early). */
export async function deriveMasterSecret(handshakeSecret: Uint8Array): Promise<Uint8Array> {
  emptyHash ??= sha256(new Uint8Array(0));
  const derived = await deriveSecret(handshakeSecret, "derived", await emptyHash);
  return hkdfExtract(derived, ZEROS);
}

/**
 * The application traffic secrets from the handshake secret (or its master
 * secret, already derived) and the transcript hash of ClientHello...server
 * Finished.
 */
export async function applicationSecrets(
  handshakeSecret: Uint8Array,
  serverFinishedHash: Uint8Array,
  master?: Promise<Uint8Array>,
): Promise<ApplicationSecrets> {
  const masterSecret = await (master ?? deriveMasterSecret(handshakeSecret));
  const [client, server] = await trafficSecrets(masterSecret, "ap", serverFinishedHash);
  return { masterSecret, client, server };
}

/** A traffic secret's record key and IV (RFC 8446 §7.3). */
export interface TrafficKeys {
  /** The AEAD key. */
  key: Uint8Array;
  /** The IV, XORed with the sequence number to make each record's nonce. */
  iv: Uint8Array;
}

/** The key and IV of a traffic secret. */
export async function trafficKeys(secret: Uint8Array): Promise<TrafficKeys> {
  const empty = new Uint8Array(0);
  const [key, iv] = await Promise.all([
    hkdfExpandLabel(secret, "key", empty, KEY_BYTES),
    hkdfExpandLabel(secret, "iv", empty, IV_BYTES),
  ]);
  return { key, iv };
}

/** finished_key of a handshake traffic secret (RFC 8446 §4.4.4). */
export function finishedKey(baseKey: Uint8Array): Promise<Uint8Array> {
  return hkdfExpandLabel(baseKey, "finished", new Uint8Array(0), HASH_BYTES);
}

/**
 * Finished's verify_data: HMAC(finished_key of `baseKey`, transcript hash)
 * (RFC 8446 §4.4.4); `key`, the finished key if already derived.
 */
export async function finishedVerifyData(
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
  key?: Promise<Uint8Array>,
): Promise<Uint8Array> {
  return hmacSha256(await (key ?? finishedKey(baseKey)), transcriptHash);
}

/** application_traffic_secret_N+1 from _N (RFC 8446 §7.2, KeyUpdate). */
export function nextTrafficSecret(secret: Uint8Array): Promise<Uint8Array> {
  return hkdfExpandLabel(secret, "traffic upd", new Uint8Array(0), HASH_BYTES);
}

/**
 * Compares two byte strings in time that depends only on their lengths
 * (Finished's verify_data).
 */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
