/**
 * Our TLS 1.3 server (RFC 8446), for AutoMTLS only: one cipher suite
 * (TLS_CHACHA20_POLY1305_SHA256), x25519 from the ClientHello's key share
 * (no HelloRetryRequest), ALPN h2, no PSK, tickets or 0-RTT, a client
 * certificate required that must be the host's certificate byte for byte.
 * What the layer above writes while the client's signature is checked (its
 * HTTP/2 SETTINGS) goes out as 0.5-RTT data; nothing of the client's is
 * read by it until the client is authenticated.
 * A ClientHello asking for anything else is handed back untouched (with the
 * bytes read) for another TLS stack to serve: `fallback`.
 *
 * {@linkcode acceptTls13} runs the handshake; its result's
 * {@linkcode Tls13Connection} is an HTTP/2 transport.
 *
 * @module
 */

import {
  AlertDescription,
  ALPN_H2,
  CHACHA20_POLY1305_SHA256,
  ContentType,
  HandshakeType,
  MAX_HANDSHAKE_MESSAGE,
  TLS13,
  X25519,
} from "./constants.ts";
import { cryptoWasmAvailable } from "./crypto_wasm.ts";
import { TlsAlertError, TlsPeerAlertError } from "./errors.ts";
import {
  applicationSecrets,
  derivedEarly,
  deriveMasterSecret,
  equalConstantTime,
  finishedKey,
  finishedVerifyData,
  handshakeSecrets,
  nextTrafficSecret,
  type TrafficKeys,
  trafficKeys,
  Transcript,
} from "./key_schedule.ts";
import {
  certificate,
  certificateRequest,
  certificateVerify,
  type ClientHello,
  encryptedExtensions,
  finished,
  HandshakeAssembler,
  keyUpdate,
  parseCertificate,
  parseCertificateVerify,
  parseClientHello,
  parseKeyUpdate,
  serverHello,
  signedContent,
} from "./messages.ts";
import { type ByteStream, RecordLayer } from "./record.ts";
import { type Signer, VERIFIED_SCHEMES, type Verifier } from "./signatures.ts";
import { after } from "../_timer.ts";
import { concat } from "./_bytes.ts";

/** What the server needs: our certificate and signer, the host's certificate and verifier. */
export interface Tls13Config {
  /** Our certificate, DER. */
  certDer: Uint8Array;
  /** Signs our CertificateVerify. */
  signer: Signer;
  /** The only client certificate accepted (the host's, from `PLUGIN_CLIENT_CERT`), DER. */
  clientCertDer: Uint8Array;
  /** Verifies the client's CertificateVerify with that certificate's key. */
  verifier: Verifier;
}

/** What the layer above may do while a handshake is under way. */
export interface Tls13Hooks {
  /**
   * Called once the client has sent the host's certificate and its
   * CertificateVerify is being checked (the application keys made), with
   * the connection a "tls" result will hold: what is written to it goes
   * out at once, as 0.5-RTT data (RFC 8446 §4.4.4: to a client not yet
   * authenticated, so only what does not depend on it, such as an HTTP/2
   * server's SETTINGS). Feed nothing of the connection's reads to the layer
   * above until the result is "tls": the handshake reads them meanwhile. On
   * any other result the connection is closed (write nothing more to it).
   */
  onWritable?(conn: Tls13Connection): void;
  /**
   * Called after `onWritable`, while the client's CertificateVerify is
   * checked (WebCrypto, off the main thread), which the main thread
   * otherwise waits for: short work only (it holds up the rest of the
   * handshake). What it throws is ignored.
   */
  whileVerifying?(): void;
}

/** How a handshake ended. */
export type Tls13Result =
  | {
    kind: "tls";
    /** The connection, ready for HTTP/2. */
    conn: Tls13Connection;
    /** The client's certificate, DER. */
    peerCertificate: Uint8Array;
    /** Milliseconds from the first byte read to the client's Finished checked. */
    ms: number;
  }
  | {
    kind: "fallback";
    /** Why this ClientHello is not for us. */
    reason: string;
    /** Every byte read from the socket: replay them to the other TLS stack first. */
    prefix: Uint8Array;
  }
  | {
    kind: "refused";
    /** Why, for the log. */
    reason: string;
  };

/**
 * Why a ClientHello is outside what we serve (another stack can serve it),
 * or null when it is ours.
 *
 * @throws {TlsAlertError} missing_extension or no_application_protocol when
 * no TLS stack could serve it.
 */
export function fallbackReason(hello: ClientHello, ourScheme: number): string | null {
  if (!hello.supportedVersions?.includes(TLS13)) return "the client does not offer TLS 1.3";
  if (!hello.cipherSuites.includes(CHACHA20_POLY1305_SHA256)) {
    return "the client does not offer TLS_CHACHA20_POLY1305_SHA256";
  }
  if (!hello.signatureAlgorithms) {
    throw new TlsAlertError(
      AlertDescription.missingExtension,
      "TLS 1.3 ClientHello without signature_algorithms",
    );
  }
  if (!hello.supportedGroups !== !hello.keyShareSent) {
    throw new TlsAlertError(
      AlertDescription.missingExtension,
      "TLS 1.3 ClientHello with only one of supported_groups and key_share",
    );
  }
  if (!hello.x25519Share) {
    return hello.supportedGroups?.includes(X25519)
      ? "no x25519 key share (a HelloRetryRequest would be needed)"
      : "the client does not offer x25519";
  }
  if (hello.earlyData) return "the client offers 0-RTT early data";
  if (!hello.signatureAlgorithms.includes(ourScheme)) {
    return `the client does not accept our certificate's signature scheme 0x${
      ourScheme.toString(16)
    }`;
  }
  if (!hello.alpn) return "the client offers no ALPN protocol";
  if (!hello.alpn.includes(ALPN_H2)) {
    throw new TlsAlertError(
      AlertDescription.noApplicationProtocol,
      `the client's ALPN protocols (${hello.alpn.join(", ")}) do not include h2`,
    );
  }
  return null;
}

/** change_cipher_spec records taken during a handshake (RFC 8446 §5 lets a peer send one). */
const MAX_CCS_RECORDS = 16;
/**
 * Records in a row that carry no application data after the handshake (empty
 * application data, user_canceled alerts, KeyUpdates: each costs us work, the
 * last two key derivations): more and the peer is only making us spin, as Go's
 * crypto/tls also judges.
 */
const MAX_USELESS_RECORDS = 16;
/** A non-handshake record between the pieces of a handshake message (RFC 8446 §5.1). */
const interleaved = (): TlsAlertError =>
  new TlsAlertError(
    AlertDescription.unexpectedMessage,
    "a record of another type between the pieces of a handshake message",
  );

/** Thrown when the peer ends the stream mid-handshake. */
class PeerClosed extends Error {}

/** Reads handshake messages, and what may come between them during the handshake. */
class HandshakeReader {
  readonly #layer: RecordLayer;
  readonly #asm = new HandshakeAssembler(MAX_HANDSHAKE_MESSAGE);
  #messages = 0;
  #ccs = 0;

  constructor(layer: RecordLayer) {
    this.#layer = layer;
  }

  /** Whether part of a message is still buffered (not allowed at a key change). */
  get pending(): boolean {
    return this.#asm.pending > 0;
  }

  /** The next handshake message. */
  async next(): Promise<{ type: number; message: Uint8Array; body: Uint8Array }> {
    const layer = this.#layer;
    while (true) {
      const msg = this.#asm.next();
      if (msg) {
        this.#messages++;
        return msg;
      }
      let type: number;
      while ((type = layer.next()) === 0) {
        if (!await layer.fill()) {
          throw new PeerClosed("the peer closed the connection during the TLS handshake");
        }
      }
      const p = layer.payload;
      if (type !== ContentType.handshake && this.#asm.pending > 0) throw interleaved();
      switch (type) {
        case ContentType.handshake:
          this.#asm.push(p);
          break;
        case ContentType.changeCipherSpec:
          // Middlebox compatibility (RFC 8446 §5): one byte 0x01, ignored, after the
          // ClientHello; a few of them (each is 6 bytes of the peer's that we drop).
          if (p.length !== 1 || p[0] !== 1 || !this.#messages || ++this.#ccs > MAX_CCS_RECORDS) {
            throw new TlsAlertError(
              AlertDescription.unexpectedMessage,
              !this.#messages
                ? "change_cipher_spec before the ClientHello"
                : p.length !== 1 || p[0] !== 1
                ? "malformed change_cipher_spec"
                : `over ${MAX_CCS_RECORDS} change_cipher_spec records`,
            );
          }
          break;
        case ContentType.alert:
          if (p.length !== 2) throw malformedAlert(p.length);
          throw new TlsPeerAlertError(p[1]);
        default:
          throw new TlsAlertError(
            AlertDescription.unexpectedMessage,
            "application data before the client's Finished",
          );
      }
    }
  }
}

/**
 * An alert record is exactly one Alert, two bytes (RFC 8446 §5.1, §6): any other length
 * cannot be decoded, so decode_error (§6.2: "the length of the message was incorrect").
 * Go's crypto/tls sends unexpected_message here; either is an answer, not a silent close.
 */
function malformedAlert(length: number): TlsAlertError {
  return new TlsAlertError(
    AlertDescription.decodeError,
    `malformed alert record (${length} bytes, an alert is 2)`,
  );
}

function expect(msg: { type: number }, type: number, name: string): void {
  if (msg.type !== type) {
    throw new TlsAlertError(
      AlertDescription.unexpectedMessage,
      `expected ${name}, got handshake message type ${msg.type}`,
    );
  }
}

/** Our x25519 key pair and its public key, made while the ClientHello arrives. */
async function x25519Pair(): Promise<{ keys: CryptoKeyPair; ours: Uint8Array }> {
  const keys = await crypto.subtle.generateKey({ name: "X25519" }, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  return { keys, ours: new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey)) };
}

/** Waits for `p` to settle, whichever way. */
const settled = (p: Promise<unknown>): Promise<void> => p.then(() => {}, () => {});

/** The x25519 shared secret with the client's key share. */
async function x25519Shared(keys: CryptoKeyPair, peerShare: Uint8Array): Promise<Uint8Array> {
  let bits: ArrayBuffer;
  try {
    const peer = await crypto.subtle.importKey(
      "raw",
      peerShare as Uint8Array<ArrayBuffer>,
      { name: "X25519" },
      false,
      [],
    );
    bits = await crypto.subtle.deriveBits({ name: "X25519", public: peer }, keys.privateKey, 256);
  } catch (err) {
    throw new TlsAlertError(
      AlertDescription.illegalParameter,
      `the client's x25519 key share is unusable: ${(err as Error).message}`,
    );
  }
  const s = new Uint8Array(bits);
  if (s.every((b) => b === 0)) {
    throw new TlsAlertError(AlertDescription.illegalParameter, "x25519 shared secret is all zeros");
  }
  return s;
}

/** The application traffic secrets and their record keys. */
interface ApplicationKeys {
  secrets: { client: Uint8Array; server: Uint8Array };
  client: TrafficKeys;
  server: TrafficKeys;
}

/** The application secrets and keys from the transcript hash through our Finished. */
async function applicationKeys(
  handshakeSecret: Uint8Array,
  serverFinishedHash: Promise<Uint8Array>,
  master: Promise<Uint8Array>,
): Promise<ApplicationKeys> {
  const secrets = await applicationSecrets(handshakeSecret, await serverFinishedHash, master);
  const [client, server] = await Promise.all([
    trafficKeys(secrets.client),
    trafficKeys(secrets.server),
  ]);
  return { secrets, client, server };
}

/**
 * Runs the server side of a TLS 1.3 handshake on `sock`.
 *
 * @param sock The socket (owned by the result: the connection, the
 * fallback's caller, or closed when refused).
 * @param config Certificates and keys.
 * @param timeoutMs Longest the handshake may take.
 * @param hooks What the layer above does meanwhile: its 0.5-RTT writes, short
 * work while the client's signature is checked.
 * @returns The connection, a fallback with the bytes read, or a refusal
 * (the alert already sent and the socket closed).
 */
export async function acceptTls13(
  sock: ByteStream,
  config: Tls13Config,
  timeoutMs: number,
  hooks: Tls13Hooks = {},
): Promise<Tls13Result> {
  const { onWritable, whileVerifying } = hooks;
  const layer = new RecordLayer(sock);
  const pair = x25519Pair();
  // While the host's ClientHello is on its way: the record AEAD's WebAssembly module compiled
  // (synchronous, ~0.5-1 ms: after the handshake line it delayed the line), and the key
  // schedule's constant first step started.
  cryptoWasmAvailable();
  derivedEarly().catch(() => {});
  /** WebCrypto operations under way: none outlives the connection (see the catch). */
  const underWay: Promise<unknown>[] = [pair];
  const track = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => {});
    underWay.push(p);
    return p;
  };
  let timedOut = false;
  const cancel = after(timeoutMs, () => {
    timedOut = true;
    layer.close();
  });
  let started = 0;
  /** The application keys, once our Finished is written. */
  let app: Promise<ApplicationKeys> | undefined;
  /** The connection given to `onWritable` (the application write keys installed), once made. */
  let early: Tls13Connection | null = null;
  /** `onWritable` called (or failed), when there is one. */
  let writable: Promise<void> | null = null;
  /** The handshake has failed: no connection is made for it any more. */
  let failed = false;
  try {
    const reader = new HandshakeReader(layer);
    const transcript = new Transcript();
    // ClientHello.
    const ch = await reader.next();
    started = performance.now();
    expect(ch, HandshakeType.clientHello, "ClientHello");
    const hello = parseClientHello(ch.body);
    const reason = fallbackReason(hello, config.signer.scheme);
    if (reason) {
      cancel();
      await settled(pair);
      return { kind: "fallback", reason, prefix: layer.raw() };
    }
    layer.forgetRaw();
    if (reader.pending) {
      throw new TlsAlertError(
        AlertDescription.unexpectedMessage,
        "a handshake message after the ClientHello",
      );
    }
    transcript.add(ch.message);

    // ServerHello and the server's flight, in one write. WebCrypto's operations are
    // asynchronous: what does not depend on the transcript runs beside it.
    const { keys: ephemeral, ours } = await pair;
    const shared = track(x25519Shared(ephemeral, hello.x25519Share!));
    const sh = serverHello(
      crypto.getRandomValues(new Uint8Array(32)),
      hello.sessionId,
      CHACHA20_POLY1305_SHA256,
      ours,
    );
    transcript.add(sh);
    const ee = encryptedExtensions(ALPN_H2);
    const cr = certificateRequest(VERIFIED_SCHEMES);
    const cert = certificate(config.certDer);
    const helloHash = transcript.hash();
    transcript.add(ee);
    transcript.add(cr);
    transcript.add(cert);
    // Our signature needs only the transcript: it is made beside the key schedule.
    const signature = track(
      transcript.hash().then((h) => config.signer.sign(signedContent("server", h))),
    );
    const hs = await handshakeSecrets(await shared, await helloHash);
    const serverFinishedKey = finishedKey(hs.server);
    const clientFinishedKey = finishedKey(hs.client);
    const master = deriveMasterSecret(hs.handshakeSecret);
    const hsKeys = Promise.all([trafficKeys(hs.server), trafficKeys(hs.client)]);
    for (const p of [serverFinishedKey, clientFinishedKey, master, hsKeys] as Promise<unknown>[]) {
      track(p);
    }
    const cv = certificateVerify(config.signer.scheme, await signature);
    transcript.add(cv);
    const fin = finished(
      await finishedVerifyData(hs.server, await transcript.hash(), serverFinishedKey),
    );
    transcript.add(fin);
    // The application keys are derived while the flight is sealed and written and the
    // client's is read and checked.
    const appKeys = track(applicationKeys(hs.handshakeSecret, transcript.hash(), master));
    const [serverHs, clientHs] = await hsKeys;
    const plain = layer.seal(ContentType.handshake, sh, true);
    // Middlebox compatibility: a client that sent a session id expects a change_cipher_spec.
    const ccs = hello.sessionId.length
      ? layer.seal(ContentType.changeCipherSpec, new Uint8Array([1]), true)
      : new Uint8Array(0);
    layer.setWriteKeys(serverHs);
    const flight = layer.seal(ContentType.handshake, concat([ee, cr, cert, cv, fin]));
    const written = layer.writeRaw(concat([plain, ccs, flight]));
    written.catch(() => {});
    layer.setReadKeys(clientHs);
    // After our Finished we write with the application keys (an alert about the client's
    // flight included: the client reads what follows our Finished with them).
    app = appKeys;

    // The client's Certificate, CertificateVerify and Finished.
    const cc = await reader.next();
    expect(cc, HandshakeType.certificate, "the client's Certificate");
    const certs = parseCertificate(cc.body);
    if (certs.length === 0) {
      throw new TlsAlertError(
        AlertDescription.certificateRequired,
        "the client sent no certificate",
      );
    }
    if (!equalConstantTime(certs[0], config.clientCertDer)) {
      throw new TlsAlertError(
        AlertDescription.badCertificate,
        "the client's certificate is not the host's (PLUGIN_CLIENT_CERT)",
      );
    }
    transcript.add(cc.message);
    // What the client's CertificateVerify signs, hashed while it is read.
    const signedHash = track(transcript.hash());
    const ccvMsg = await reader.next();
    expect(ccvMsg, HandshakeType.certificateVerify, "the client's CertificateVerify");
    const ccv = parseCertificateVerify(ccvMsg.body);
    if (!VERIFIED_SCHEMES.includes(ccv.scheme) || !config.verifier.schemes.includes(ccv.scheme)) {
      throw new TlsAlertError(
        AlertDescription.illegalParameter,
        `the client's CertificateVerify uses scheme 0x${
          ccv.scheme.toString(16)
        }, not one for its key that we asked for`,
      );
    }
    const content = signedContent("client", await signedHash);
    // Checked before anything else of the client's is taken; the Finished it must
    // send next is computed (and read) meanwhile.
    const verified = track(config.verifier.verify(ccv.scheme, content, ccv.signature));
    transcript.add(ccvMsg.message);
    const expected = track(
      transcript.hash().then((h) => finishedVerifyData(hs.client, h, clientFinishedKey)),
    );
    const cf = reader.next();
    cf.catch(() => {});
    if (onWritable) {
      // 0.5-RTT: the client sent the host's certificate, its signature is being checked;
      // meanwhile the layer above may write (not read). Not sooner: the work would
      // delay our reading of the client's flight, and the CPU the client needs for it.
      writable = track(app.then((keys) => {
        if (failed) return;
        layer.setWriteKeys(keys.server);
        early = new Tls13Connection(layer, keys.secrets.client, keys.secrets.server);
        onWritable(early);
      }));
    }
    if (whileVerifying) {
      track(
        Promise.resolve(writable).then(() => {
          if (!failed) whileVerifying();
        }),
      );
    }
    if (!await verified) {
      throw new TlsAlertError(
        AlertDescription.decryptError,
        "the client's CertificateVerify signature does not verify",
      );
    }
    const clientFinished = await cf;
    expect(clientFinished, HandshakeType.finished, "the client's Finished");
    if (!equalConstantTime(clientFinished.body, await expected)) {
      throw new TlsAlertError(
        AlertDescription.decryptError,
        "the client's Finished does not verify",
      );
    }
    if (reader.pending) {
      throw new TlsAlertError(
        AlertDescription.unexpectedMessage,
        "a handshake message after the client's Finished",
      );
    }
    const keys = await app;
    await writable; // the caller's failure in onWritable fails the handshake
    if (!early) layer.setWriteKeys(keys.server);
    layer.setReadKeys(keys.client);
    await written; // within the timeout too: a client that never reads is closed by it
    cancel();
    return {
      kind: "tls",
      conn: early ?? new Tls13Connection(layer, keys.secrets.client, keys.secrets.server),
      peerCertificate: certs[0].slice(),
      ms: performance.now() - started,
    };
  } catch (err) {
    cancel();
    failed = true;
    // The key pair made at accept and what was started beside the handshake: no
    // WebCrypto call outlives the connection.
    await Promise.all(underWay.map(settled));
    // What was written to the connection went out before the alert; nothing more will.
    (early as Tls13Connection | null)?.abandon();
    if (timedOut) return { kind: "refused", reason: `no TLS handshake within ${timeoutMs} ms` };
    // After our Finished, an alert goes out under the application keys (none without them).
    // (With 0.5-RTT data written, they are installed already, their sequence under way.)
    let canAlert = true;
    if (app && !early) {
      try {
        layer.setWriteKeys((await app).server);
      } catch {
        canAlert = false;
      }
    }
    let alert: number | undefined;
    if (!canAlert) {
      // the keys failed: nothing the client could read
    } else if (err instanceof TlsAlertError) alert = err.alert;
    else if (
      !(err instanceof TlsPeerAlertError || err instanceof PeerClosed || isSocketGone(err))
    ) {
      alert = AlertDescription.internalError;
    }
    if (alert === undefined) layer.close();
    else {
      await layer.alert(alert);
      // The client may still be writing its flight: read on (bounded) so it reads the alert.
      await layer.lingerClose();
    }
    return { kind: "refused", reason: (err as Error)?.message ?? String(err) };
  }
}

/** A socket error that only says the peer or our own close ended it. */
export function isSocketGone(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.Interrupted || err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.UnexpectedEof;
}

/**
 * A TLS 1.3 connection after the handshake: an HTTP/2 transport
 * (`write`, `close`) and a reader ({@linkcode pump}) that feeds decrypted
 * data to the connection above. Handles KeyUpdate (answering
 * update_requested), close_notify both ways and alerts.
 */
export class Tls13Connection {
  readonly #layer: RecordLayer;
  #readSecret: Uint8Array;
  #writeSecret: Uint8Array;
  #closed = false;
  /**
   * Whether we sent a KeyUpdate and no application data since: a request
   * for one arriving then is already met (our next data goes under keys
   * newer than the ones it asked to replace), so a peer's burst of requests
   * gets one answer, not one record and one key derivation each.
   */
  #updatedSinceData = false;

  /**
   * @param layer The record layer, with application keys installed.
   * @param clientSecret client_application_traffic_secret_0.
   * @param serverSecret server_application_traffic_secret_0.
   */
  constructor(layer: RecordLayer, clientSecret: Uint8Array, serverSecret: Uint8Array) {
    this.#layer = layer;
    this.#readSecret = clientSecret;
    this.#writeSecret = serverSecret;
  }

  /** Writes `data` as application data: as few records as fit, in one socket write. */
  write(data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("TLS connection closed"));
    this.#updatedSinceData = false;
    return this.#layer.send(ContentType.applicationData, data);
  }

  /**
   * The handshake it was made for failed (its alert sent, the socket
   * closed): closed without another word. @internal
   */
  abandon(): void {
    this.#closed = true;
  }

  /** Sends close_notify (after the writes under way) and closes the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#layer.alert(AlertDescription.closeNotify).finally(() => this.#layer.close());
  }

  /** Sends a fatal alert and closes the socket. */
  #fail(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#layer.alert(code).finally(() => this.#layer.close());
  }

  /**
   * Reads until the connection ends, handing application data to
   * `receive` (views valid only during the call).
   *
   * @returns Why it ended (for the log).
   */
  async pump(receive: (data: Uint8Array) => void): Promise<string> {
    const layer = this.#layer;
    const asm = new HandshakeAssembler(MAX_HANDSHAKE_MESSAGE);
    /**
     * Application data decrypted end to end in the read buffer, not yet
     * handed on: one call per read rather than one per record, so the layer
     * above gets whole frames (no frame is cut at every record boundary and
     * gathered by a copy). A view of the read buffer: handed on before the
     * next fill, and before any other record is acted on.
     */
    let run: Uint8Array | null = null;
    let useless = 0;
    const spin = () => {
      if (++useless > MAX_USELESS_RECORDS) {
        throw new TlsAlertError(
          AlertDescription.unexpectedMessage,
          `over ${MAX_USELESS_RECORDS} records in a row without application data`,
        );
      }
    };
    const flush = () => {
      if (run === null) return;
      const r = run;
      run = null;
      receive(r);
    };
    try {
      while (!this.#closed) {
        let type: number;
        while ((type = layer.next(run === null ? -1 : run.byteOffset + run.length)) !== 0) {
          const p = layer.payload;
          if (type !== ContentType.handshake && asm.pending > 0) throw interleaved();
          if (type === ContentType.applicationData) {
            if (!p.length) {
              spin();
              continue;
            }
            useless = 0;
            if (run !== null && p.byteOffset === run.byteOffset + run.length) {
              run = new Uint8Array(run.buffer, run.byteOffset, run.length + p.length);
            } else {
              flush();
              if (this.#closed) return "closed";
              run = p;
            }
            continue;
          }
          flush();
          if (this.#closed) return "closed";
          if (type === ContentType.alert) {
            if (p.length !== 2) throw malformedAlert(p.length);
            const code = p[1];
            if (code === AlertDescription.userCanceled) {
              spin();
              continue;
            }
            if (code === AlertDescription.closeNotify) {
              return "peer closed the connection (close_notify)";
            }
            this.#closed = true;
            layer.close();
            return new TlsPeerAlertError(code).message;
          } else if (type === ContentType.handshake) {
            asm.push(p);
            for (let m = asm.next(); m; m = asm.next()) {
              if (m.type !== HandshakeType.keyUpdate) {
                throw new TlsAlertError(
                  AlertDescription.unexpectedMessage,
                  `post-handshake message type ${m.type} (only KeyUpdate is taken)`,
                );
              }
              spin();
              const requested = parseKeyUpdate(m.body);
              if (asm.pending) {
                throw new TlsAlertError(
                  AlertDescription.unexpectedMessage,
                  "KeyUpdate not at a record boundary",
                );
              }
              this.#readSecret = await nextTrafficSecret(this.#readSecret);
              layer.setReadKeys(await trafficKeys(this.#readSecret));
              if (requested && !this.#updatedSinceData) this.#answerKeyUpdate();
            }
          } else {
            throw new TlsAlertError(
              AlertDescription.unexpectedMessage,
              "change_cipher_spec after the handshake",
            );
          }
        }
        flush();
        if (this.#closed) return "closed";
        if (!await layer.fill()) return "peer closed the connection";
      }
      return "closed";
    } catch (err) {
      if (err instanceof TlsAlertError) {
        this.#fail(err.alert);
        return err.message;
      }
      if (isSocketGone(err) || this.#closed) return "peer closed the connection";
      throw err;
    }
  }

  #answerKeyUpdate(): void {
    this.#updatedSinceData = true;
    this.#layer.sendThenRekey(ContentType.handshake, keyUpdate(false), async () => {
      this.#writeSecret = await nextTrafficSecret(this.#writeSecret);
      return trafficKeys(this.#writeSecret);
    });
  }
}
