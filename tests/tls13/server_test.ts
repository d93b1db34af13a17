/**
 * Our TLS 1.3 server through the native engine's AutoMTLS bind: a rustls
 * client (Deno.connectTls) with the host's certificate is served HTTP/2 on
 * the fast path; every refusal sends the alert RFC 8446 names and is logged
 * once at DEBUG with its reason (no certificate → certificate_required,
 * another one → bad_certificate, a bad CertificateVerify or Finished →
 * decrypt_error, an oversized ClientHello → illegal_parameter, an oversized
 * record → record_overflow, garbage → unexpected_message, ALPN without h2 →
 * no_application_protocol, silence → the handshake timeout); a ClientHello
 * without ChaCha20 is handed to node:tls with its bytes replayed; the count of
 * handshakes under way is bounded.
 *
 * @module
 */

import { createNativeEngine } from "../../server/engines/native.ts";
import { createLogger } from "../../log/logger.ts";
import { makeAutoCertificate } from "../../tls/autocert.ts";
import { setUpAutoMtls } from "../../tls/automtls.ts";
import type { KeyType } from "../../tls/cert.ts";
import { run, withTempDir } from "../_util/host.ts";
import { AlertDescription, MAX_CONCURRENT_HANDSHAKES } from "../../tls13/constants.ts";
import { vector } from "../../tls13/messages.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { clientHello, goodExtensions } from "./_hello.ts";
import { handshakeAndRead, onlyServerPreface, tryServe } from "./_client.ts";
import { acceptTls13 } from "../../tls13/server.ts";
import { tls13ConfigOf } from "../../tls13/config.ts";
import type { Verifier } from "../../tls13/signatures.ts";

async function setUp(prefaceTimeoutMs = 10_000, keyType: KeyType = "ecdsa-p256") {
  const lines: string[] = [];
  let written = Promise.withResolvers<void>();
  const engine = createNativeEngine({
    maxMessageBytes: 1 << 20,
    logger: createLogger({
      level: "debug",
      write: (l) => {
        lines.push(l);
        written.resolve();
        written = Promise.withResolvers<void>();
      },
    }),
    http2: { prefaceTimeoutMs },
  });
  const host = await makeAutoCertificate("ecdsa-p521");
  const auto = await setUpAutoMtls(host.certPem, keyType);
  const port = (await engine.bind("tcp", "127.0.0.1:0", auto.serverTls))!;
  /**
   * Log lines with `text`, once `count` are there (the log follows the
   * socket's close), or what there is after 5 s (the callers' checks say what is missing).
   */
  const logged = async (text: string, count = 1) => {
    const found = () => lines.filter((l) => l.includes(text));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), 5_000)));
    try {
      while (found().length < count && await Promise.race([written.promise, late]) !== "late");
    } finally {
      clearTimeout(timer);
    }
    return found();
  };
  return { engine, lines, host, auto, port, logged };
}

/** The send and receive queues (bytes) of the IPv4 TCP socket `local` -> `remote`, from /proc/net/tcp. */
function tcpQueues(local: number, remote: number): { tx: number; rx: number } | undefined {
  const hexPort = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  // Through cat: Deno wants --allow-all to read /proc itself, and the test task grants --allow-run.
  const table = new TextDecoder().decode(
    new Deno.Command("cat", { args: ["/proc/net/tcp"], stderr: "inherit" }).outputSync().stdout,
  );
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hexPort(local)}`) && f[2]?.endsWith(`:${hexPort(remote)}`)) {
      const [tx, rx] = f[4].split(":").map((h) => parseInt(h, 16));
      return { tx, rx };
    }
  }
}

/**
 * Waits until the server has read all that `sock` sent: our send queue is
 * empty (the server's kernel acknowledged it) and so is the server's
 * receive queue (its read took it). Fails after 5 s.
 */
async function serverHasRead(sock: Deno.Conn, serverPort: number): Promise<void> {
  const ours = (sock.localAddr as Deno.NetAddr).port;
  const end = Date.now() + 5_000;
  while (true) {
    const client = tcpQueues(ours, serverPort);
    const server = tcpQueues(serverPort, ours);
    if (client?.tx === 0 && server?.rx === 0) return;
    if (Date.now() > end) {
      throw new Error(
        `the server did not read what was sent: ${JSON.stringify({ client, server })}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Writes raw bytes, then reads what comes back until the server closes. */
async function rawExchange(port: number, bytes: Uint8Array): Promise<Uint8Array> {
  const sock = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await sock.write(bytes);
    const out: number[] = [];
    const buf = new Uint8Array(4096);
    while (true) {
      let n: number | null;
      try {
        n = await sock.read(buf);
      } catch {
        break; // reset after the alert
      }
      if (n === null) break;
      out.push(...buf.subarray(0, n));
    }
    return new Uint8Array(out);
  } finally {
    sock.close();
  }
}

/** A plaintext record. */
const record = (type: number, body: Uint8Array) =>
  new Uint8Array([type, 3, 1, body.length >> 8, body.length & 0xff, ...body]);

/** A plaintext fatal alert record as we send it. */
const alertRecord = (code: number) => [21, 3, 3, 0, 2, 2, code];

// P-256, and Ed25519: its CertificateVerify is scheme ed25519 (0x0807), which rustls checks against the key.
for (const keyType of ["ecdsa-p256", "ed25519"] as const) {
  Deno.test(`tls13 server: rustls with the host's certificate gets HTTP/2 on our fast path (${keyType} key)`, async () => {
    const { engine, host, auto, port, logged, lines } = await setUp(10_000, keyType);
    try {
      assertEquals(auto.keyType, keyType);
      const r = await tryServe(port, auto.serverTls.certPem, host);
      assertEquals(r, { alpn: "h2" });
      assertEquals((await logged("TLS 1.3 handshake (rpcplugin)")).length, 1);
      assert(!lines.some((l) => l.includes("node:tls")), lines.join("\n"));
    } finally {
      await engine.shutdown(0);
    }
  });
}

Deno.test("tls13 server: with an Ed25519 key, a client without ChaCha20 or x25519 completes its handshake on node:tls (openssl s_client)", async () => {
  const { engine, host, auto, port, logged } = await setUp(10_000, "ed25519");
  try {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/host.pem`, host.certPem);
      await Deno.writeTextFile(`${dir}/host.key`, host.keyPem);
      await Deno.writeTextFile(`${dir}/ours.pem`, auto.serverTls.certPem);
      const common = [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-tls1_3",
        "-alpn",
        "h2",
        "-cert",
        `${dir}/host.pem`,
        "-key",
        `${dir}/host.key`,
        "-CAfile",
        `${dir}/ours.pem`,
        "-verify_return_error",
      ];
      // No ChaCha20, then no x25519: both are node:tls's (rustls's) to serve.
      for (const extra of [["-ciphersuites", "TLS_AES_128_GCM_SHA256"], ["-groups", "P-256"]]) {
        const r = await run("openssl", [...common, ...extra]);
        const where = `openssl ${extra.join(" ")}: ${r.stdout}\n${r.stderr}`;
        assertEquals(r.code, 0, where);
        assert(r.stdout.includes("Verify return code: 0 (ok)"), where);
        assert(/Peer signature type: ed25519/i.test(r.stdout), where);
        assert(r.stdout.includes("ALPN protocol: h2"), where);
      }
    });
    const handed = await logged("TLS handshake handed to node:tls", 2);
    assert(handed[0].includes("TLS_CHACHA20_POLY1305_SHA256"), handed[0]);
    assert(handed[1].includes("x25519"), handed[1]);
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: no client certificate → certificate_required; another → bad_certificate", async () => {
  const { engine, auto, port, logged } = await setUp();
  try {
    const none = await tryServe(port, auto.serverTls.certPem);
    assert(none.error, `served without a certificate: ${JSON.stringify(none)}`);
    const [refusal] = await logged("TLS handshake refused");
    assert(refusal.includes("certificate_required"), refusal);
    const stranger = await makeAutoCertificate("ecdsa-p256");
    const other = await tryServe(port, auto.serverTls.certPem, stranger);
    assert(other.error, "served another certificate");
    const refusals = await logged("TLS handshake refused", 2);
    assert(refusals[1].includes("bad_certificate"), refusals[1]);
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: a bad CertificateVerify or Finished → decrypt_error; good ones → HTTP/2", async () => {
  const { engine, host, port, logged } = await setUp();
  try {
    // Our SETTINGS come as 0.5-RTT data; what shows the client's data was read (its
    // SETTINGS acknowledged) comes only after a good flight.
    const good = await handshakeAndRead(port, host);
    assertEquals(good?.type, 23, "application data (SETTINGS ACK) after a good handshake");
    assertEquals([good!.data[3], good!.data[4]], [4, 1]);
    assert(good!.preface.length > 0 && good!.preface[3] === 4, "our SETTINGS first");
    const badSig = await handshakeAndRead(port, host, { badSignature: true });
    assertEquals([badSig?.type, ...badSig!.data], [21, 2, AlertDescription.decryptError]);
    const badFin = await handshakeAndRead(port, host, { badFinished: true });
    assertEquals([badFin?.type, ...badFin!.data], [21, 2, AlertDescription.decryptError]);
    const none = await handshakeAndRead(port, host, { certDer: null });
    assertEquals([none?.type, ...none!.data], [21, 2, AlertDescription.certificateRequired]);
    const refusals = await logged("TLS handshake refused", 3);
    assert(refusals[0].includes("CertificateVerify signature does not verify"), refusals[0]);
    assert(refusals[1].includes("Finished does not verify"), refusals[1]);
    assertEquals(refusals.length, 3, "each refusal logged once");
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: our SETTINGS go out as 0.5-RTT data once the client's flight is read, before it is checked; nothing of the client's is read until it is", async () => {
  const { engine, host, port } = await setUp(2000);
  try {
    // A client waiting for data before it sends its flight gets none: the handshake times out.
    const waited = await handshakeAndRead(port, host, { readHalfRtt: true }).catch((e) => e);
    assert(waited instanceof Error && waited.message === "server closed", String(waited));
    // The host's certificate with a bad signature or Finished: our SETTINGS (only what a
    // server sends before it reads anything), then the alert. The client's preface and
    // SETTINGS, sent after its flight, are never read (no ACK).
    for (const faults of [{ badSignature: true }, { badFinished: true }]) {
      const bad = await handshakeAndRead(port, host, faults);
      const what = JSON.stringify(faults);
      assert(bad && onlyServerPreface(bad.preface), `${what}: ${bad?.preface}`);
      assertEquals(bad.preface[3], 4, `${what}: SETTINGS first`);
      assertEquals([bad.type, ...bad.data], [21, 2, AlertDescription.decryptError], what);
    }
    // Another certificate, or none: refused as it is read, before anything is sent.
    for (
      const [certDer, alert] of [
        [null, AlertDescription.certificateRequired],
        [host.certDer.slice(0, -1), AlertDescription.badCertificate],
      ] as const
    ) {
      const bad = await handshakeAndRead(port, host, { certDer });
      assertEquals([bad?.type, ...bad!.data, bad!.preface.length], [21, 2, alert, 0]);
    }
    // A good one: our SETTINGS first, then the acknowledgement of the client's.
    const good = await handshakeAndRead(port, host);
    assert(good && good.preface.length > 0 && onlyServerPreface(good.preface), "SETTINGS first");
    assertEquals([good.type, good.data[3], good.data[4]], [23, 4, 1], "then the SETTINGS ACK");
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: a refused certificate's alert reaches a client writing its flight in separate writes (no reset)", async () => {
  const { engine, host, port } = await setUp();
  try {
    // The client writes its Certificate, and the rest of its flight once our alert has
    // arrived. Before, the socket was closed at once after the alert: the kernel answered
    // the client's next write with a reset, and its write after failed (EPIPE) before it
    // read our alert.
    const alertArrived = async (sock: Deno.Conn) => {
      const ours = (sock.localAddr as Deno.NetAddr).port;
      const end = Date.now() + 5_000;
      while (!(tcpQueues(ours, port)?.rx! > 0)) {
        if (Date.now() > end) throw new Error("no alert arrived within 5 s");
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    for (
      const [certDer, alert] of [
        [null, AlertDescription.certificateRequired],
        [host.certDer.slice(0, -1), AlertDescription.badCertificate],
      ] as const
    ) {
      const bad = await handshakeAndRead(port, host, { certDer, splitFlight: alertArrived })
        .catch((e: Error) => e);
      assert(!(bad instanceof Error), `the client's write failed: ${bad}`);
      assertEquals([bad?.type, ...(bad?.data ?? [])], [21, 2, alert]);
    }
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: malformed or oversized input gets the RFC's alert, logged once", async () => {
  const { engine, port, logged } = await setUp();
  try {
    // A ClientHello announcing more than 64 KiB.
    const big = await rawExchange(port, record(22, new Uint8Array([1, 0x01, 0x00, 0x01])));
    assertEquals([...big], alertRecord(AlertDescription.illegalParameter));
    // A plaintext record over 2^14.
    const over = await rawExchange(port, new Uint8Array([22, 3, 1, 0x40, 0x01]));
    assertEquals([...over], alertRecord(AlertDescription.recordOverflow));
    // HTTP/1 or plaintext HTTP/2 instead of TLS.
    const h1 = await rawExchange(port, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    assertEquals([...h1], alertRecord(AlertDescription.unexpectedMessage));
    // A truncated ClientHello body (its own lengths overflow).
    const ch = clientHello();
    ch[4 + 2 + 32] = 200; // session id length past the end
    const trunc = await rawExchange(port, record(22, ch));
    assertEquals([...trunc], alertRecord(AlertDescription.decodeError));
    // ALPN without h2.
    const exts = goodExtensions();
    exts[3] = [16, vector(2, vector(1, new TextEncoder().encode("http/1.1")))];
    const alpn = await rawExchange(port, record(22, clientHello({ extensions: exts })));
    assertEquals([...alpn], alertRecord(AlertDescription.noApplicationProtocol));
    // change_cipher_spec before the ClientHello (its bytes would be kept for the fallback).
    const ccs = await rawExchange(port, new Uint8Array([20, 3, 3, 0, 1, 1]));
    assertEquals([...ccs], alertRecord(AlertDescription.unexpectedMessage));
    // No signature_algorithms in a TLS 1.3 ClientHello.
    const noSig = goodExtensions().filter(([t]) => t !== 13);
    const missing = await rawExchange(port, record(22, clientHello({ extensions: noSig })));
    assertEquals([...missing], alertRecord(AlertDescription.missingExtension));
    // An alert record of 3 bytes (an alert is 2) before the ClientHello.
    const alert3 = await rawExchange(port, record(21, new Uint8Array([2, 40, 0])));
    assertEquals([...alert3], alertRecord(AlertDescription.decodeError));
    const refusals = await logged("TLS handshake refused", 8);
    assertEquals(refusals.length, 8, refusals.join("\n"));
    for (
      const [i, name] of [
        "illegal_parameter",
        "record_overflow",
        "unexpected_message",
        "decode_error",
        "no_application_protocol",
        "change_cipher_spec before the ClientHello",
        "missing_extension",
        "malformed alert record",
      ].entries()
    ) {
      assert(refusals[i].includes(name), `${name}: ${refusals[i]}`);
    }
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: a ClientHello without TLS_CHACHA20_POLY1305_SHA256 is served by node:tls, bytes replayed", async () => {
  const { engine, port, logged } = await setUp();
  try {
    const share = new Uint8Array(32).fill(9);
    share[0] = 8;
    const hello = clientHello({ suites: [0x1301], extensions: goodExtensions(share) });
    const sock = await Deno.connect({ hostname: "127.0.0.1", port });
    // Split across writes, the server reading the first before the rest is sent: the
    // fallback gets every byte read, not just the last read.
    const bytes = record(22, hello);
    await sock.write(bytes.subarray(0, 3));
    await serverHasRead(sock, port);
    await sock.write(bytes.subarray(3));
    const buf = new Uint8Array(200);
    let n = 0;
    while (n < 50) {
      const got = await sock.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    sock.close();
    // node:tls's ServerHello: a handshake record, message type 2, suite TLS_AES_128_GCM_SHA256.
    assertEquals(buf[0], 22);
    assertEquals(buf[5], 2);
    const sidLen = buf[5 + 4 + 2 + 32];
    const suiteAt = 5 + 4 + 2 + 32 + 1 + sidLen;
    assertEquals([buf[suiteAt], buf[suiteAt + 1]], [0x13, 0x01]);
    const [line] = await logged("TLS handshake handed to node:tls");
    assert(line.includes("TLS_CHACHA20_POLY1305_SHA256"), line);
  } finally {
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: the handshake timeout closes a silent client; the count under way is bounded (the oldest makes room)", async () => {
  const { engine, port, logged } = await setUp(300);
  const socks: Deno.Conn[] = [];
  try {
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    const t0 = performance.now();
    assertEquals(await silent.read(new Uint8Array(10)).catch(() => null), null);
    silent.close();
    const waited = performance.now() - t0;
    assert(waited >= 250 && waited < 3000, `closed after ${waited} ms`);
    const [line] = await logged("no TLS handshake within 300 ms");
    assert(line, "timeout logged");

    for (let i = 0; i < MAX_CONCURRENT_HANDSHAKES; i++) {
      socks.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    // Each sent a byte: they are in the handshake (so counted) once the server read it.
    for (const s of socks) await s.write(new Uint8Array([22]));
    // One more: the oldest handshake makes room (silent peers cannot keep the host out).
    const extra = await Deno.connect({ hostname: "127.0.0.1", port });
    socks.push(extra);
    assertEquals(await socks[0].read(new Uint8Array(10)).catch(() => null), null, "oldest closed");
    const [bound] = await logged("TLS handshakes under way: closing the oldest");
    assert(bound, "the bound is logged");
  } finally {
    for (const s of socks) s.close();
    await engine.shutdown(0);
  }
});

Deno.test("tls13 server: whileVerifying runs once, while the client's signature check is under way", async () => {
  const host = await makeAutoCertificate("ecdsa-p521");
  const auto = await setUpAutoMtls(host.certPem, "ecdsa-p256");
  const cfg = (await tls13ConfigOf(auto.serverTls))!;
  let checking = 0;
  const seen: number[] = [];
  const verifier: Verifier = {
    schemes: cfg.verifier.schemes,
    verify: (scheme, content, signature) => {
      checking++;
      return cfg.verifier.verify(scheme, content, signature).finally(() => checking--);
    },
  };
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept().then((sock) =>
      acceptTls13(sock, { ...cfg, verifier }, 5_000, { whileVerifying: () => seen.push(checking) })
    );
    const client = handshakeAndRead((listener.addr as Deno.NetAddr).port, host);
    const result = await accepted;
    assertEquals(seen, [1], "called once, while the check was under way");
    assertEquals(result.kind, "tls");
    // No HTTP/2 here: our close_notify is the first record after the handshake.
    if (result.kind === "tls") result.conn.close();
    const closed = await client;
    assertEquals([closed?.type, ...closed!.data], [21, 1, AlertDescription.closeNotify]);
  } finally {
    listener.close();
  }
});
