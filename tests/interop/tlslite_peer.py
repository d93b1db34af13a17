"""tlslite-ng (pure-Python TLS 1.3) against the plugin's own TLS 1.3 server.

A second independent peer next to Go's crypto/tls (tests/interop/tlsprobe):
one benign client that completes the mutual-TLS handshake and exchanges the
HTTP/2 connection preface and SETTINGS, then hostile cases built with
tlslite-ng's message and record layers. For each case the script prints one
JSON line: {"name", "expect", "got", "ok", "why"}. `got` is the alert the
server sent (its name), "closed" (the connection ended without an alert),
"h2" (the benign exchange worked) or "timeout:..." (nothing within the bound:
every case is bounded by a socket timeout, so no case can hang).

Run by tests/interop/tlslite_test.ts:
  python tlslite_peer.py ADDRESS HOST_CERT HOST_KEY OTHER_CERT OTHER_KEY
ADDRESS is a unix socket path or HOST:PORT.
"""

import json
import os
import socket
import struct
import sys
import traceback

from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey
from tlslite.constants import AlertDescription, ContentType, KeyUpdateMessageType
from tlslite.errors import TLSAbruptCloseError, TLSLocalAlert, TLSRemoteAlert
from tlslite.extensions import TLSExtension
from tlslite.messages import ClientHello, Finished, KeyUpdate, Message

TIMEOUT = 5.0
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
H2_SETTINGS_ACK = bytes([0, 0, 0, 4, 1, 0, 0, 0, 0])

# TLS code points (RFC 8446 §4.2, §4.2.7, §4.2.3, §B.4).
TLS13, TLS12, TLS11 = 0x0304, 0x0303, 0x0302
CHACHA20, AES128 = 0x1303, 0x1301
X25519, SECP256R1, SECP521R1 = 0x001D, 0x0017, 0x0019
ED25519, ECDSA_P256, RSA_PSS, RSA_PKCS1_SHA1 = 0x0807, 0x0403, 0x0804, 0x0201
EXT_GROUPS, EXT_SIGALGS, EXT_ALPN, EXT_EARLY = 10, 13, 16, 42
EXT_VERSIONS, EXT_PSK_MODES, EXT_KEY_SHARE, EXT_PSK = 43, 45, 51, 41


def alert_name(code):
    return AlertDescription.toStr(code)


def connect(address):
    if address.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(address)
    else:
        host, port = address.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def u16(n):
    return struct.pack(">H", n)


def vec(size, body):
    return (len(body)).to_bytes(size, "big") + body


def ext(ext_type, data):
    return TLSExtension(extType=ext_type).create(bytearray(data))


def x25519_share():
    # Any 32 bytes that are not a low-order point: the handshake fails before the keys matter.
    share = bytearray(os.urandom(32))
    share[31] &= 0x7F
    return bytes(share)


def extensions(**over):
    """A TLS 1.3 ClientHello's extensions, each replaceable (None drops it)."""
    exts = {
        "versions": ext(EXT_VERSIONS, vec(1, u16(TLS13))),
        "groups": ext(EXT_GROUPS, vec(2, u16(X25519) + u16(SECP256R1))),
        "sigalgs": ext(EXT_SIGALGS, vec(2, u16(ECDSA_P256) + u16(ED25519) + u16(RSA_PSS))),
        "key_share": ext(EXT_KEY_SHARE, vec(2, u16(X25519) + vec(2, x25519_share()))),
        "alpn": ext(EXT_ALPN, vec(2, vec(1, b"h2"))),
    }
    exts.update(over)
    return [e for e in exts.values() if e is not None]


def client_hello(suites=(CHACHA20,), exts=None, session_id=None):
    """A ClientHello handshake message (bytes), made by tlslite-ng's ClientHello."""
    ch = ClientHello().create(
        (3, 3),
        bytearray(os.urandom(32)),
        bytearray(os.urandom(32) if session_id is None else session_id),
        list(suites),
        extensions=extensions() if exts is None else exts,
    )
    return bytes(ch.write())


def record(content_type, body, version=b"\x03\x01"):
    return bytes([content_type]) + version + vec(2, body)


def plain_outcome(sock):
    """What the server answers to plaintext input: its alert, or closed."""
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if data[0] == ContentType.handshake:
                return "server_hello"  # served: the handshake goes on
    except ConnectionResetError:
        pass
    except socket.timeout:
        return "timeout: the server neither answered nor closed"
    finally:
        sock.close()
    while len(data) >= 5:
        length = int.from_bytes(data[3:5], "big")
        if data[0] == ContentType.alert and length == 2 and len(data) >= 7:
            return alert_name(data[6])
        data = data[5 + length:]
    return "closed"


def raw(address, payload):
    s = connect(address)
    s.sendall(payload)
    return plain_outcome(s)


def settings(compression=False):
    st = HandshakeSettings()
    st.minVersion = (3, 4)
    st.maxVersion = (3, 4)
    st.cipherNames = ["chacha20-poly1305"]
    st.keyShares = ["x25519"]
    st.eccCurves = ["x25519", "secp256r1"]
    # We never offer certificate compression; tlslite-ng would send a CompressedCertificate.
    st.certificate_compression_send = []
    st.certificate_compression_receive = []
    return st


def tls_outcome(conn):
    """Reads decrypted records until the server's alert or the end of the connection."""
    rl = conn._recordLayer
    try:
        while True:
            for result in rl.recvRecord():
                if result in (0, 1):
                    continue
                header, parser = result
                if header.type == ContentType.alert:
                    body = parser.bytes
                    return alert_name(body[1]) if len(body) == 2 else "malformed alert"
                break
    except (TLSAbruptCloseError, ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        return "timeout: the server neither answered nor closed"
    except TLSLocalAlert as err:
        return f"local:{alert_name(err.description)}"


def handshake(address, cert, key, **kw):
    s = connect(address)
    conn = TLSConnection(s)
    chain = None
    if cert is not None:
        chain = X509CertChain()
        chain.parsePemList(cert)
    pkey = parsePEMKey(key, private=True) if key is not None else None
    conn.handshakeClientCert(chain, pkey, settings=settings(), alpn=[bytearray(b"h2")], **kw)
    return conn


def handshake_outcome(address, cert, key):
    """A handshake expected to be refused: the alert, during the handshake or right after.
    tlslite writes its Certificate, CertificateVerify and Finished separately: the server must
    read on after refusing the Certificate, or our next write fails and the alert is never read."""
    try:
        conn = handshake(address, cert, key)
    except TLSRemoteAlert as err:
        return alert_name(err.description)
    except (TLSAbruptCloseError, ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        return "timeout: the server neither answered nor closed"
    try:
        return tls_outcome(conn)
    finally:
        conn.sock.close()


def h2_exchange(conn):
    """Preface + SETTINGS out; the server's SETTINGS (a frame of type 4, not an ACK) in."""
    conn.write(bytearray(H2_PREFACE + H2_SETTINGS))
    buf = b""
    while True:
        buf += bytes(conn.read())
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if buf[3] == 4 and not buf[4] & 1:
                conn.write(bytearray(H2_SETTINGS_ACK))
                return "h2"
            buf = buf[9 + length:]


def after_handshake(address, cert, key, send):
    """Completes the handshake, then `send(conn)` hostile records; the server's answer."""
    conn = handshake(address, cert, key)
    try:
        send(conn)
        return tls_outcome(conn)
    except (BrokenPipeError, ConnectionResetError):
        return tls_outcome(conn)
    finally:
        conn.sock.close()


def send_record(conn, content_type, body):
    for _ in conn._recordLayer.sendRecord(Message(content_type, bytearray(body))):
        pass


def bad_finished(address, cert, key):
    """The client's Finished with one bit flipped (only the client creates a Finished here)."""
    create = Finished.create

    def flipped(self, verify_data):
        bad = bytearray(verify_data)
        bad[0] ^= 1
        return create(self, bad)

    Finished.create = flipped
    try:
        return handshake_outcome(address, cert, key)
    finally:
        Finished.create = create


def cases(address, cert, key, other_cert, other_key):
    """(name, expected answers, why, thunk)."""
    good = (address, cert, key)
    ku = bytes(KeyUpdate().create(KeyUpdateMessageType.update_not_requested).write())
    versions = lambda *vs: ext(EXT_VERSIONS, vec(1, b"".join(u16(v) for v in vs)))
    share = lambda g, k: ext(EXT_KEY_SHARE, vec(2, u16(g) + vec(2, k)))
    hello = lambda **kw: record(ContentType.handshake, client_hello(**kw))
    exts = lambda **kw: extensions(**kw)
    return [
        ("benign: mutual TLS 1.3 handshake, then HTTP/2 preface and SETTINGS both ways",
         ["h2"], "interop", lambda: h2_exchange(handshake(*good))),
        ("supported_versions offers only TLS 1.1", ["protocol_version", "closed"],
         "RFC 8446 §4.2.1, Go: protocol_version; handed to node:tls (Deno's, on rustls),"
         " which closes without an alert (rustls: Tls12NotOfferedOrEnabled)",
         lambda: raw(address, hello(exts=exts(versions=versions(TLS11))))),
        ("TLS 1.3 hello without signature_algorithms", ["missing_extension"],
         "RFC 8446 §9.2; Go: missing_extension",
         lambda: raw(address, hello(exts=exts(sigalgs=None)))),
        ("TLS 1.3 hello without supported_groups (key_share present)", ["missing_extension"],
         "RFC 8446 §9.2: key_share needs supported_groups",
         lambda: raw(address, hello(exts=exts(groups=None)))),
        ("only an unsupported group (secp521r1) and its share", ["handshake_failure", "closed"],
         "RFC 8446 §4.1.1 no common group, Go: handshake_failure; handed to node:tls, which"
         " closes without an alert (rustls: NoKxGroupsInCommon)",
         lambda: raw(address, hello(exts=exts(
             groups=ext(EXT_GROUPS, vec(2, u16(SECP521R1))),
             key_share=share(SECP521R1, b"\x04" + os.urandom(132)))))),
        ("only unsupported signature algorithms (rsa_pkcs1_sha1)", ["handshake_failure", "closed"],
         "RFC 8446 §4.4.2.2, Go: handshake_failure; handed to node:tls, which closes without"
         " an alert (rustls: NoSignatureSchemesInCommon)",
         lambda: raw(address, hello(exts=exts(
             sigalgs=ext(EXT_SIGALGS, vec(2, u16(RSA_PKCS1_SHA1))))))),
        ("x25519 key share of 31 bytes", ["illegal_parameter"],
         "RFC 8446 §4.2.8.2; Go: illegal_parameter",
         lambda: raw(address, hello(exts=exts(key_share=share(X25519, os.urandom(31)))))),
        ("x25519 key share all zero (low order: shared secret zero)", ["illegal_parameter"],
         "RFC 7748 §6.1 / RFC 8446 §7.4.2; Go: illegal_parameter",
         lambda: raw(address, hello(exts=exts(key_share=share(X25519, bytes(32)))))),
        ("key share for a group not in supported_groups", ["illegal_parameter", "server_hello"],
         "RFC 8446 §4.2.8: servers MAY check (illegal_parameter); ours serves the x25519 share",
         lambda: raw(address, hello(exts=exts(
             groups=ext(EXT_GROUPS, vec(2, u16(SECP256R1))))))),
        ("compression methods other than [null]", ["illegal_parameter"],
         "RFC 8446 §4.1.2",
         lambda: raw(address, record(ContentType.handshake, compressed_hello()))),
        ("legacy_session_id of 33 bytes", ["illegal_parameter", "decode_error"],
         "RFC 8446 §4.1.2 (<0..32>); Go: unexpected_message (unmarshal)",
         lambda: raw(address, hello(session_id=os.urandom(33)))),
        ("an extension cut short (extension block length kept consistent)", ["decode_error"],
         "RFC 8446 §6.2 decode_error",
         lambda: raw(address, record(ContentType.handshake, cut_extension()))),
        ("the same extension twice", ["illegal_parameter", "decode_error"],
         "RFC 8446 §4.2 (no alert named; Go: unexpected_message on unmarshal)",
         lambda: raw(address, hello(exts=exts() + [ext(EXT_ALPN, vec(2, vec(1, b"h2")))]))),
        ("pre_shared_key not the last extension", ["illegal_parameter"], "RFC 8446 §4.2.11",
         lambda: raw(address, hello(exts=[ext(EXT_PSK_MODES, vec(1, b"\x01")),
                                          ext(EXT_PSK, vec(2, vec(2, b"id") + b"\0\0\0\0") +
                                              vec(2, vec(1, bytes(32))))] + exts()))),
        ("zero-length handshake record before the ClientHello", ["unexpected_message"],
         "RFC 8446 §5.1; Go: unexpected_message",
         lambda: raw(address, record(ContentType.handshake, b""))),
        ("a Finished instead of the ClientHello", ["unexpected_message"],
         "RFC 8446 §6.2; Go: unexpected_message",
         lambda: raw(address, record(ContentType.handshake, b"\x14\x00\x00\x20" + bytes(32)))),
        ("plaintext application data before the handshake", ["unexpected_message"],
         "RFC 8446 §5; Go: unexpected_message",
         lambda: raw(address, record(ContentType.application_data, b"hello"))),
        ("unknown record content type 99", ["unexpected_message"], "RFC 8446 §5",
         lambda: raw(address, record(99, b"\x00\x00"))),
        ("malformed alert (3 bytes) before the ClientHello", ["decode_error"],
         "RFC 8446 §6.2 (length incorrect); Go: unexpected_message",
         lambda: raw(address, record(ContentType.alert, b"\x02\x28\x00"))),
        ("CCS before the ClientHello", ["unexpected_message"], "RFC 8446 §5",
         lambda: raw(address, record(ContentType.change_cipher_spec, b"\x01"))),
        ("ClientHello with early_data, then a 0-RTT record", ["server_hello", "bad_record_mac"],
         "RFC 8446 §4.2.10: early data refused, its records skipped, the handshake goes on"
         " (node:tls serves it); Go: bad_record_mac",
         lambda: raw(address, hello(exts=exts(early=ext(EXT_EARLY, b""))) +
                     record(ContentType.application_data, os.urandom(40), b"\x03\x03"))),
        ("a client certificate other than the trusted one", ["bad_certificate"],
         "RFC 8446 §4.4.2.4; Go: bad_certificate",
         lambda: handshake_outcome(address, other_cert, other_key)),
        ("no client certificate", ["certificate_required"],
         "RFC 8446 §4.4.2.4; Go: certificate_required",
         lambda: handshake_outcome(address, None, None)),
        ("bad client Finished", ["decrypt_error"], "RFC 8446 §4.4.4; Go: decrypt_error",
         lambda: bad_finished(*good)),
        ("record over 2^14+256 bytes of ciphertext", ["record_overflow"],
         "RFC 8446 §5.2; Go: record_overflow",
         lambda: after_handshake(*good, lambda c: send_record(
             c, ContentType.application_data, bytes(2**14 + 256)))),
        ("malformed alert (3 bytes) after the handshake", ["decode_error"],
         "RFC 8446 §6.2; Go: unexpected_message",
         lambda: after_handshake(*good, lambda c: send_record(
             c, ContentType.alert, b"\x02\x28\x00"))),
        ("malformed alert (1 byte) after the handshake", ["decode_error"],
         "RFC 8446 §6.2; Go: unexpected_message",
         lambda: after_handshake(*good, lambda c: send_record(c, ContentType.alert, b"\x02"))),
        ("CCS after the handshake", ["unexpected_message"], "RFC 8446 §5",
         lambda: after_handshake(*good, lambda c: send_record(
             c, ContentType.change_cipher_spec, b"\x01"))),
        ("KeyUpdate flood (17 in a row, no data)", ["unexpected_message"],
         "Go: 16 useless records at most, then unexpected_message",
         lambda: after_handshake(*good, lambda c: [
             list(c.send_keyupdate_request(KeyUpdateMessageType.update_not_requested))
             for _ in range(17)])),
        ("KeyUpdate with an invalid request value (2)", ["illegal_parameter"],
         "RFC 8446 §4.6.3; Go: illegal_parameter",
         lambda: after_handshake(*good, lambda c: send_record(
             c, ContentType.handshake, ku[:4] + b"\x02"))),
        ("renegotiation-like ClientHello after the handshake", ["unexpected_message"],
         "RFC 8446 §4.1.2 / §6.2; Go: unexpected_message",
         lambda: after_handshake(*good, lambda c: send_record(
             c, ContentType.handshake, client_hello()))),
        ("zero-length handshake record after the handshake", ["unexpected_message"],
         "RFC 8446 §5.1; Go: unexpected_message",
         lambda: after_handshake(*good, lambda c: send_record(c, ContentType.handshake, b""))),
        ("truncated KeyUpdate (header says 1 byte, none follows) then close_notify",
         ["unexpected_message"], "RFC 8446 §5.1: no other record inside a handshake message",
         lambda: after_handshake(*good, lambda c: (
             send_record(c, ContentType.handshake, ku[:4]),
             send_record(c, ContentType.alert, b"\x01\x00")))),
        ("records after close_notify are not read", ["close_notify", "closed"],
         "RFC 8446 §6.1: the server answers close_notify and reads nothing after it",
         lambda: after_handshake(*good, lambda c: (
             send_record(c, ContentType.alert, b"\x01\x00"),
             send_record(c, ContentType.application_data, H2_PREFACE)))),
        ("benign again: the plugin still serves after all that", ["h2"], "no state leaked",
         lambda: h2_exchange(handshake(*good))),
    ]


def compressed_hello():
    body = bytearray(client_hello())
    # After type(1) length(3) version(2) random(32) session_id(1+32) suites(2+2): methods.
    at = 4 + 2 + 32 + 1 + 32 + 2 + 2
    assert body[at] == 1 and body[at + 1] == 0
    body[at + 1] = 1  # DEFLATE
    return bytes(body)


def cut_extension():
    """A ClientHello whose ALPN extension's own length overruns it; outer lengths consistent."""
    alpn = ext(EXT_ALPN, b"\x00\x10\x02h2")  # list length 16, 3 bytes present
    return client_hello(exts=extensions(alpn=alpn))


def main():
    address, cert_path, key_path, other_cert_path, other_key_path = sys.argv[1:6]
    only = sys.argv[6] if len(sys.argv) > 6 else None
    read = lambda p: open(p).read()
    cert, key, other_cert, other_key = map(read, (cert_path, key_path, other_cert_path,
                                                  other_key_path))
    failed = 0
    for name, expect, why, thunk in cases(address, cert, key, other_cert, other_key):
        if only and only not in name:
            continue
        try:
            got = thunk()
        except socket.timeout:
            got = "timeout: the server neither answered nor closed"
        except Exception as err:  # what went wrong is the case's result
            got = f"error: {type(err).__name__}: {err}"
            traceback.print_exc()
        ok = got in expect
        failed += not ok
        print(json.dumps({"name": name, "expect": expect, "got": got, "ok": ok, "why": why}),
              flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
