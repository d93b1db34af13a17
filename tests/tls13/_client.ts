/**
 * A TLS 1.3 client for tests, made of tls13/'s own parts, that can break
 * what a real client never would: a wrong CertificateVerify, a wrong
 * Finished, another certificate, or none.
 *
 * @module
 */

import { ContentType, HandshakeType } from "../../tls13/constants.ts";
import {
  applicationSecrets,
  finishedVerifyData,
  handshakeSecrets,
  trafficKeys,
  Transcript,
} from "../../tls13/key_schedule.ts";
import {
  certificate,
  certificateVerify,
  finished,
  HandshakeAssembler,
  handshakeMessage,
  Reader,
  signedContent,
} from "../../tls13/messages.ts";
import { RecordLayer } from "../../tls13/record.ts";
import { ecdsaSignatureDer } from "../../tls/_der.ts";
import { clientHelloBody, goodExtensions } from "./_hello.ts";

/** What to break. */
export interface ClientFaults {
  /** Send this certificate instead (an empty list when null). */
  certDer?: Uint8Array | null;
  /** Flip a bit of the CertificateVerify signature. */
  badSignature?: boolean;
  /** Flip a bit of Finished. */
  badFinished?: boolean;
  /**
   * Before sending its flight, wait for the server's first application data
   * (0.5-RTT) and put it in `halfRtt` of the result. A server that sends
   * none before it has checked the client's flight (ours) leaves this client
   * waiting until its handshake times out: "server closed".
   */
  readHalfRtt?: boolean;
  /**
   * Write each message of the flight (Certificate, CertificateVerify,
   * Finished) in a write of its own, as clients whose TLS stack writes as it
   * goes do (not one write for all), awaiting this after each but the last.
   */
  splitFlight?: (sock: Deno.Conn) => Promise<void>;
}

/** The HTTP/2 preface and an empty SETTINGS frame. */
export const H2_PREFACE: Uint8Array = new Uint8Array([
  ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  ...[0, 0, 0, 4, 0, 0, 0, 0, 0],
]);

/** HTTP/2 frames in `bytes` as [type, flags], as far as whole frame headers go. */
function frameKinds(bytes: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    out.push([bytes[at + 3], bytes[at + 4]]);
    at += 9 + ((bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2]);
  }
  return out;
}

/**
 * Whether `bytes` holds only what an HTTP/2 server sends before it read
 * anything of the client's: SETTINGS (not an ACK) and WINDOW_UPDATE frames.
 */
export function onlyServerPreface(bytes: Uint8Array): boolean {
  return frameKinds(bytes).every(([type, flags]) =>
    (type === 4 && (flags & 1) === 0) || type === 8
  );
}

/**
 * Connects with Deno's TLS client (rustls), completes the handshake and
 * sends HTTP/2's preface: served when the server acknowledges the client's
 * SETTINGS (it read them), else the error (TLS 1.3 shows a refused client
 * certificate on a read, after what the server may send as 0.5-RTT data:
 * its own SETTINGS).
 */
export async function tryServe(
  port: number,
  caPem: string,
  client?: { certPem: string; keyPem: string },
): Promise<{ alpn?: string | null; error?: string }> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [caPem],
      alpnProtocols: ["h2"],
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });
    const info = await conn.handshake();
    await conn.write(H2_PREFACE);
    let got = new Uint8Array(0);
    while (got.length < 1 << 16) {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      if (n === null) return { error: "closed by the server" };
      got = new Uint8Array([...got, ...buf.subarray(0, n)]);
      const kinds = frameKinds(got);
      if (kinds.some(([type, flags]) => type === 4 && (flags & 1) === 1)) {
        return { alpn: info.alpnProtocol };
      }
      if (!onlyServerPreface(got)) return { error: `not an HTTP/2 server preface: ${got}` };
    }
    return { error: "no SETTINGS acknowledgement in 64 KiB" };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed by the peer
    }
  }
}

/**
 * Connects, runs the handshake with the host's certificate and P-521 key
 * (or the faults), sends the HTTP/2 preface and returns the first record the
 * server sent after its own HTTP/2 preface (which it may send as 0.5-RTT
 * data, before checking the client's flight): its content type and content
 * (an alert: [level, code]); `preface`, the application data before it.
 */
export async function handshakeAndRead(
  port: number,
  host: { certDer: Uint8Array; privateKey: CryptoKey },
  faults: ClientFaults = {},
): Promise<{ type: number; data: Uint8Array; preface: Uint8Array; halfRtt?: Uint8Array } | null> {
  const sock = await Deno.connect({ hostname: "127.0.0.1", port });
  const layer = new RecordLayer(sock);
  try {
    const keys = await crypto.subtle.generateKey({ name: "X25519" }, true, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const share = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
    const ch = handshakeMessage(
      HandshakeType.clientHello,
      clientHelloBody({ extensions: goodExtensions(share) }),
    );
    await layer.writeRaw(new Uint8Array([22, 3, 1, ch.length >> 8, ch.length & 0xff, ...ch]));
    const transcript = new Transcript();
    transcript.add(ch);
    const asm = new HandshakeAssembler(1 << 16);
    const nextRecord = async () => {
      while (true) {
        const type = layer.next();
        if (type) return type;
        if (!await layer.fill()) throw new Error("server closed");
      }
    };
    const nextMessage = async () => {
      while (true) {
        const m = asm.next();
        if (m) return m;
        const type = await nextRecord();
        if (type === ContentType.handshake) asm.push(layer.payload);
        else if (type === ContentType.alert) throw new Error(`alert ${layer.payload[1]}`);
      }
    };
    const sh = await nextMessage();
    transcript.add(sh.message);
    const r = new Reader(sh.body, "ServerHello");
    r.u16();
    r.bytes(32);
    r.vector(1, "sid");
    r.u16();
    r.u8();
    const exts = r.vector(2, "exts");
    let serverShare: Uint8Array | null = null;
    while (exts.left) {
      const t = exts.u16();
      const d = exts.vector(2, "ext");
      if (t === 51) {
        d.u16();
        const k = d.vector(2, "key");
        serverShare = k.bytes(k.left);
      } else d.bytes(d.left);
    }
    const peer = await crypto.subtle.importKey(
      "raw",
      serverShare! as Uint8Array<ArrayBuffer>,
      { name: "X25519" },
      false,
      [],
    );
    const shared = new Uint8Array(
      await crypto.subtle.deriveBits({ name: "X25519", public: peer }, keys.privateKey, 256),
    );
    const hs = await handshakeSecrets(shared, await transcript.hash());
    layer.setReadKeys(await trafficKeys(hs.server));
    for (let m = await nextMessage();; m = await nextMessage()) {
      transcript.add(m.message);
      if (m.type === HandshakeType.finished) break;
    }
    const app = await applicationSecrets(hs.handshakeSecret, await transcript.hash());
    let halfRtt: Uint8Array | undefined;
    if (faults.readHalfRtt) {
      layer.setReadKeys(await trafficKeys(app.server));
      if (await nextRecord() !== ContentType.applicationData) throw new Error("not 0.5-RTT data");
      halfRtt = layer.payload.slice();
    }
    layer.setWriteKeys(await trafficKeys(hs.client));
    const certDer = faults.certDer === undefined ? host.certDer : faults.certDer;
    const cert = certDer
      ? certificate(certDer)
      : handshakeMessage(HandshakeType.certificate, new Uint8Array([0, 0, 0, 0]));
    transcript.add(cert);
    const flight = [cert];
    if (certDer) {
      const raw = new Uint8Array(
        await crypto.subtle.sign(
          { name: "ECDSA", hash: "SHA-512" },
          host.privateKey,
          signedContent("client", await transcript.hash()) as Uint8Array<ArrayBuffer>,
        ),
      );
      if (faults.badSignature) raw[10] ^= 1;
      const cv = certificateVerify(0x0603, ecdsaSignatureDer(raw));
      transcript.add(cv);
      flight.push(cv);
    }
    const verify = await finishedVerifyData(hs.client, await transcript.hash());
    if (faults.badFinished) verify[0] ^= 1;
    flight.push(finished(verify));
    if (faults.splitFlight) {
      for (const [i, m] of flight.entries()) {
        await layer.send(ContentType.handshake, m);
        if (i < flight.length - 1) await faults.splitFlight(sock);
      }
    } else {
      await layer.send(ContentType.handshake, new Uint8Array(flight.flatMap((m) => [...m])));
    }
    layer.setWriteKeys(await trafficKeys(app.client));
    if (!halfRtt) layer.setReadKeys(await trafficKeys(app.server));
    await layer.send(ContentType.applicationData, H2_PREFACE);
    let preface = new Uint8Array(0);
    try {
      while (true) {
        const type = await nextRecord();
        const data = layer.payload.slice();
        const more = new Uint8Array([...preface, ...data]);
        if (type !== ContentType.applicationData || !onlyServerPreface(more)) {
          return { type, data, preface, ...(halfRtt ? { halfRtt } : {}) };
        }
        preface = more;
      }
    } catch {
      return null;
    }
  } finally {
    layer.close();
  }
}
