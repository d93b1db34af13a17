/**
 * TLS 1.3 (RFC 8446) code points and the bounds of our server: the one
 * place each number is written.
 *
 * @module
 */

/** TLSPlaintext/TLSInnerPlaintext content types (RFC 8446 §5.1). */
export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
} as const;

/** Handshake message types (RFC 8446 §4). */
export const HandshakeType = {
  clientHello: 1,
  serverHello: 2,
  newSessionTicket: 4,
  endOfEarlyData: 5,
  encryptedExtensions: 8,
  certificate: 11,
  certificateRequest: 13,
  certificateVerify: 15,
  finished: 20,
  keyUpdate: 24,
} as const;

/** Extension types (RFC 8446 §4.2, RFC 7301 for ALPN). */
export const ExtensionType = {
  serverName: 0,
  supportedGroups: 10,
  signatureAlgorithms: 13,
  alpn: 16,
  preSharedKey: 41,
  earlyData: 42,
  supportedVersions: 43,
  pskKeyExchangeModes: 45,
  keyShare: 51,
} as const;

/** Alert descriptions (RFC 8446 §6) that we send or name. */
export const AlertDescription = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  recordOverflow: 22,
  handshakeFailure: 40,
  badCertificate: 42,
  illegalParameter: 47,
  decodeError: 50,
  decryptError: 51,
  protocolVersion: 70,
  internalError: 80,
  userCanceled: 90,
  missingExtension: 109,
  certificateRequired: 116,
  noApplicationProtocol: 120,
} as const;

/** An alert description's number. */
export type AlertCode = typeof AlertDescription[keyof typeof AlertDescription];

/** Alert levels: in TLS 1.3 every alert but close_notify and user_canceled is fatal. */
export const AlertLevel = { warning: 1, fatal: 2 } as const;

/** TLS 1.3's version number, and the legacy one its records and hellos carry. */
export const TLS13 = 0x0304;
/** `legacy_version` of the ServerHello and of every record we write. */
export const TLS12 = 0x0303;

/** TLS_CHACHA20_POLY1305_SHA256: the only cipher suite of our server. */
export const CHACHA20_POLY1305_SHA256 = 0x1303;

/** The x25519 named group: the only key exchange of our server. */
export const X25519 = 0x001d;
/** Bytes of an x25519 public key. */
export const X25519_KEY_BYTES = 32;

/** Signature schemes (RFC 8446 §4.2.3) that we sign or verify with. */
export const SignatureScheme = {
  ecdsaSecp256r1Sha256: 0x0403,
  ecdsaSecp384r1Sha384: 0x0503,
  ecdsaSecp521r1Sha512: 0x0603,
  rsaPssRsaeSha256: 0x0804,
  rsaPssRsaeSha384: 0x0805,
  rsaPssRsaeSha512: 0x0806,
  ed25519: 0x0807,
} as const;

/** The ALPN protocol we serve: HTTP/2. */
export const ALPN_H2 = "h2";

/** Bytes of a record header: type, legacy version, length. */
export const RECORD_HEADER_BYTES = 5;
/** Largest TLSPlaintext fragment and TLSInnerPlaintext content (2^14). */
export const MAX_PLAINTEXT = 1 << 14;
/** Largest protected record body (2^14 + 256). */
export const MAX_CIPHERTEXT = MAX_PLAINTEXT + 256;
/** Bytes of a handshake message header: type and 24-bit length. */
export const HANDSHAKE_HEADER_BYTES = 4;
/**
 * Largest handshake message we take (ClientHello, the client's Certificate):
 * a host sends one certificate of about 600 bytes and a ClientHello of a few
 * hundred; 64 KiB leaves room for post-quantum key shares and long chains.
 */
export const MAX_HANDSHAKE_MESSAGE = 64 << 10;
/** Handshakes under way at once; connections past it are closed at once. */
export const MAX_CONCURRENT_HANDSHAKES = 64;
/** The socket read sizes (several records per read): one policy with the plaintext pump. */
export { BULK_READ_BUFFER_BYTES, READ_BUFFER_BYTES } from "../transport/read_buffer.ts";
