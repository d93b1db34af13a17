/**
 * Handshake message parsing and encoding: a good ClientHello's fields;
 * truncated, over-long, duplicated and out-of-order inputs each a
 * TlsAlertError with the alert RFC 8446 names; the client's Certificate,
 * CertificateVerify and KeyUpdate; the assembler's size bound.
 *
 * @module
 */

import {
  certificate,
  HandshakeAssembler,
  handshakeMessage,
  parseCertificate,
  parseCertificateVerify,
  parseClientHello,
  parseKeyUpdate,
  serverHello,
  signedContent,
  vector,
} from "../../tls13/messages.ts";
import { AlertDescription } from "../../tls13/constants.ts";
import { TlsAlertError } from "../../tls13/errors.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { assertThrows } from "../_util/assert.ts";
import { clientHelloBody, goodExtensions } from "./_hello.ts";

function alertOf(fn: () => unknown): number {
  return assertThrows(fn, TlsAlertError).alert;
}

Deno.test("ClientHello: the fields of a good one", () => {
  const share = new Uint8Array(32).fill(5);
  const h = parseClientHello(clientHelloBody({ extensions: goodExtensions(share) }));
  assertEquals(h.legacyVersion, 0x0303);
  assertEquals(h.sessionId.length, 32);
  assertEquals(h.cipherSuites, [0x1301, 0x1303]);
  assertEquals(h.supportedVersions, [0x0304, 0x0303]);
  assertEquals(h.supportedGroups, [0x001d, 0x0017]);
  assertEquals([...h.x25519Share!], [...share]);
  assertEquals(h.signatureAlgorithms, [0x0403, 0x0603, 0x0804, 0x0807]);
  assertEquals(h.alpn, ["h2"]);
  assertEquals(h.earlyData, false);
});

Deno.test("ClientHello: every truncation is decode_error", () => {
  const body = clientHelloBody();
  const extensionsAt = 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1;
  // Cut right before the extensions, it is a hello without extensions (TLS 1.2's may be).
  assertEquals(parseClientHello(body.subarray(0, extensionsAt)).supportedVersions, null);
  for (let n = 0; n < body.length; n++) {
    if (n === extensionsAt) continue;
    const alert = alertOf(() => parseClientHello(body.subarray(0, n)));
    // Cut inside the extensions block, the outer length still reads: decode_error all the same.
    assertEquals(alert, AlertDescription.decodeError, `cut at ${n}`);
  }
});

Deno.test("ClientHello: bytes past the end, a length overflowing its parent, a bad inner length", () => {
  const body = clientHelloBody();
  assertEquals(
    alertOf(() => parseClientHello(new Uint8Array([...body, 0]))),
    AlertDescription.decodeError,
  );
  // The extensions block's length says one byte more than there is.
  const over = body.slice();
  const extLenAt = 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1;
  over[extLenAt + 1] += 1;
  assertEquals(alertOf(() => parseClientHello(over)), AlertDescription.decodeError);
  // supported_versions with an odd length.
  const odd = goodExtensions();
  odd[4] = [43, vector(1, new Uint8Array([3, 4, 3]))];
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ extensions: odd }))),
    AlertDescription.decodeError,
  );
  // An extension whose data is longer than its own contents need (key_share's list short of it).
  const trailing = goodExtensions();
  trailing[5] = [
    51,
    new Uint8Array([...vector(2, new Uint8Array([0, 0x1d, 0, 32, ...new Uint8Array(32)])), 0]),
  ];
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ extensions: trailing }))),
    AlertDescription.decodeError,
  );
});

Deno.test("ClientHello: duplicate extension, PSK not last, bad x25519 share, compression → illegal_parameter", () => {
  const dup = [...goodExtensions(), goodExtensions()[1]];
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ extensions: dup }))),
    AlertDescription.illegalParameter,
  );
  const psk = [[41, new Uint8Array([0, 0, 0, 0])] as [number, Uint8Array], ...goodExtensions()];
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ extensions: psk }))),
    AlertDescription.illegalParameter,
  );
  const short = goodExtensions(new Uint8Array(31));
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ extensions: short }))),
    AlertDescription.illegalParameter,
  );
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ compression: [1] }))),
    AlertDescription.illegalParameter,
  );
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ compression: [0, 1] }))),
    AlertDescription.illegalParameter,
  );
  assertEquals(
    alertOf(() => parseClientHello(clientHelloBody({ sessionId: new Uint8Array(33) }))),
    AlertDescription.illegalParameter,
  );
  const pskLast = [
    [42, new Uint8Array(0)] as [number, Uint8Array],
    ...goodExtensions(),
    [41, new Uint8Array([0, 0, 0, 0])] as [number, Uint8Array],
  ];
  assert(parseClientHello(clientHelloBody({ extensions: pskLast })).earlyData);
});

Deno.test("client Certificate, CertificateVerify, KeyUpdate", () => {
  const der = new Uint8Array([0x30, 3, 1, 2, 3]);
  const msg = certificate(der);
  assertEquals(msg[0], 11);
  const certs = parseCertificate(msg.subarray(4));
  assertEquals(certs.length, 1);
  assertEquals([...certs[0]], [...der]);
  assertEquals(parseCertificate(new Uint8Array([0, 0, 0, 0])).length, 0);
  assertEquals(
    alertOf(() => parseCertificate(new Uint8Array([1, 9, 0, 0, 0]))),
    AlertDescription.illegalParameter,
  );
  assertEquals(
    alertOf(() => parseCertificate(new Uint8Array([0, 0, 0, 9]))),
    AlertDescription.decodeError,
  );
  assertEquals(
    alertOf(() => parseCertificate(msg.subarray(4, msg.length - 1))),
    AlertDescription.decodeError,
  );
  assertEquals(parseCertificateVerify(new Uint8Array([6, 3, 0, 2, 9, 9])).scheme, 0x0603);
  assertEquals(
    alertOf(() => parseCertificateVerify(new Uint8Array([6, 3, 0, 3, 9, 9]))),
    AlertDescription.decodeError,
  );
  assertEquals(
    alertOf(() => parseCertificateVerify(new Uint8Array([6, 3, 0, 0]))),
    AlertDescription.decodeError,
  );
  assertEquals(parseKeyUpdate(new Uint8Array([1])), true);
  assertEquals(parseKeyUpdate(new Uint8Array([0])), false);
  assertEquals(
    alertOf(() => parseKeyUpdate(new Uint8Array([2]))),
    AlertDescription.illegalParameter,
  );
  assertEquals(alertOf(() => parseKeyUpdate(new Uint8Array([0, 0]))), AlertDescription.decodeError);
});

Deno.test("ServerHello layout and CertificateVerify's signed content", () => {
  const sh = serverHello(
    new Uint8Array(32).fill(1),
    new Uint8Array([4, 4]),
    0x1303,
    new Uint8Array(32).fill(2),
  );
  assertEquals(sh[0], 2);
  assertEquals((sh[1] << 16) | (sh[2] << 8) | sh[3], sh.length - 4);
  assertEquals([sh[4], sh[5]], [3, 3]);
  assertEquals([...sh.subarray(38, 41)], [2, 4, 4]); // session id echoed
  assertEquals([sh[41], sh[42], sh[43]], [0x13, 0x03, 0]);
  const content = signedContent("client", new Uint8Array(32));
  assertEquals(content.length, 64 + 33 + 1 + 32);
  assertEquals(
    new TextDecoder().decode(content.subarray(64, 97)),
    "TLS 1.3, client CertificateVerify",
  );
  assertEquals(content[97], 0);
});

Deno.test("HandshakeAssembler: split and coalesced messages, and the size bound", () => {
  const a = handshakeMessage(11, new Uint8Array(300));
  const b = handshakeMessage(15, new Uint8Array(5));
  const both = new Uint8Array([...a, ...b]);
  const asm = new HandshakeAssembler(1000);
  asm.push(both.subarray(0, 2));
  assertEquals(asm.next(), null);
  asm.push(both.subarray(2, 200));
  assertEquals(asm.next(), null);
  asm.push(both.subarray(200));
  assertEquals(asm.next()!.message.length, 304);
  assertEquals(asm.next()!.type, 15);
  assertEquals(asm.next(), null);
  assertEquals(asm.pending, 0);
  const big = new HandshakeAssembler(1000);
  assertEquals(
    alertOf(() => big.push(new Uint8Array([1, 0, 0x03, 0xe9]))),
    AlertDescription.illegalParameter,
  );
});
