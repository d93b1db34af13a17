/**
 * The seam between `serve()` and a gRPC engine: the native engine (the
 * default) and grpc-js implement the same interface, and plugin code never
 * sees which one runs it.
 *
 * @module
 */

import type { Broker } from "../services/broker.ts";
import type { Network } from "../constants.ts";
import type { H2Limits } from "../h2/connection.ts";
import type { Logger } from "../log/logger.ts";
import type { ServiceImplementation } from "../rpc/service.ts";
import type { KeyType } from "../tls/cert.ts";

/**
 * AutoMTLS's certificate and key as made, and the host's certificate: what
 * the native engine's own TLS 1.3 server (tls13/) serves with, without
 * parsing PEM again.
 */
export interface AutoMtlsKeys {
  /** Our private key. */
  privateKey: CryptoKey;
  /** Its type. */
  keyType: KeyType;
  /** Our certificate, DER. */
  certDer: Uint8Array;
  /** The host's certificate (`PLUGIN_CLIENT_CERT`), DER: the only client certificate accepted. */
  clientCertDer: Uint8Array;
  /** The host certificate's SubjectPublicKeyInfo, DER. */
  clientSpki: Uint8Array;
}

/** TLS settings of a server. */
export interface ServerTls {
  /** Server certificate chain, PEM. */
  certPem: string;
  /** Server private key, PEM. */
  keyPem: string;
  /** CA certificates (PEM) trusted for client certificates. */
  clientCaPem?: string;
  /** Refuse clients without a certificate signed by `clientCaPem`. */
  requireClientCert: boolean;
  /**
   * Set by AutoMTLS: the same certificate and key, parsed. The native
   * engine then serves its own TLS 1.3 (falling back to `node:tls` for a
   * client asking for more); other engines ignore it.
   */
  autoMtls?: AutoMtlsKeys;
}

/** Settings every engine takes. */
export interface EngineOptions {
  /** Largest message accepted or sent, in bytes. */
  maxMessageBytes: number;
  /**
   * The native engine's bound on the bytes the messages still arriving, or
   * received and not yet read, on one connection's streams hold together
   * (see `serve()`'s option).
   * grpc-js ignores it.
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Where the engine logs. */
  logger: Logger;
  /** What handlers see as `call.broker`: the plugin's broker (`serve()` sets it). */
  broker?: Broker;
  /**
   * The native engine's bounds on what one HTTP/2 connection's peer can make
   * it hold or do (concurrent streams, header list size, resets per window,
   * unread output, write and preface timeouts); unset ones keep their
   * defaults, which fit a plugin. grpc-js ignores them.
   *
   * @example
   * ```ts ignore
   * import { createNativeEngine, serve } from "@rpcplugin/rpcplugin";
   * await serve({
   *   handshake: { magicCookieKey: "K", magicCookieValue: "V" },
   *   engine: (options) => createNativeEngine({ ...options, http2: { maxConcurrentStreams: 16 } }),
   * });
   * ```
   */
  http2?: Partial<H2Limits>;
  /**
   * The native engine's bound on the connections each of its listeners
   * keeps open at once (a go-plugin host opens one); at it, the oldest not
   * yet established is closed to make room, or else the new one is refused,
   * with a WARN. grpc-js ignores it.
   *
   * @default {64}
   */
  maxConnections?: number;
}

/**
 * Makes an engine; what `serve()`'s `engine` option takes.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@rpcplugin/rpcplugin";
 * import { grpcJsEngine } from "@rpcplugin/rpcplugin/grpc-js";
 * await serve({ handshake: { magicCookieKey: "K", magicCookieValue: "V" }, engine: grpcJsEngine });
 * ```
 */
export type EngineFactory = (options: EngineOptions) => Engine;

/** A gRPC server engine. */
export interface Engine {
  /** Registers a service before binding. */
  addService(service: ServiceImplementation): void;
  /**
   * Starts listening.
   * @returns The bound TCP port (0 for unix), or `null` if the address is in use.
   */
  bind(network: Network, address: string, tls?: ServerTls): Promise<number | null>;
  /**
   * Optional: starts a TLS listener before its key and certificate exist
   * (AutoMTLS makes them while the socket is bound), refusing every TLS
   * handshake until `install` gives them; `serve()` prints the handshake line
   * only after that. Without it `serve()` waits for the key, then calls `bind`.
   * @returns The bound TCP port (0 for unix), or `null` if the address is in
   * use, and `install`, which serves TLS with the settings from then on.
   */
  bindTlsLater?(
    network: Network,
    address: string,
    requireClientCert: boolean,
  ): Promise<{ port: number | null; install(tls: ServerTls): void }>;
  /**
   * Serves gRPC on one connection that is already open (a yamux stream of
   * the multiplexed broker), with TLS inside it when `tls` is given, as a
   * connection its listener accepted. Only engines that have it can serve
   * go-plugin's multiplexed broker mode (the native engine does; grpc-js
   * cannot).
   */
  serveConnection?(conn: Deno.Conn, tls?: ServerTls): void;
  /** Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}
