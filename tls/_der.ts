/**
 * Private: the few DER encodings AutoMTLS needs, written and read without
 * pkijs, so that a plugin's start-up never loads it.
 *
 * @module
 */

/** Encodes one tag-length-value. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const head = length < 0x80 ? [tag, length] : (() => {
    const bytes: number[] = [];
    for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
    return [tag, 0x80 | bytes.length, ...bytes];
  })();
  const out = new Uint8Array(head.length + length);
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** DER tags used here. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** SEQUENCE of the parts. */
export const seq = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> => tlv(TAG.sequence, ...parts);

/** An unsigned big-endian integer, with the sign byte DER wants. */
export function uint(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  return trimmed[0] & 0x80
    ? tlv(TAG.integer, new Uint8Array([0]), trimmed)
    : tlv(TAG.integer, trimmed);
}

/** An ECDSA signature as X.509 and TLS carry it, SEQUENCE { r, s }, from WebCrypto's r||s. */
export function ecdsaSignatureDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return seq(uint(raw.subarray(0, half)), uint(raw.subarray(half)));
}

/**
 * WebCrypto's r||s (each `size` bytes) from a DER ECDSA signature, or null
 * when it is not one (extra bytes, negative or over-long integers).
 */
export function ecdsaSignatureRaw(der: Uint8Array, size: number): Uint8Array | null {
  try {
    const top = readTlv(der, 0);
    if (top.tag !== TAG.sequence || top.end !== der.length) return null;
    const parts = children(der, top);
    if (parts.length !== 2) return null;
    const out = new Uint8Array(2 * size);
    for (let i = 0; i < 2; i++) {
      const { tag, start, end } = parts[i];
      if (tag !== TAG.integer || end === start || der[start] & 0x80) return null;
      let from = start;
      while (from < end - 1 && der[from] === 0) from++;
      if (end - from > size) return null;
      out.set(der.subarray(from, end), (i + 1) * size - (end - from));
    }
    return out;
  } catch {
    return null;
  }
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      chunk.unshift(0x80 | (n & 0x7f));
    }
    bytes.push(...chunk);
  }
  return tlv(TAG.oid, new Uint8Array(bytes));
}

const text = (s: string) => new TextEncoder().encode(s);

/** A UTF8String. */
export const utf8 = (s: string): Uint8Array => tlv(TAG.utf8String, text(s));

/** A BIT STRING with no unused bits. */
export const bits = (bytes: Uint8Array): Uint8Array =>
  tlv(TAG.bitString, new Uint8Array([0]), bytes);

/** An X.509 time in whole seconds: UTCTime for 1950-2049, else GeneralizedTime. */
export function time(date: Date): Uint8Array {
  const iso = new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z"; // YYYYMMDDHHMMSSZ
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(TAG.utcTime, text(digits.slice(2)))
    : tlv(TAG.generalizedTime, text(digits));
}

/** One element found by {@linkcode readTlv}. */
export interface Tlv {
  /** The tag byte. */
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just past the contents. */
  end: number;
}

/**
 * Reads the element at `at`.
 *
 * @throws {RangeError} When the bytes are not DER.
 */
export function readTlv(der: Uint8Array, at: number, limit: number = der.length): Tlv {
  if (at + 2 > limit) throw new RangeError("truncated DER");
  const tag = der[at];
  let len = der[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new RangeError("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  if (start + len > limit) throw new RangeError("truncated DER");
  return { tag, start, end: start + len };
}

/** The children of a constructed element. */
export function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const t = readTlv(der, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** Decodes an OBJECT IDENTIFIER's contents to dotted form. */
export function readOid(der: Uint8Array, t: Tlv): string {
  const b = der.subarray(t.start, t.end);
  if (b.length === 0) throw new RangeError("empty OID");
  const arcs = [Math.min(2, Math.floor(b[0] / 40)), b[0] - 40 * Math.min(2, Math.floor(b[0] / 40))];
  let n = 0;
  for (let i = 1; i < b.length; i++) {
    n = n * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      arcs.push(n);
      n = 0;
    }
  }
  return arcs.join(".");
}

/** Decodes a UTCTime or GeneralizedTime. */
export function readTime(der: Uint8Array, t: Tlv): Date {
  const s = new TextDecoder().decode(der.subarray(t.start, t.end));
  const m = t.tag === TAG.utcTime
    ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s)
    : t.tag === TAG.generalizedTime
    ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(s)
    : null;
  if (!m) throw new RangeError(`bad time "${s}"`);
  let year = Number(m[1]);
  if (t.tag === TAG.utcTime) year += year < 50 ? 2000 : 1900;
  return new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])),
  );
}
