/**
 * TLS 1.3 handshake messages of the server role (RFC 8446 §4): the
 * ClientHello and the client's Certificate, CertificateVerify and Finished
 * parsed (every length checked: a malformed one is a {@linkcode TlsAlertError}
 * with decode_error or illegal_parameter), and the server's ServerHello,
 * EncryptedExtensions, CertificateRequest, Certificate, CertificateVerify and
 * Finished encoded.
 *
 * @module
 */

import {
  AlertDescription,
  ExtensionType,
  HANDSHAKE_HEADER_BYTES,
  HandshakeType,
  TLS12,
  TLS13,
  X25519,
} from "./constants.ts";
import { TlsAlertError } from "./errors.ts";
import { concat } from "./_bytes.ts";

/** Reads big-endian fields of one message; running past its end is decode_error. */
export class Reader {
  #bytes: Uint8Array;
  #at: number;
  #end: number;
  #what: string;

  /**
   * @param bytes The bytes.
   * @param what What they are, for error messages.
   */
  constructor(bytes: Uint8Array, what: string, at = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#at = at;
    this.#end = end;
    this.#what = what;
  }

  /** Bytes left. */
  get left(): number {
    return this.#end - this.#at;
  }

  #need(n: number): void {
    if (this.#end - this.#at < n) {
      throw new TlsAlertError(
        AlertDescription.decodeError,
        `${this.#what}: truncated (needs ${n} more bytes, has ${this.#end - this.#at})`,
      );
    }
  }

  /** One byte. */
  u8(): number {
    this.#need(1);
    return this.#bytes[this.#at++];
  }

  /** Two bytes. */
  u16(): number {
    this.#need(2);
    const v = (this.#bytes[this.#at] << 8) | this.#bytes[this.#at + 1];
    this.#at += 2;
    return v;
  }

  /** Three bytes. */
  u24(): number {
    this.#need(3);
    const b = this.#bytes;
    const v = (b[this.#at] << 16) | (b[this.#at + 1] << 8) | b[this.#at + 2];
    this.#at += 3;
    return v;
  }

  /** `n` bytes, as a view. */
  bytes(n: number): Uint8Array {
    this.#need(n);
    const v = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return v;
  }

  /** A vector with a length prefix of `lengthBytes` (1, 2 or 3), as a reader of its own. */
  vector(lengthBytes: 1 | 2 | 3, what: string): Reader {
    const n = lengthBytes === 1 ? this.u8() : lengthBytes === 2 ? this.u16() : this.u24();
    this.#need(n);
    const r = new Reader(this.#bytes, `${this.#what}: ${what}`, this.#at, this.#at + n);
    this.#at += n;
    return r;
  }

  /** Fails unless every byte was read. */
  done(): void {
    if (this.#at !== this.#end) {
      throw new TlsAlertError(
        AlertDescription.decodeError,
        `${this.#what}: ${this.#end - this.#at} bytes past its end`,
      );
    }
  }
}

/** A ClientHello's fields that our server looks at. */
export interface ClientHello {
  /** legacy_version. */
  legacyVersion: number;
  /** legacy_session_id, echoed in the ServerHello. */
  sessionId: Uint8Array;
  /** cipher_suites. */
  cipherSuites: number[];
  /** supported_versions, or null when absent. */
  supportedVersions: number[] | null;
  /** supported_groups, or null when absent. */
  supportedGroups: number[] | null;
  /** The x25519 key share, when one was offered. */
  x25519Share: Uint8Array | null;
  /** Whether a key_share extension was present. */
  keyShareSent: boolean;
  /** signature_algorithms, or null when absent. */
  signatureAlgorithms: number[] | null;
  /** ALPN protocol names, or null when absent. */
  alpn: string[] | null;
  /** Whether the client offers early data (0-RTT: never ours, we issue no tickets). */
  earlyData: boolean;
}

function u16List(r: Reader, what: string, min: number): number[] {
  const v = r.vector(2, what);
  if (v.left < min || v.left % 2) {
    throw new TlsAlertError(AlertDescription.decodeError, `ClientHello: ${what}: bad length`);
  }
  const out: number[] = [];
  while (v.left) out.push(v.u16());
  return out;
}

const decoder = new TextDecoder();

/**
 * Parses a ClientHello's body (after the handshake header).
 *
 * @param body The message body.
 * @returns Its fields.
 * @throws {TlsAlertError} decode_error when malformed, illegal_parameter
 * for a duplicate extension or a non-null compression method offered with
 * TLS 1.3.
 */
export function parseClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body, "ClientHello");
  const legacyVersion = r.u16();
  r.bytes(32); // random
  const sid = r.vector(1, "legacy_session_id");
  if (sid.left > 32) {
    throw new TlsAlertError(
      AlertDescription.illegalParameter,
      "ClientHello: legacy_session_id over 32 bytes",
    );
  }
  const sessionId = sid.bytes(sid.left);
  const cipherSuites = u16List(r, "cipher_suites", 2);
  const compression = r.vector(1, "legacy_compression_methods");
  const methods = compression.bytes(compression.left);
  const hello: ClientHello = {
    legacyVersion,
    sessionId,
    cipherSuites,
    supportedVersions: null,
    supportedGroups: null,
    x25519Share: null,
    keyShareSent: false,
    signatureAlgorithms: null,
    alpn: null,
    earlyData: false,
  };
  if (!methods.includes(0)) {
    throw new TlsAlertError(
      AlertDescription.illegalParameter,
      "ClientHello: no null compression method",
    );
  }
  if (r.left === 0) return hello; // no extensions: not TLS 1.3
  const exts = r.vector(2, "extensions");
  r.done();
  const seen = new Set<number>();
  let lastWasPsk = false;
  while (exts.left) {
    const type = exts.u16();
    const data = exts.vector(2, `extension ${type}`);
    if (seen.has(type)) {
      throw new TlsAlertError(
        AlertDescription.illegalParameter,
        `ClientHello: extension ${type} appears twice`,
      );
    }
    seen.add(type);
    lastWasPsk = type === ExtensionType.preSharedKey;
    switch (type) {
      case ExtensionType.supportedVersions: {
        const v = data.vector(1, "supported_versions");
        if (v.left < 2 || v.left % 2) {
          throw new TlsAlertError(
            AlertDescription.decodeError,
            "ClientHello: supported_versions: bad length",
          );
        }
        hello.supportedVersions = [];
        while (v.left) hello.supportedVersions.push(v.u16());
        break;
      }
      case ExtensionType.supportedGroups:
        hello.supportedGroups = u16List(data, "supported_groups", 2);
        break;
      case ExtensionType.signatureAlgorithms:
        hello.signatureAlgorithms = u16List(data, "signature_algorithms", 2);
        break;
      case ExtensionType.keyShare: {
        hello.keyShareSent = true;
        const shares = data.vector(2, "key_share");
        const groups = new Set<number>();
        while (shares.left) {
          const group = shares.u16();
          const key = shares.vector(2, "key_exchange");
          if (key.left === 0) {
            throw new TlsAlertError(
              AlertDescription.decodeError,
              "ClientHello: empty key_exchange",
            );
          }
          if (groups.has(group)) {
            throw new TlsAlertError(
              AlertDescription.illegalParameter,
              `ClientHello: two key shares for group ${group}`,
            );
          }
          groups.add(group);
          const bytes = key.bytes(key.left);
          if (group === X25519) {
            if (bytes.length !== 32) {
              throw new TlsAlertError(
                AlertDescription.illegalParameter,
                `ClientHello: x25519 key share of ${bytes.length} bytes`,
              );
            }
            hello.x25519Share = bytes;
          }
        }
        break;
      }
      case ExtensionType.alpn: {
        const list = data.vector(2, "ALPN protocol_name_list");
        if (list.left === 0) {
          throw new TlsAlertError(AlertDescription.decodeError, "ClientHello: empty ALPN list");
        }
        hello.alpn = [];
        while (list.left) {
          const name = list.vector(1, "ALPN protocol name");
          if (name.left === 0) {
            throw new TlsAlertError(
              AlertDescription.decodeError,
              "ClientHello: empty ALPN protocol name",
            );
          }
          hello.alpn.push(decoder.decode(name.bytes(name.left)));
        }
        break;
      }
      case ExtensionType.earlyData:
        hello.earlyData = true;
        data.bytes(data.left);
        break;
      default:
        data.bytes(data.left);
    }
    data.done();
  }
  if (seen.has(ExtensionType.preSharedKey) && !lastWasPsk) {
    throw new TlsAlertError(
      AlertDescription.illegalParameter,
      "ClientHello: pre_shared_key is not the last extension",
    );
  }
  if (hello.supportedVersions?.includes(TLS13) && methods.length !== 1) {
    throw new TlsAlertError(
      AlertDescription.illegalParameter,
      "ClientHello: TLS 1.3 offered with a compression method other than null",
    );
  }
  return hello;
}

/** A handshake message: header (type, uint24 length) and body. */
export function handshakeMessage(type: number, ...parts: Uint8Array[]): Uint8Array {
  const out = concat(parts, HANDSHAKE_HEADER_BYTES);
  const n = out.length - HANDSHAKE_HEADER_BYTES;
  out[0] = type;
  out[1] = n >> 16;
  out[2] = (n >> 8) & 0xff;
  out[3] = n & 0xff;
  return out;
}

/** `parts` behind a length prefix of `lengthBytes` bytes. */
export function vector(lengthBytes: 1 | 2 | 3, ...parts: Uint8Array[]): Uint8Array {
  const out = concat(parts, lengthBytes);
  const n = out.length - lengthBytes;
  for (let i = 0; i < lengthBytes; i++) out[i] = (n >> (8 * (lengthBytes - 1 - i))) & 0xff;
  return out;
}

const u16 = (v: number) => new Uint8Array([v >> 8, v & 0xff]);
const extension = (type: number, data: Uint8Array) =>
  new Uint8Array([...u16(type), ...vector(2, data)]);

/**
 * The ServerHello (RFC 8446 §4.1.3): TLS 1.3 in supported_versions, our
 * x25519 share, `suite`, and the client's legacy_session_id echoed.
 */
export function serverHello(
  random: Uint8Array,
  sessionId: Uint8Array,
  suite: number,
  x25519Public: Uint8Array,
): Uint8Array {
  return handshakeMessage(
    HandshakeType.serverHello,
    u16(TLS12),
    random,
    vector(1, sessionId),
    u16(suite),
    new Uint8Array([0]),
    vector(
      2,
      extension(ExtensionType.supportedVersions, u16(TLS13)),
      extension(
        ExtensionType.keyShare,
        new Uint8Array([...u16(X25519), ...vector(2, x25519Public)]),
      ),
    ),
  );
}

/** EncryptedExtensions with the ALPN protocol chosen. */
export function encryptedExtensions(alpn: string): Uint8Array {
  const name = new TextEncoder().encode(alpn);
  return handshakeMessage(
    HandshakeType.encryptedExtensions,
    vector(2, extension(ExtensionType.alpn, vector(2, vector(1, name)))),
  );
}

/** CertificateRequest with an empty context and the signature schemes we verify. */
export function certificateRequest(schemes: readonly number[]): Uint8Array {
  return handshakeMessage(
    HandshakeType.certificateRequest,
    vector(1),
    vector(2, extension(ExtensionType.signatureAlgorithms, vector(2, ...schemes.map(u16)))),
  );
}

/** Certificate with an empty context and one entry, `certDer`, with no extensions. */
export function certificate(certDer: Uint8Array): Uint8Array {
  return handshakeMessage(
    HandshakeType.certificate,
    vector(1),
    vector(3, vector(3, certDer), vector(2)),
  );
}

/** CertificateVerify: the scheme and the signature. */
export function certificateVerify(scheme: number, signature: Uint8Array): Uint8Array {
  return handshakeMessage(HandshakeType.certificateVerify, u16(scheme), vector(2, signature));
}

/** Finished: verify_data. */
export function finished(verifyData: Uint8Array): Uint8Array {
  return handshakeMessage(HandshakeType.finished, verifyData);
}

/**
 * The client's Certificate (RFC 8446 §4.4.2): its certificates' DER, leaf
 * first (none when the client has no certificate).
 *
 * @throws {TlsAlertError} decode_error when malformed; illegal_parameter when
 * the certificate_request_context is not the empty one we sent.
 */
export function parseCertificate(body: Uint8Array): Uint8Array[] {
  const r = new Reader(body, "client Certificate");
  const context = r.vector(1, "certificate_request_context");
  if (context.left) {
    throw new TlsAlertError(
      AlertDescription.illegalParameter,
      "client Certificate: certificate_request_context is not the empty one of our CertificateRequest",
    );
  }
  const list = r.vector(3, "certificate_list");
  r.done();
  const certs: Uint8Array[] = [];
  while (list.left) {
    const cert = list.vector(3, "cert_data");
    if (cert.left === 0) {
      throw new TlsAlertError(AlertDescription.decodeError, "client Certificate: empty cert_data");
    }
    certs.push(cert.bytes(cert.left));
    list.vector(2, "extensions");
  }
  return certs;
}

/** The client's CertificateVerify: scheme and signature. */
export function parseCertificateVerify(
  body: Uint8Array,
): { scheme: number; signature: Uint8Array } {
  const r = new Reader(body, "client CertificateVerify");
  const scheme = r.u16();
  const sig = r.vector(2, "signature");
  r.done();
  if (sig.left === 0) {
    throw new TlsAlertError(
      AlertDescription.decodeError,
      "client CertificateVerify: empty signature",
    );
  }
  return { scheme, signature: sig.bytes(sig.left) };
}

/** A KeyUpdate's request_update: whether the peer asks us to update ours too. */
export function parseKeyUpdate(body: Uint8Array): boolean {
  if (body.length !== 1 || body[0] > 1) {
    throw new TlsAlertError(
      body.length !== 1 ? AlertDescription.decodeError : AlertDescription.illegalParameter,
      "KeyUpdate: request_update is not update_not_requested (0) or update_requested (1)",
    );
  }
  return body[0] === 1;
}

/** KeyUpdate(update_not_requested) or KeyUpdate(update_requested). */
export function keyUpdate(requestUpdate: boolean): Uint8Array {
  return handshakeMessage(HandshakeType.keyUpdate, new Uint8Array([requestUpdate ? 1 : 0]));
}

/**
 * The content that CertificateVerify signs (RFC 8446 §4.4.3): 64 spaces,
 * the context string, a zero byte and the transcript hash.
 */
export function signedContent(role: "server" | "client", transcriptHash: Uint8Array): Uint8Array {
  const context = new TextEncoder().encode(`TLS 1.3, ${role} CertificateVerify`);
  const out = new Uint8Array(64 + context.length + 1 + transcriptHash.length);
  out.fill(0x20, 0, 64);
  out.set(context, 64);
  out.set(transcriptHash, 64 + context.length + 1);
  return out;
}

/**
 * Collects handshake messages from handshake records' payloads (a message
 * may span records, a record may hold several), bounded by `maxMessage`.
 */
export class HandshakeAssembler {
  #buf: Uint8Array;
  #len = 0;
  #max: number;

  /** @param maxMessage Largest message body taken (else illegal_parameter). */
  constructor(maxMessage: number) {
    this.#max = maxMessage;
    this.#buf = new Uint8Array(1024);
  }

  /** Bytes of a message not yet complete. */
  get pending(): number {
    return this.#len;
  }

  /** Appends a record's payload. */
  push(data: Uint8Array): void {
    if (this.#len + data.length > this.#buf.length) {
      const grown = new Uint8Array(
        Math.min(
          Math.max(this.#buf.length * 2, this.#len + data.length),
          this.#max + HANDSHAKE_HEADER_BYTES + (1 << 14),
        ),
      );
      if (grown.length < this.#len + data.length) {
        throw new TlsAlertError(
          AlertDescription.illegalParameter,
          "handshake message over the size we take",
        );
      }
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(data, this.#len);
    this.#len += data.length;
    // Fail early on a header announcing too much.
    if (this.#len >= HANDSHAKE_HEADER_BYTES) this.#check(0);
  }

  #check(at: number): number {
    const b = this.#buf;
    const n = (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
    if (n > this.#max) {
      throw new TlsAlertError(
        AlertDescription.illegalParameter,
        `handshake message type ${b[at]} of ${n} bytes: over the ${this.#max} we take`,
      );
    }
    return n;
  }

  /**
   * The next complete message (a copy: header and body), or null.
   */
  next(): { type: number; message: Uint8Array; body: Uint8Array } | null {
    if (this.#len < HANDSHAKE_HEADER_BYTES) return null;
    const n = this.#check(0);
    const total = HANDSHAKE_HEADER_BYTES + n;
    if (this.#len < total) return null;
    const message = this.#buf.slice(0, total);
    this.#buf.copyWithin(0, total, this.#len);
    this.#len -= total;
    return { type: message[0], message, body: message.subarray(HANDSHAKE_HEADER_BYTES) };
  }
}
