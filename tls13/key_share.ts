/**
 * Our x25519 key shares (RFC 8446 §4.2.8). One can be made ahead, while a
 * listener is set up, so that the first handshake (the host's, on a
 * plugin's start-up path) does not wait for a key generation; later
 * handshakes make their own. Every share is used by one handshake only and
 * lives in memory only.
 *
 * @module
 */

/** An ephemeral x25519 key pair and its public key as the key share carries it. */
export interface KeyShare {
  /** The pair (the private key is not extractable). */
  keys: CryptoKeyPair;
  /** The public key, 32 bytes. */
  ours: Uint8Array;
}

async function generate(): Promise<KeyShare> {
  const keys = await crypto.subtle.generateKey({ name: "X25519" }, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  return { keys, ours: new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey)) };
}

let next: Promise<KeyShare> | null = null;

/** Starts making the next key share, if none is made or under way. */
export function prepareKeyShare(): void {
  if (next) return;
  next = generate();
  next.catch(() => {});
}

/**
 * A fresh key share for one handshake: the one made ahead, or a new one.
 *
 * @returns The key share; no other call returns it.
 */
export function takeKeyShare(): Promise<KeyShare> {
  const share = next ?? generate();
  next = null;
  return share;
}
