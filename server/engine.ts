/**
 * The seam between `serve()` and a gRPC engine. grpc-js is the first engine;
 * a native one can implement the same interface.
 *
 * @module
 */

import type { Network } from "../constants.ts";
import type { Logger } from "../log/logger.ts";
import type { ServiceImplementation } from "./service.ts";

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
}

/** Settings every engine takes. */
export interface EngineOptions {
  /** Largest message accepted or sent, in bytes. */
  maxMessageBytes: number;
  /** Where the engine logs. */
  logger: Logger;
}

/** A gRPC server engine. */
export interface Engine {
  /** Registers a service before binding. */
  addService(service: ServiceImplementation): void;
  /**
   * Starts listening.
   * @returns The bound TCP port (0 for unix), or `null` if the address is in use.
   */
  bind(network: Network, address: string, tls?: ServerTls): Promise<number | null>;
  /** Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}
