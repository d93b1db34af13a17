/**
 * The native engine: our own HTTP/2 and gRPC server on Deno sockets, with no
 * npm package to load. Plaintext connections use `Deno.listen`. AutoMTLS
 * uses our own TLS 1.3 server (tls13/) on `Deno.listen` sockets and yamux
 * streams, and hands a client asking for anything it does not serve (TLS
 * 1.2, other cipher suites or groups) to Node's `tls` module with the bytes
 * read replayed. A plugin's own certificate (`serve({ tls })`) uses Node's
 * `tls` module (Deno's own TLS listener cannot ask for client certificates).
 * `node:tls` is loaded only when one of those needs it.
 *
 * @module
 */

import { isAddrInUse, listenPlain } from "../../transport/accept.ts";
import {
  type ConnectionLimit,
  type ConnectionSlot,
  ConnectionTable,
  MAX_OPEN_CONNECTIONS,
  RAISE_MAX_CONNECTIONS,
} from "../../transport/connection_table.ts";
import { splitHostPort } from "../../transport/tcp.ts";
import { toNodeDuplex } from "../../mux/node_duplex.ts";
import { acceptTls13, type Tls13Config } from "../../tls13/server.ts";
import { tls13ConfigOf } from "../../tls13/config.ts";
import { AlertDescription, MAX_CONCURRENT_HANDSHAKES } from "../../tls13/constants.ts";
import { RecordLayer } from "../../tls13/record.ts";
import { after } from "../../_timer.ts";
import type * as NodeTls from "node:tls";
import type * as NodeStream from "node:stream";
import type { Network } from "../../constants.ts";
import type { Engine, EngineOptions, ServerTls } from "../engine.ts";
import type { PeerInfo, ServiceImplementation } from "../../rpc/service.ts";
import { checkPartialBudget } from "../../rpc/message_budget.ts";
import { addRoutes, type CallOptions, type Route, startCall } from "../../rpc/server_call.ts";
import { DEFAULT_H2_LIMITS, H2Connection, type Transport } from "../../h2/connection.ts";
import { warmUpHpackDecoder } from "../../h2/hpack.ts";
import {
  denoTransport,
  nodeTls,
  nodeTransport,
  pumpDenoSocket,
  pumpNodeSocket,
} from "../../h2/socket.ts";

/** `host:port`, with IPv6 hosts in brackets. */
function hostPort(host: string | undefined, port: number | undefined): string {
  if (!host) return "";
  return `${host.includes(":") ? `[${host}]` : host}:${port ?? 0}`;
}

/** A plaintext connection's peer. */
function peerOfDenoConn(addr: Deno.Addr): PeerInfo {
  return "hostname" in addr
    ? { network: "tcp", address: hostPort(addr.hostname, addr.port) }
    : { network: "unix", address: ("path" in addr ? addr.path : null) ?? "" };
}

/** A TLS server's key, certificate and CA. */
function secureContextOf(tls: ServerTls): NodeTls.SecureContextOptions {
  return {
    key: tls.keyPem,
    cert: tls.certPem,
    ...(tls.clientCaPem ? { ca: [tls.clientCaPem] } : {}),
  };
}

/** The parts of a raw socket under a `node:tls` listener that the engine uses. */
interface RawSocket {
  destroy(): void;
  once(e: "close", f: () => void): void;
  setNoDelay?(on: boolean): void;
}

/** What `node:tls` serves a connection with: the certificate (null: none installed yet). */
interface NodeTlsSettings {
  tls: ServerTls | null;
  requireClientCert: boolean;
}

/** `tls` served by `node:tls` as it says. */
function nodeTlsOf(tls: ServerTls): NodeTlsSettings {
  return { tls, requireClientCert: tls.requireClientCert };
}

/** The parts of a Node TLS socket a peer is made from. */
interface TlsPeerSocket {
  remoteAddress?: string;
  remotePort?: number;
  getPeerCertificate(): { raw?: Uint8Array } | null;
}

/**
 * A `node:tls` connection's peer: the socket's under it (`node:tls` runs on a
 * Duplex over it, which has no address), with the client's certificate under
 * client authentication.
 */
function peerOfTlsSocket(base: PeerInfo, sock: TlsPeerSocket): PeerInfo {
  const raw = sock.getPeerCertificate()?.raw;
  return raw?.length
    ? { network: base.network, address: base.address, certificate: new Uint8Array(raw) }
    : { network: base.network, address: base.address };
}

/**
 * Creates the native engine, `serve()`'s default.
 *
 * @example
 * ```ts ignore
 * import { createNativeEngine, serve } from "@rpcplugin/rpcplugin";
 * await serve({
 *   handshake: { magicCookieKey: "K", magicCookieValue: "V" },
 *   engine: createNativeEngine,
 * });
 * ```
 *
 * @param options Message limits and logger.
 * @returns The engine.
 */
export function createNativeEngine(options: EngineOptions): Engine {
  const log = options.logger.named("h2");
  const routes = new Map<string, Route>();
  const callOptions: CallOptions = {
    routes,
    maxMessageBytes: options.maxMessageBytes,
    maxPartialMessageBytes: checkPartialBudget(options.maxPartialMessageBytes),
    logger: options.logger,
    broker: options.broker,
  };
  const connections = new Set<H2Connection>();
  const closers: (() => void)[] = [];
  const rawSockets = new Set<{ destroy(): void }>();
  /** Sockets in our TLS 1.3 handshake, oldest first (shutdown closes them). */
  const handshaking = new Set<Deno.Conn>();
  const handshakeTimeoutMs = options.http2?.prefaceTimeoutMs ?? DEFAULT_H2_LIMITS.prefaceTimeoutMs;
  const maxConnections = options.maxConnections ?? MAX_OPEN_CONNECTIONS;
  if (!(Number.isInteger(maxConnections) && maxConnections > 0)) {
    throw new RangeError(
      `maxConnections must be a positive integer, not ${maxConnections}: leave it out for ` +
        `the default (${MAX_OPEN_CONNECTIONS})`,
    );
  }
  const limit = (what: string): ConnectionLimit => ({
    max: maxConnections,
    what,
    fix: RAISE_MAX_CONNECTIONS,
  });
  let stopping = false;

  const open = (
    transport: Transport,
    peerInfo: PeerInfo,
    onReady?: () => void,
  ): H2Connection => {
    const peer = peerInfo.address || `${peerInfo.network} socket`;
    const connOptions: CallOptions = { ...callOptions, peer: Object.freeze(peerInfo) };
    const conn = new H2Connection(transport, {
      limits: options.http2,
      onStream: (stream, headers) => startCall(stream, headers, connOptions),
      // Once per connection and kind: what the peer did, and what it got.
      onRefusal: (_c, { kind, code, detail }) =>
        log.warn("refused a peer's HTTP/2 behaviour", { peer, kind, h2_error: code, detail }),
      onReady,
      onClose: (c, reason) => {
        connections.delete(c);
        log.trace("connection closed", { reason });
      },
    });
    connections.add(conn);
    return conn;
  };

  /** What a report of a failure we did not expect asks of the operator. */
  const REPORT = "a bug of rpcplugin's: report this line; the host's calls on this connection fail";
  /** Logs, for a connection closed on an unexpected failure, what failed and what to do. */
  const logFailure = (what: string, fix = REPORT) => (err: unknown) =>
    log.error(`${what}; the connection is closed`, {
      error: (err as Error)?.message ?? String(err),
      fix,
    });
  const readFailed = logFailure("reading a plaintext connection failed");
  const handlingFailed = logFailure("handling a TLS connection's data failed");

  const serveDenoConn = (sock: Deno.Conn, slot?: ConnectionSlot): Promise<void> => {
    const conn = open(denoTransport(sock), peerOfDenoConn(sock.remoteAddr), slot?.established);
    if (stopping) conn.drain(AbortSignal.abort());
    return pumpDenoSocket(sock, conn, readFailed);
  };

  const bindPlain = (network: Network, address: string): number => {
    const listener = listenPlain(network, address, serveDenoConn, log, limit("connections"));
    closers.push(listener.close);
    return listener.port;
  };

  /**
   * A `node:tls` server serving HTTP/2 on each TLS connection: `onSecure`
   * hears of each handshake done first, `peer` makes the handler's peer.
   * `tls` null (before a certificate is installed): it refuses handshakes.
   */
  const nodeTlsServer = (
    { tls, requireClientCert }: NodeTlsSettings,
    peer: (sock: NodeTls.TLSSocket) => PeerInfo,
    onSecure: (sock: NodeTls.TLSSocket) => void,
  ): NodeTls.Server => {
    const server = nodeTls().createServer({
      ...(tls ? secureContextOf(tls) : {}),
      minVersion: "TLSv1.2",
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
      ALPNProtocols: ["h2"],
      handshakeTimeout: handshakeTimeoutMs,
    }, (sock) => {
      onSecure(sock);
      const conn = open(nodeTransport(sock), peer(sock));
      if (stopping) conn.drain(AbortSignal.abort());
      pumpNodeSocket(sock, conn, handlingFailed);
    });
    // Deno 2.9's node:tls reports a handshake timeout here but leaves the socket open.
    server.on("tlsClientError", (err: Error, sock: { destroy(): void }) => {
      sock.destroy();
      log.debug("TLS handshake refused", { error: err.message });
    });
    return server;
  };

  /**
   * Serves one connection with `node:tls`, then HTTP/2 on it: `duplex` is a
   * Node Duplex over the socket (what our TLS 1.3 server hands over) or a
   * yamux stream, given to a `node:tls` server of its own through
   * `emit("connection")`, which verifies client certificates as a listening
   * server does (in Deno 2.9 a bare server-side TLSSocket does not). One
   * server per connection (about 0.4 ms to make): only then does its secure
   * callback know which connection it is for, to mark `slot` established
   * once the handshake is done and to give the handler `base`'s address (a
   * TLSSocket on a Duplex has none). Settles when the connection is closed.
   */
  const serveNodeTls = (
    duplex: NodeStream.Duplex,
    settings: NodeTlsSettings,
    base: PeerInfo,
    slot?: ConnectionSlot,
  ): Promise<void> => {
    if (stopping) return Promise.resolve(void duplex.destroy());
    const server = nodeTlsServer(
      settings,
      (sock) => peerOfTlsSocket(base, sock),
      () => slot?.established(),
    );
    // Until closed, shutdown destroys it (in its handshake it is no H2 connection yet).
    rawSockets.add(duplex);
    const closed = new Promise<void>((resolve) =>
      duplex.once("close", () => {
        rawSockets.delete(duplex);
        resolve();
      })
    );
    server.emit("connection", duplex);
    return closed;
  };

  /**
   * Serves `sock` with our TLS 1.3 server: `config` undefined while the
   * certificate is not installed yet (refused), null when our server cannot
   * serve these settings (all to node:tls, with `fallbackTls()`); a ClientHello
   * outside our scope goes there too, with the bytes read replayed. `slot`
   * is marked established once the handshake is done. Settles when the
   * socket is done with.
   */
  const serveTls13 = async (
    sock: Deno.Conn,
    config: Promise<Tls13Config | null> | undefined,
    base: PeerInfo,
    fallbackTls: () => NodeTlsSettings,
    slot?: ConnectionSlot,
  ): Promise<void> => {
    const peer = base.address || `${base.network} socket`;
    const refuse = (reason: string) => log.debug("TLS handshake refused", { peer, reason });
    // Established once node:tls's handshake is done; its handshake timeout bounds it till then.
    const fallback = (prefix: Uint8Array): Promise<void> =>
      serveNodeTls(toNodeDuplex(sock, prefix), fallbackTls(), base, slot);
    if (stopping) return void sock.close();
    if (handshaking.size >= MAX_CONCURRENT_HANDSHAKES) {
      // The oldest makes room: a crowd of silent peers cannot keep the host out.
      const [oldest] = handshaking;
      handshaking.delete(oldest);
      refuse(`${MAX_CONCURRENT_HANDSHAKES} TLS handshakes under way: closing the oldest`);
      try {
        oldest.close();
      } catch {
        // already closed (by its listener, to make room)
      }
    }
    handshaking.add(sock);
    // "node:tls": our server does not serve these settings (all to node:tls).
    let result: Awaited<ReturnType<typeof acceptTls13>> | "node:tls";
    /**
     * The HTTP/2 connection, made while the client's signature is checked: its SETTINGS go
     * out as 0.5-RTT data (grpc-go sends no request before them), and it is fed nothing until
     * the client is authenticated. Its peer's certificate is the only one the handshake takes.
     */
    let early: H2Connection | undefined;
    try {
      const cfg = config ? await config : undefined;
      if (cfg === undefined) {
        const layer = new RecordLayer(sock);
        await layer.alert(AlertDescription.handshakeFailure);
        layer.close();
        return refuse("the server's certificate is not installed yet");
      }
      result = cfg === null ? "node:tls" : await acceptTls13(sock, cfg, handshakeTimeoutMs, {
        onWritable: (tlsConn) =>
          early = open(tlsConn, { ...base, certificate: cfg.clientCertDer.slice() }),
        // The first request's header block finds HPACK warm.
        whileVerifying: warmUpHpackDecoder,
      });
    } catch (err) {
      // tls13ConfigOf failed: the certificate cannot be used (a bug, as serve() made it).
      logFailure(
        "setting up TLS 1.3 with the server's certificate and key failed",
        "under AutoMTLS a bug of rpcplugin's (report this line); with serve()'s tls option, " +
          'give certPem\'s own private key as PKCS#8 PEM ("BEGIN PRIVATE KEY")',
      )(err);
      return void sock.close();
    } finally {
      // Before a hand-over: under node:tls the socket is out of our handshake (and its bound).
      handshaking.delete(sock);
    }
    if (result === "node:tls") return await fallback(new Uint8Array(0));
    if (result.kind === "fallback") {
      log.debug("TLS handshake handed to node:tls", { peer, reason: result.reason });
      return await fallback(result.prefix);
    }
    if (result.kind === "refused") {
      (early as H2Connection | undefined)?.close("TLS handshake refused");
      return refuse(result.reason);
    }
    log.debug("TLS 1.3 handshake (rpcplugin)", { peer, ms: Math.round(result.ms * 10) / 10 });
    slot?.established();
    const tlsConn = result.conn;
    const conn = early ?? open(tlsConn, { ...base, certificate: result.peerCertificate });
    if (stopping) conn.drain(AbortSignal.abort());
    try {
      conn.close(await tlsConn.pump((data) => conn.receive(data)));
    } catch (err) {
      logFailure("serving a TLS 1.3 connection failed")(err);
      tlsConn.close();
      conn.close("internal error");
    }
  };

  /**
   * Listens with our TLS 1.3 server on a plain Deno listener; `config()` is
   * asked for on each connection, and node:tls serves what ours hands over,
   * with `fallbackTls()`.
   */
  const bindTls13 = (
    network: Network,
    address: string,
    config: () => Promise<Tls13Config | null> | undefined,
    fallbackTls: () => NodeTlsSettings,
  ): number => {
    const listener = listenPlain(
      network,
      address,
      (sock, slot) =>
        serveTls13(sock, config(), peerOfDenoConn(sock.remoteAddr), fallbackTls, slot),
      log,
      limit("connections"),
    );
    closers.push(listener.close);
    return listener.port;
  };

  /**
   * Listens with `node:tls` (a plugin's own certificate, `serve({ tls })`):
   * its own listener, as node:tls on a Deno socket through a Duplex gives
   * small calls 1.6-2.8x the latency (measured side by side in one process). At most maxConnections at once;
   * at the limit the oldest whose TLS handshake is not done is closed, as on
   * the plain listener. A TLS socket is matched to its raw socket through
   * `_parent`, which Deno's node:tls sets as Node's does (undocumented:
   * tests/server/connection_limit_test.ts's "user TLS" cases fail should it
   * change, as a connection that is never established can be closed to make room).
   */
  const bindNodeTls = (network: Network, address: string, tls: ServerTls): Promise<number> => {
    const table = new ConnectionTable<RawSocket>(log, limit("TLS connections"));
    const slots = new WeakMap<object, ConnectionSlot>();
    const server = nodeTlsServer(
      nodeTlsOf(tls),
      (sock) =>
        peerOfTlsSocket({
          network,
          address: network === "unix" ? "" : hostPort(sock.remoteAddress, sock.remotePort),
        }, sock),
      (sock) => {
        const raw = (sock as unknown as { _parent?: object })._parent;
        if (raw) slots.get(raw)?.established();
      },
    );
    server.on("connection", (raw: RawSocket) => {
      const slot = table.admit(raw, (r) => r.destroy());
      if (!slot) return raw.destroy();
      slots.set(raw, slot);
      if (network === "tcp") raw.setNoDelay?.(true);
      rawSockets.add(raw);
      raw.once("close", () => {
        table.release(raw);
        rawSockets.delete(raw);
      });
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      const listening = () => {
        server.off("error", onError);
        // Without a listener a later 'error' would be thrown and kill the plugin. (Deno 2.9's
        // node:net server emits none for a failed accept, EMFILE say: it just stops
        // accepting, which cannot be seen from here. The plaintext listener recovers.)
        server.on("error", (err: Error) => {
          log.error("TLS listener error; still listening", { error: err.message });
        });
        closers.push(() => server.close());
        const addr = server.address();
        resolve(typeof addr === "object" && addr ? addr.port : 0);
      };
      if (network === "unix") server.listen(address, listening);
      else {
        const { hostname, port } = splitHostPort(address);
        server.listen(port, hostname, listening);
      }
    });
  };

  /** The TLS 1.3 settings of `serveConnection`, by TLS settings (one in practice). */
  const streamTls13 = new Map<ServerTls, Promise<Tls13Config | null>>();

  return {
    addService(service: ServiceImplementation): void {
      addRoutes(routes, service);
    },
    async bind(network: Network, address: string, tls?: ServerTls): Promise<number | null> {
      try {
        if (!tls) return bindPlain(network, address);
        if (!tls.autoMtls) return await bindNodeTls(network, address, tls);
        const config = tls13ConfigOf(tls);
        config.catch(() => {});
        const fallbackTls = nodeTlsOf(tls);
        return bindTls13(network, address, () => config, () => fallbackTls);
      } catch (err) {
        if (network === "tcp" && isAddrInUse(err)) return null;
        throw err;
      }
    },
    // deno-lint-ignore require-await
    async bindTlsLater(network: Network, address: string, requireClientCert: boolean) {
      // Our TLS 1.3 server on a plain listener bound now; node:tls only for a fallback.
      let installed: ServerTls | null = null;
      let config: Promise<Tls13Config | null> | undefined;
      const fallbackTls = () => ({ tls: installed, requireClientCert });
      const install = (tls: ServerTls) => {
        installed = tls;
        config = requireClientCert ? tls13ConfigOf(tls) : Promise.resolve(null);
        config.catch(() => {});
      };
      try {
        return { port: bindTls13(network, address, () => config, fallbackTls), install };
      } catch (err) {
        if (network === "tcp" && isAddrInUse(err)) return { port: null, install };
        throw err;
      }
    },
    serveConnection(conn: Deno.Conn, tls?: ServerTls): void {
      if (!tls) {
        void serveDenoConn(conn);
        return;
      }
      // A stream's peer is the session's: all streams come through the main listener.
      const network: Network = conn.remoteAddr.transport === "tcp" ? "tcp" : "unix";
      const base: PeerInfo = { network, address: "" };
      if (!tls.autoMtls) {
        void serveNodeTls(
          toNodeDuplex(conn),
          nodeTlsOf(tls),
          base,
        );
        return;
      }
      let config = streamTls13.get(tls);
      if (!config) {
        streamTls13.set(tls, config = tls13ConfigOf(tls));
        config.catch(() => {});
      }
      const fallbackTls = nodeTlsOf(tls);
      void serveTls13(conn, config, base, () => fallbackTls);
    },
    async shutdown(graceMs: number): Promise<void> {
      stopping = true;
      for (const close of closers.splice(0)) {
        try {
          close();
        } catch {
          // already closed
        }
      }
      const grace = new AbortController();
      const cancel = after(graceMs, () => grace.abort());
      await Promise.all([...connections].map((c) => c.drain(grace.signal)));
      cancel();
      if (connections.size) {
        const calls = [...connections].reduce((n, c) => n + c.streamCount, 0);
        // Grace 0 asks for no graceful stop (a brokered server's close): cancelling is
        // what was asked, as are connections the peer is still closing, with no call.
        if (graceMs > 0 && calls > 0) {
          log.warn("graceful stop timed out; cancelling remaining calls", {
            grace_ms: graceMs,
            calls,
          });
        } else {
          log.debug("server stopped; closing its connections", {
            grace_ms: graceMs,
            connections: connections.size,
            calls,
          });
        }
        for (const c of [...connections]) c.close("server stopped");
      }
      for (const raw of rawSockets) raw.destroy();
      rawSockets.clear();
      for (const sock of handshaking) {
        try {
          sock.close();
        } catch {
          // already closed
        }
      }
      handshaking.clear();
    },
  };
}
