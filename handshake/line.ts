/**
 * The handshake line: the one line a plugin prints on stdout, built here and
 * parsed here (for the host side), nowhere else.
 *
 * Format: `CORE|APPVER|NETWORK|ADDRESS|PROTOCOL|SERVERCERT[|MUX]`.
 *
 * @module
 */

import { CORE_PROTOCOL_VERSION, type Network } from "../constants.ts";
import { HandshakeError } from "../errors.ts";
import { certToHandshakeField } from "../tls/pem.ts";

/** The fields of a handshake line. */
export interface HandshakeInfo {
  /** Core protocol version; always 1. */
  coreVersion: number;
  /** Negotiated app protocol version. */
  appVersion: number;
  /** `unix` or `tcp`. */
  network: Network;
  /** Socket path, or `127.0.0.1:PORT`. */
  address: string;
  /** RPC protocol, `grpc` (or `netrpc` from Go plugins). */
  protocol: string;
  /**
   * The server certificate, DER, when the plugin runs AutoMTLS.
   * Printed as unpadded standard base64.
   */
  serverCertDer?: Uint8Array;
  /** Field 7: whether the plugin multiplexes the broker. */
  muxSupported?: boolean;
}

/** A cert field shorter than this is ignored, as go-plugin's host does. */
const MIN_CERT_FIELD = 50;

/**
 * Builds the handshake line, newline included. Field 6 is empty without a
 * certificate (a go-plugin host without AutoMTLS panics on one); field 7 is
 * printed only when `muxSupported` is set.
 *
 * @example
 * ```ts
 * import { buildHandshakeLine } from "@rpcplugin/rpcplugin/protocol";
 * const line = buildHandshakeLine({
 *   coreVersion: 1, appVersion: 1, network: "unix",
 *   address: "/tmp/plugin1", protocol: "grpc",
 * });
 * console.assert(line === "1|1|unix|/tmp/plugin1|grpc|\n");
 * ```
 *
 * @param info The fields.
 * @returns The line to print.
 */
export function buildHandshakeLine(info: HandshakeInfo): string {
  if (info.address.includes("|") || info.address.includes("\n")) {
    throw new HandshakeError(
      `The listen address "${info.address}" contains "|" or a newline; choose a socket directory without them`,
      info.address,
    );
  }
  const fields = [
    String(info.coreVersion),
    String(info.appVersion),
    info.network,
    info.address,
    info.protocol,
    info.serverCertDer ? certToHandshakeField(info.serverCertDer) : "",
  ];
  if (info.muxSupported !== undefined) fields.push(String(info.muxSupported));
  return fields.join("|") + "\n";
}

/**
 * Parses a plugin's handshake line the way go-plugin's host does: at least 4
 * fields, core version 1, network `unix` or `tcp`, protocol defaulting to
 * `netrpc`, a certificate only if field 6 is longer than 50 characters
 * (padded or unpadded base64 both accepted).
 *
 * @example
 * ```ts
 * import { parseHandshakeLine } from "@rpcplugin/rpcplugin/protocol";
 * const info = parseHandshakeLine("1|5|tcp|127.0.0.1:1234|grpc");
 * console.assert(info.appVersion === 5 && info.network === "tcp");
 * ```
 *
 * @param line The first line of the plugin's stdout.
 * @returns The parsed fields.
 * @throws {HandshakeError} For anything a go-plugin host would reject.
 */
export function parseHandshakeLine(line: string): HandshakeInfo {
  const text = line.trim();
  const parts = text.split("|");
  if (parts.length < 4) {
    throw new HandshakeError(
      `Unrecognized remote plugin message: ${JSON.stringify(text.slice(0, 200))}. ` +
        "The plugin must print its handshake line first on stdout; check that nothing else writes to stdout before it",
      line,
    );
  }
  const int = (s: string, what: string): number => {
    if (!/^\d+$/.test(s)) {
      throw new HandshakeError(`The ${what} "${s}" in the handshake line is not a number`, line);
    }
    return Number(s);
  };
  const coreVersion = int(parts[0], "core protocol version");
  if (coreVersion !== CORE_PROTOCOL_VERSION) {
    throw new HandshakeError(
      `Incompatible core API version with plugin: plugin ${coreVersion}, host ${CORE_PROTOCOL_VERSION}. Rebuild the plugin with a go-plugin compatible library`,
      line,
    );
  }
  const appVersion = int(parts[1], "app protocol version");
  const network = parts[2];
  if (network !== "unix" && network !== "tcp") {
    throw new HandshakeError(
      `Unknown address type "${network}" in the handshake line: it must be "unix" or "tcp"`,
      line,
    );
  }
  const address = parts[3];
  if (address === "") {
    throw new HandshakeError("The handshake line has an empty address", line);
  }
  const protocol = parts.length > 4 && parts[4] !== "" ? parts[4] : "netrpc";
  const info: HandshakeInfo = { coreVersion, appVersion, network, address, protocol };
  if (parts.length > 5 && parts[5].length > MIN_CERT_FIELD) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(parts[5])) {
      throw new HandshakeError(
        "Error parsing server cert: the handshake certificate field is not standard base64",
        line,
      );
    }
    try {
      info.serverCertDer = Uint8Array.fromBase64(parts[5]);
    } catch (cause) {
      throw new HandshakeError("Error parsing server cert: illegal base64 data", line, { cause });
    }
  }
  if (parts.length > 6) {
    if (parts[6] !== "true" && parts[6] !== "false") {
      throw new HandshakeError(
        `The multiplexing field "${parts[6]}" of the handshake line must be "true" or "false"`,
        line,
      );
    }
    info.muxSupported = parts[6] === "true";
  }
  return info;
}
