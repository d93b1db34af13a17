/**
 * Connecting to a gRPC server's address (a plugin, from the host; a brokered
 * service, from either side): a Deno socket for
 * plaintext, `node:tls` for TLS. `Deno.connectTls` cannot be used: it
 * rejects go-plugin's CA:TRUE leaf certificates (CaUsedAsEndEntity), and
 * `Deno.startTls` refuses unix sockets.
 *
 * @module
 */

import { splitHostPort } from "../transport/tcp.ts";
import type * as NodeStream from "node:stream";
import type * as NodeTls from "node:tls";
import { toNodeDuplex } from "../mux/node_duplex.ts";
import { after } from "../_timer.ts";
import type { Network } from "../constants.ts";
import { explainPermission, RpcPluginError } from "../errors.ts";
import {
  denoTransport,
  nodeTls,
  nodeTransport,
  pumpDenoSocket,
  pumpNodeSocket,
} from "../h2/socket.ts";
import { Channel } from "./client_call.ts";
import { derToPem } from "../tls/pem.ts";

/**
 * A connection to a gRPC server (a plugin, or a brokered service) could not
 * be made: refused, a TLS failure, or a certificate other than the one
 * announced.
 *
 * @example
 * ```ts
 * import { DialError } from "./connect.ts";
 * console.assert(new DialError("refused").name === "DialError");
 * ```
 */
export class DialError extends RpcPluginError {}

/** The TLS side of a connection to a plugin. */
export interface ClientTls {
  /** Our certificate, PEM (presented to the plugin). */
  certPem: string;
  /** Our private key, PEM. */
  keyPem: string;
  /**
   * The plugin's certificate, DER (AutoMTLS: from the handshake line). It is
   * the only certificate trusted, and the one presented must equal it.
   */
  serverCertDer?: Uint8Array;
  /** CA certificates (PEM) trusted for the plugin's certificate, when it is not pinned. */
  caPem?: string;
  /** Name checked in the plugin's certificate. @default {"localhost"} */
  serverName?: string;
}

/** Where and how to connect. */
export interface ConnectOptions {
  /** `unix` or `tcp`. */
  network: Network;
  /** Socket path or `host:port`. */
  address: string;
  /** TLS, or plaintext when absent. */
  tls?: ClientTls;
  /** Largest message sent or received. */
  maxMessageBytes: number;
  /**
   * Most bytes the responses still arriving, or received and not yet read,
   * on the connection's streams hold together (see `ChannelOptions`).
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Gives up connecting after this long (ms). */
  timeoutMs: number;
  /** Called once when the connection has closed. */
  onClose?: (reason: string) => void;
  /**
   * How long the plugin may take, once connected, to send its HTTP/2
   * SETTINGS before the connection is closed (a plugin that accepts and
   * never answers: its calls fail with UNAVAILABLE).
   * @default {10000}
   */
  prefaceTimeoutMs?: number;
  /** Who needs a permission flag that is missing, for its error. @default {"the host"} */
  program?: string;
  /** Hears of failures inside the connection's read loop (bugs). */
  onError?: (err: unknown) => void;
}

/** Why a connection to a plugin whose certificate is pinned (AutoMTLS) is refused. */
const NOT_PINNED =
  "The plugin presented a different TLS certificate from the one in its handshake line (field 6): " +
  "refusing the connection. The plugin must serve TLS with the certificate it announces";

/** Node's code for a TLS server that answered the ClientHello with bytes that are not TLS. */
const NOT_TLS = "ERR_SSL_WRONG_VERSION_NUMBER";

/** Why a TLS connection to a plugin answering in plaintext fails, and what to do. */
function servesPlaintext(pinned: boolean): string {
  const announced = pinned
    ? "The plugin announced a TLS certificate in its handshake line (field 6) but"
    : "The plugin";
  return `${announced} answered the TLS ClientHello with non-TLS bytes: it serves plaintext. ` +
    "Check the plugin's TLS setup (it must serve TLS" +
    (pinned ? " with the certificate it announces)" : ", or the host must connect without TLS)");
}

/** Node's codes for a server certificate that its trusted certificates do not verify. */
const NOT_VERIFIED: ReadonlySet<string> = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_SIGNATURE_FAILURE",
]);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Connects to a plugin and returns the gRPC channel on that connection.
 *
 * @throws {DialError} When the address refuses, TLS fails or the certificate is not the one announced.
 */
export async function connect(options: ConnectOptions): Promise<Channel> {
  return options.tls ? await connectTls(options, options.tls) : await connectPlain(options);
}

async function connectPlain(options: ConnectOptions): Promise<Channel> {
  return plainChannel(await dialSocket(options), options);
}

/**
 * Opens a plaintext socket to `network:address` (what multiplexed mode runs
 * its yamux session on), with TCP_NODELAY on TCP.
 *
 * @throws {DialError} When the address refuses.
 */
export async function dialSocket(
  options: Pick<ConnectOptions, "network" | "address" | "program"> & { timeoutMs?: number },
): Promise<Deno.Conn> {
  let sock: Deno.Conn;
  // A TCP address that drops the SYN (a handshake line naming an unreachable host) would
  // take the OS's two minutes; a unix socket answers at once.
  const giveUp = new AbortController();
  const ms = options.timeoutMs;
  const cancel = ms !== undefined && Number.isFinite(ms) ? after(ms, () => giveUp.abort()) : null;
  try {
    sock = options.network === "unix"
      ? await Deno.connect({ transport: "unix", path: options.address })
      : await Deno.connect({ ...splitHostPort(options.address), signal: giveUp.signal });
  } catch (err) {
    if (giveUp.signal.aborted) {
      throw new DialError(
        `Could not connect to the plugin at ${options.network}:${options.address}: nothing answered within ${ms} ms. ` +
          "Check the address the plugin's handshake line names",
        { cause: err },
      );
    }
    const e = explainPermission(
      err,
      `connecting to ${options.address}`,
      options.program ?? "the host",
    );
    if (e !== err) throw e;
    throw new DialError(
      `Could not connect to the plugin at ${options.network}:${options.address}: ${
        (err as Error).message
      }`,
      { cause: err },
    );
  } finally {
    cancel?.();
  }
  // Small frames (stream messages, WINDOW_UPDATEs) must not wait for Nagle's 40 ms.
  if (options.network === "tcp") (sock as Deno.TcpConn).setNoDelay(true);
  return sock;
}

function plainChannel(sock: Deno.Conn, options: StreamConnectOptions): Channel {
  const channel = new Channel(denoTransport(sock), {
    authority: "localhost",
    scheme: "http",
    maxMessageBytes: options.maxMessageBytes,
    maxPartialMessageBytes: options.maxPartialMessageBytes,
    onClose: options.onClose,
    prefaceTimeoutMs: options.prefaceTimeoutMs,
  });
  void pumpDenoSocket(sock, channel.conn, options.onError ?? (() => {}));
  return channel;
}

/** How to make a client connection over a connection already open. */
export type StreamConnectOptions = Omit<ConnectOptions, "network" | "address">;

/**
 * Makes a gRPC client connection over a connection already open (a yamux
 * stream of the multiplexed broker), with TLS inside it when `options.tls`
 * is given, exactly as {@linkcode connect} does over a socket.
 *
 * @param conn The open connection; the channel owns it from now on.
 * @param options TLS, limits, timeout.
 * @returns The channel.
 * @throws {DialError} When TLS fails or the certificate is not the one announced.
 */
export async function connectStream(
  conn: Deno.Conn,
  options: StreamConnectOptions,
): Promise<Channel> {
  if (!options.tls) return plainChannel(conn, options);
  try {
    return await connectTls(
      { ...options, network: "unix", address: "a multiplexed stream" },
      options.tls,
      toNodeDuplex(conn),
    );
  } catch (err) {
    conn.close();
    throw err;
  }
}

function connectTls(
  options: ConnectOptions,
  tls: ClientTls,
  socket?: NodeStream.Duplex,
): Promise<Channel> {
  const pinned = tls.serverCertDer;
  const ca = pinned ? derToPem(pinned, "CERTIFICATE") : tls.caPem;
  const tcp = !socket && options.network === "tcp" ? splitHostPort(options.address) : undefined;
  const target = socket
    ? { socket }
    : tcp
    ? { host: tcp.hostname, port: tcp.port }
    : { path: options.address };
  return new Promise((resolve, reject) => {
    let sock: NodeTls.TLSSocket;
    let settled = false;
    const fail = (message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      cancelTimer();
      sock?.destroy();
      reject(new DialError(message, { cause }));
    };
    const cancelTimer = after(
      options.timeoutMs,
      () => fail(`TLS connection to the plugin at ${options.address} timed out`),
    );
    try {
      sock = nodeTls().connect({
        ...target,
        servername: tls.serverName ?? "localhost",
        cert: tls.certPem,
        key: tls.keyPem,
        ...(ca ? { ca: [ca] } : {}),
        ALPNProtocols: ["h2"],
        minVersion: "TLSv1.2",
      });
      if (tcp) sock.setNoDelay(true);
    } catch (err) {
      const e = explainPermission(
        err,
        `connecting to ${options.address}`,
        options.program ?? "the host",
      );
      if (e !== err) {
        settled = true;
        cancelTimer();
        return reject(e);
      }
      fail(`Could not connect to the plugin at ${options.address}: ${(err as Error).message}`, err);
      return;
    }
    sock.on("error", (err: Error) => {
      // A pinned certificate (AutoMTLS) that does not verify is not the one announced.
      if (pinned && NOT_VERIFIED.has((err as { code?: string }).code ?? "")) {
        return fail(`${NOT_PINNED} (${err.message})`, err);
      }
      if ((err as { code?: string }).code === NOT_TLS) {
        return fail(
          `TLS connection to the plugin at ${options.address} failed: ${
            servesPlaintext(!!pinned)
          } (${err.message})`,
          err,
        );
      }
      fail(`TLS connection to the plugin at ${options.address} failed: ${err.message}`, err);
    });
    sock.once("secureConnect", () => {
      if (settled) return;
      if (pinned) {
        const raw = sock.getPeerCertificate()?.raw;
        if (!raw || !sameBytes(new Uint8Array(raw), pinned)) {
          return fail(NOT_PINNED);
        }
      }
      if (sock.alpnProtocol !== "h2") {
        return fail(
          `The plugin's TLS server did not negotiate ALPN "h2" (got ${sock.alpnProtocol})`,
        );
      }
      settled = true;
      cancelTimer();
      const channel = new Channel(nodeTransport(sock), {
        authority: "localhost",
        scheme: "https",
        maxMessageBytes: options.maxMessageBytes,
        maxPartialMessageBytes: options.maxPartialMessageBytes,
        onClose: options.onClose,
        prefaceTimeoutMs: options.prefaceTimeoutMs,
      });
      pumpNodeSocket(sock, channel.conn, options.onError ?? (() => {}));
      resolve(channel);
    });
  });
}
