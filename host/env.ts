/**
 * The plugin's environment: what the host hands its child (protocol.md
 * section 2), built by one pure function.
 *
 * @module
 */

import { DEFAULT_MAX_PORT, DEFAULT_MIN_PORT, ENV, ENV_PREFIX } from "../constants.ts";
import type { HandshakeConfig } from "../handshake/cookie.ts";

/** Options of {@linkcode buildPluginEnv}. */
export interface PluginEnvOptions {
  /** The magic cookie the plugin checks (`magicCookieKey=magicCookieValue`). */
  handshake: HandshakeConfig;
  /** App protocol versions the host speaks, for `PLUGIN_PROTOCOL_VERSIONS`; at least one. */
  protocolVersions: readonly number[];
  /**
   * Lowest TCP port the plugin may listen on (`PLUGIN_MIN_PORT`).
   * @default {10000}
   */
  minPort?: number;
  /**
   * Highest TCP port the plugin may listen on (`PLUGIN_MAX_PORT`).
   * @default {25000}
   */
  maxPort?: number;
  /**
   * Extra variables for the plugin. They may not name a variable the host
   * sets itself (the cookie or any go-plugin `PLUGIN_*` variable): use the
   * matching option instead. Other `PLUGIN_*` names pass through.
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Start from an empty environment instead of the host's.
   * @default {false}
   */
  skipHostEnv?: boolean;
  /**
   * The host's environment to start from. Defaults to `Deno.env.toObject()`
   * (requires `--allow-env`); pass it to keep the function pure.
   */
  hostEnv?: Readonly<Record<string, string>>;
  /** The host's certificate as PEM, when AutoMTLS is on (`PLUGIN_CLIENT_CERT`). */
  clientCertPem?: string;
  /** An existing directory for the plugin's unix sockets (`PLUGIN_UNIX_SOCKET_DIR`). */
  unixSocketDir?: string;
  /** Group name or gid that must be able to use the socket (`PLUGIN_UNIX_SOCKET_GROUP`). */
  unixSocketGroup?: string | number;
  /** Ask for go-plugin's multiplexed broker (`PLUGIN_MULTIPLEX_GRPC=true`). */
  multiplexGrpc?: boolean;
}

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${name} must be an integer from 0 to 65535, got ${port}`);
  }
}

function checkName(name: string, what: string): void {
  if (name === "" || name.includes("=") || name.includes("\0")) {
    throw new TypeError(
      `${what} ${
        JSON.stringify(name)
      } is not a valid environment variable name: it must be non-empty, without "=" or NUL`,
    );
  }
}

/**
 * Builds the complete environment of a plugin process, in this order:
 * 1. the host's environment (unless `skipHostEnv`), **without any inherited
 *    `PLUGIN_*` variable** (names compared case-insensitively, for Windows):
 *    a host running inside another plugin must not pass on that plugin's
 *    `PLUGIN_CLIENT_CERT` and the like (go-plugin does);
 * 2. the caller's `env`;
 * 3. the protocol variables: the cookie, `PLUGIN_MIN_PORT`, `PLUGIN_MAX_PORT`,
 *    `PLUGIN_PROTOCOL_VERSIONS`, and when given `PLUGIN_CLIENT_CERT`,
 *    `PLUGIN_UNIX_SOCKET_DIR`, `PLUGIN_UNIX_SOCKET_GROUP` and
 *    `PLUGIN_MULTIPLEX_GRPC`.
 *
 * The protocol variables win, as in go-plugin. Unlike go-plugin, `env` may
 * not even try to set one (the cookie key or a name of `ENV`, including
 * `PLUGIN_MULTIPLEX_GRPC`): that throws a TypeError naming the option to
 * use, instead of being silently overridden.
 *
 * Pass the result to `Deno.Command` with `clearEnv: true`.
 *
 * @example Environment of a plugin without TLS
 * ```ts
 * import { buildPluginEnv } from "./env.ts";
 * const env = buildPluginEnv({
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" },
 *   protocolVersions: [1],
 *   hostEnv: { PATH: "/usr/bin", PLUGIN_CLIENT_CERT: "leaked" },
 * });
 * console.assert(env.BASIC_PLUGIN === "hello" && env.PLUGIN_MIN_PORT === "10000");
 * console.assert(env.PATH === "/usr/bin" && !("PLUGIN_CLIENT_CERT" in env));
 * ```
 *
 * @param options Cookie, versions, port range, extra variables, TLS and socket settings.
 * @returns The environment, name to value.
 * @throws {TypeError} For an empty version list, a bad variable name or
 * PEM, or an `env` entry naming a protocol variable.
 * @throws {RangeError} For a bad port, port range or version.
 */
export function buildPluginEnv(options: PluginEnvOptions): Record<string, string> {
  const { magicCookieKey, magicCookieValue } = options.handshake;
  checkName(magicCookieKey, "The magic cookie key");
  if (!magicCookieValue) {
    throw new TypeError(
      "handshake.magicCookieValue is empty: give the host the same cookie value as the plugin",
    );
  }

  const versions = options.protocolVersions;
  if (versions.length === 0) {
    throw new TypeError(
      "protocolVersions is empty: list the app protocol versions the host speaks",
    );
  }
  for (const v of versions) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`Protocol version ${v} is not a non-negative integer`);
    }
  }

  const minPort = options.minPort ?? DEFAULT_MIN_PORT;
  const maxPort = options.maxPort ?? DEFAULT_MAX_PORT;
  checkPort("minPort", minPort);
  checkPort("maxPort", maxPort);
  if (minPort > maxPort) {
    throw new RangeError(`minPort ${minPort} is greater than maxPort ${maxPort}: give min <= max`);
  }

  const own = new Map<string, string>([
    [magicCookieKey, magicCookieValue],
    [ENV.minPort, String(minPort)],
    [ENV.maxPort, String(maxPort)],
    [ENV.protocolVersions, versions.join(",")],
  ]);
  if (options.clientCertPem !== undefined) {
    if (!options.clientCertPem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new TypeError(
        "clientCertPem is not a PEM certificate: pass the PEM text (-----BEGIN CERTIFICATE-----), not DER",
      );
    }
    own.set(ENV.clientCert, options.clientCertPem);
  }
  if (options.unixSocketDir !== undefined) {
    if (options.unixSocketDir === "") {
      throw new TypeError("unixSocketDir is empty: omit it or name a directory");
    }
    own.set(ENV.unixSocketDir, options.unixSocketDir);
  }
  if (options.unixSocketGroup !== undefined) {
    const group = String(options.unixSocketGroup);
    if (group === "") {
      throw new TypeError("unixSocketGroup is empty: omit it or name a group or gid");
    }
    own.set(ENV.unixSocketGroup, group);
  }

  if (options.multiplexGrpc) own.set(ENV.multiplexGrpc, "true");

  const insteadOf: Record<string, string> = {
    [magicCookieKey]: "use the handshake option",
    [ENV.minPort]: "use the minPort option",
    [ENV.maxPort]: "use the maxPort option",
    [ENV.protocolVersions]: "use the protocolVersions option",
    [ENV.clientCert]: "use the clientCertPem option (AutoMTLS)",
    [ENV.unixSocketDir]: "use the unixSocketDir option",
    [ENV.unixSocketGroup]: "use the unixSocketGroup option",
    [ENV.multiplexGrpc]: "use launch()'s brokerMultiplex option",
  };

  const result: Record<string, string> = {};
  if (!options.skipHostEnv) {
    const hostEnv = options.hostEnv ?? Deno.env.toObject();
    for (const [name, value] of Object.entries(hostEnv)) {
      if (!name.toUpperCase().startsWith(ENV_PREFIX)) result[name] = value;
    }
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    checkName(name, "The env variable name");
    if (Object.hasOwn(insteadOf, name)) {
      throw new TypeError(
        `env sets ${name}, which the host sets itself: remove it (${insteadOf[name]})`,
      );
    }
    result[name] = value;
  }
  for (const [name, value] of own) result[name] = value;
  return result;
}
