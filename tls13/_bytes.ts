/**
 * Private: joining byte strings, for the handshake's messages and flights.
 *
 * @module
 */

/** The parts, one after the other, in a new array. */
export function concat(parts: readonly Uint8Array[], prefix = 0): Uint8Array {
  const out = new Uint8Array(prefix + parts.reduce((n, p) => n + p.length, 0));
  let at = prefix;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
