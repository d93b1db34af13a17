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

import { splitHostPort } from "../../transport/tcp.ts";
import { isAddrInUse, listenPlain } from "../../transport/accept.ts";
import {
  type ConnectionSlot,
  ConnectionTable,
  MAX_OPEN_CONNECTIONS,
} from "../../transport/connection_table.ts";
import { toNodeDuplex } from "../../mux/node_duplex.ts";
import { acceptTls13, type Tls13Config } from "../../tls13/server.ts";
import { tls13ConfigOf } from "../../tls13/config.ts";
import { AlertDescription, MAX_CONCURRENT_HANDSHAKES } from "../../tls13/constants.ts";
import { RecordLayer } from "../../tls13/record.ts";
import { after } from "../../_timer.ts";
import type * as NodeTls from "node:tls";
import type { Network } from "../../constants.ts";
import type { Engine, EngineOptions, ServerTls } from "../engine.ts";
import type { PeerInfo, ServiceImplementation } from "../../rpc/service.ts";
import { addRoutes, type CallOptions, type Route, startCall } from "../../rpc/server_call.ts";
import { DEFAULT_H2_LIMITS, H2Connection, type Transport } from "../../h2/connection.ts";
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

/** A TLS server's key, certificate and CA (what `setSecureContext` replaces). */
function secureContextOf(tls: ServerTls): NodeTls.SecureContextOptions {
  return {
    key: tls.keyPem,
    cert: tls.certPem,
    ...(tls.clientCaPem ? { ca: [tls.clientCaPem] } : {}),
    minVersion: "TLSv1.2",
  };
}

/** The parts of a raw socket under a `node:tls` server that the engine uses. */
interface RawSocket {
  destroy(): void;
  once(e: "close", f: () => void): void;
  setNoDelay?(on: boolean): void;
}

/** The parts of a Node TLS socket a peer is made from. */
interface TlsPeerSocket {
  remoteAddress?: string;
  remotePort?: number;
  getPeerCertificate(): { raw?: Uint8Array } | null;
}

/** A TLS connection's peer: its address, and its certificate under client authentication. */
function peerOfTlsSocket(network: Network, sock: TlsPeerSocket): PeerInfo {
  const address = network === "unix" ? "" : hostPort(sock.remoteAddress, sock.remotePort);
  const raw = sock.getPeerCertificate()?.raw;
  return raw?.length
    ? { network, address, certificate: new Uint8Array(raw) }
    : { network, address };
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
    logger: options.logger,
    broker: options.broker,
  };
  const connections = new Set<H2Connection>();
  const closers: (() => void)[] = [];
  const rawSockets = new Set<{ destroy(): void }>();
  /** Sockets in our TLS 1.3 handshake, oldest first (shutdown closes them). */
  const handshaking = new Set<Deno.Conn>();
  const handshakeTimeoutMs = options.http2?.prefaceTimeoutMs ?? DEFAULT_H2_LIMITS.prefaceTimeoutMs;
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

  const logFailure = (err: unknown) =>
    log.error("connection failed", { error: (err as Error)?.message });

  const serveDenoConn = (sock: Deno.Conn, slot?: ConnectionSlot): Promise<void> => {
    const conn = open(denoTransport(sock), peerOfDenoConn(sock.remoteAddr), slot?.established);
    if (stopping) conn.drain(AbortSignal.abort());
    return pumpDenoSocket(sock, conn, logFailure);
  };

  const bindPlain = (network: Network, address: string): number => {
    const listener = listenPlain(
      network,
      address,
      serveDenoConn,
      log,
    );
    closers.push(listener.close);
    return listener.port;
  };

  /**
   * A `node:tls` server serving HTTP/2 on each connection it is given: by
   * its own listener (`bindTls`), or by `serveConnection` (a yamux stream,
   * through `emit("connection")`, which verifies client certificates as
   * the listener does; a bare server-side TLSSocket does not).
   */
  const tlsServer = (
    tls: ServerTls | null,
    peer: (sock: NodeTls.TLSSocket) => PeerInfo,
    tcp: boolean,
    requireClientCert = tls!.requireClientCert,
  ) => {
    const server = nodeTls().createServer({
      ...(tls ? secureContextOf(tls) : { minVersion: "TLSv1.2" }),
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
      ALPNProtocols: ["h2"],
      handshakeTimeout: handshakeTimeoutMs,
    }, (sock) => {
      const conn = open(nodeTransport(sock), peer(sock));
      if (stopping) conn.drain(AbortSignal.abort());
      pumpNodeSocket(sock, conn, logFailure);
    });
    // Sockets still in the TLS handshake are not connections yet: keep them
    // so that shutdown can close them. At most MAX_OPEN_CONNECTIONS at once, each
    // established at once (which raw socket a TLS socket wraps cannot be told from
    // here), so at the limit new ones are refused.
    const table = new ConnectionTable<RawSocket>(log, {
      max: MAX_OPEN_CONNECTIONS,
      what: "TLS connections",
    });
    server.on("connection", (raw: RawSocket) => {
      const slot = table.admit(raw, (r) => r.destroy());
      if (!slot) return raw.destroy();
      slot.established();
      if (tcp) raw.setNoDelay?.(true);
      rawSockets.add(raw);
      raw.once("close", () => {
        table.release(raw);
        rawSockets.delete(raw);
      });
    });
    // Deno 2.9's node:tls reports a handshake timeout here but leaves the socket open.
    server.on("tlsClientError", (err: Error, sock: { destroy(): void }) => {
      sock.destroy();
      log.debug("TLS handshake refused", { error: err.message });
    });
    return server;
  };

  /**
   * Serves `sock` with our TLS 1.3 server: `config` undefined while the
   * certificate is not installed yet (refused), null when our server cannot
   * serve these settings (all to `fallbackServer()`, node:tls); a ClientHello
   * outside our scope goes there too, with the bytes read replayed. `slot`
   * is marked established once the handshake is done. Settles when the
   * socket is done with.
   */
  const serveTls13 = async (
    sock: Deno.Conn,
    config: Promise<Tls13Config | null> | undefined,
    base: PeerInfo,
    fallbackServer: () => ReturnType<typeof tlsServer>,
    slot?: ConnectionSlot,
  ): Promise<void> => {
    const peer = base.address || `${base.network} socket`;
    const refuse = (reason: string) => log.debug("TLS handshake refused", { peer, reason });
    const fallback = (prefix: Uint8Array): Promise<void> => {
      // Established once handed over (a whole ClientHello came): node:tls's own handshake
      // timeout bounds it from here, and an established host connection is never evicted.
      slot?.established();
      const duplex = toNodeDuplex(sock, prefix);
      const closed = new Promise<void>((resolve) => duplex.once("close", () => resolve()));
      fallbackServer().emit("connection", duplex);
      return closed;
    };
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
    let result;
    try {
      const cfg = config ? await config : undefined;
      if (cfg === null) return await fallback(new Uint8Array(0));
      if (!cfg) {
        const layer = new RecordLayer(sock);
        await layer.alert(AlertDescription.handshakeFailure);
        layer.close();
        return refuse("the server's certificate is not installed yet");
      }
      result = await acceptTls13(sock, cfg, handshakeTimeoutMs);
    } catch (err) {
      // tls13ConfigOf failed: the certificate cannot be used (a bug, as serve() made it).
      logFailure(err);
      return void sock.close();
    } finally {
      handshaking.delete(sock);
    }
    if (result.kind === "fallback") {
      log.debug("TLS handshake handed to node:tls", { peer, reason: result.reason });
      return await fallback(result.prefix);
    }
    if (result.kind === "refused") return refuse(result.reason);
    log.debug("TLS 1.3 handshake (rpcplugin)", { peer, ms: Math.round(result.ms * 10) / 10 });
    slot?.established();
    const tlsConn = result.conn;
    const conn = open(tlsConn, { ...base, certificate: result.peerCertificate });
    if (stopping) conn.drain(AbortSignal.abort());
    try {
      conn.close(await tlsConn.pump((data) => conn.receive(data)));
    } catch (err) {
      logFailure(err);
      tlsConn.close();
      conn.close("internal error");
    }
  };

  /**
   * Listens with our TLS 1.3 server on a plain Deno listener; `config()` is
   * asked for on each connection, and `fallbackServer()` serves what ours
   * hands over.
   */
  const bindTls13 = (
    network: Network,
    address: string,
    config: () => Promise<Tls13Config | null> | undefined,
    fallbackServer: () => ReturnType<typeof tlsServer>,
  ): number => {
    const listener = listenPlain(
      network,
      address,
      (sock, slot) =>
        serveTls13(sock, config(), peerOfDenoConn(sock.remoteAddr), fallbackServer, slot),
      log,
    );
    closers.push(listener.close);
    return listener.port;
  };

  /** The TLS 1.3 settings of `serveConnection`, by TLS settings (one in practice). */
  const streamTls13 = new Map<ServerTls, Promise<Tls13Config | null>>();

  /** The TLS servers of `serveConnection`, by TLS settings (one in practice). */
  const streamTlsServers = new Map<ServerTls, ReturnType<typeof tlsServer>>();

  const bindTls = (
    network: Network,
    address: string,
    server: ReturnType<typeof tlsServer>,
  ): Promise<number> => {
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

  return {
    addService(service: ServiceImplementation): void {
      addRoutes(routes, service);
    },
    async bind(network: Network, address: string, tls?: ServerTls): Promise<number | null> {
      try {
        if (!tls) return bindPlain(network, address);
        if (tls.autoMtls) {
          const config = tls13ConfigOf(tls);
          config.catch(() => {});
          let server: ReturnType<typeof tlsServer> | undefined;
          return bindTls13(
            network,
            address,
            () => config,
            () => server ??= tlsServer(tls, (sock) => peerOfTlsSocket(network, sock), false),
          );
        }
        const server = tlsServer(tls, (sock) => peerOfTlsSocket(network, sock), network === "tcp");
        return await bindTls(network, address, server);
      } catch (err) {
        if (network === "tcp" && isAddrInUse(err)) return null;
        throw err;
      }
    },
    // deno-lint-ignore require-await
    async bindTlsLater(network: Network, address: string, requireClientCert: boolean) {
      // Our TLS 1.3 server on a plain listener bound now; node:tls only for a fallback.
      let installed: ServerTls | undefined;
      let config: Promise<Tls13Config | null> | undefined;
      let server: ReturnType<typeof tlsServer> | undefined;
      const fallbackServer = () =>
        server ??= tlsServer(
          installed!,
          (sock) => peerOfTlsSocket(network, sock),
          false,
          requireClientCert,
        );
      const install = (tls: ServerTls) => {
        installed = tls;
        config = requireClientCert ? tls13ConfigOf(tls) : Promise.resolve(null);
        config.catch(() => {});
      };
      try {
        return { port: bindTls13(network, address, () => config, fallbackServer), install };
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
      const nodeServer = () => {
        let server = streamTlsServers.get(tls);
        if (!server) {
          streamTlsServers.set(
            tls,
            server = tlsServer(tls, (sock) => peerOfTlsSocket(network, sock), false),
          );
        }
        return server;
      };
      if (!tls.autoMtls) {
        nodeServer().emit("connection", toNodeDuplex(conn));
        return;
      }
      let config = streamTls13.get(tls);
      if (!config) {
        streamTls13.set(tls, config = tls13ConfigOf(tls));
        config.catch(() => {});
      }
      void serveTls13(conn, config, { network, address: "" }, nodeServer);
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
