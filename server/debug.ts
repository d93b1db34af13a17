/**
 * Debug mode, like Terraform providers' `-debug`: the plugin is started by
 * hand (under a debugger, say) and a host attaches to it later. No cookie,
 * no handshake line, plaintext, the console left alone; the reattach
 * configuration is printed instead, and Ctrl-C stops the plugin.
 *
 * @module
 */

import { writeAllSync } from "../_io.ts";
import { ENV, type Network, PROTOCOL_GRPC, REATTACH_ENV } from "../constants.ts";
import { StartupError } from "../errors.ts";
import type { HandshakeConfig } from "../handshake/cookie.ts";
import { type ReattachConfig, reattachProvidersJson } from "../handshake/reattach.ts";
import type { Logger } from "../log/logger.ts";
import type { TlsOptions } from "../tls/automtls.ts";
import { StdioQueue } from "../services/stdio.ts";
import { releaseConsole } from "./console.ts";

/** Debug-mode settings of `serve()` (`debug: { ... }`). */
export interface DebugOptions {
  /**
   * The key of the printed `TF_REATTACH_PROVIDERS` map. Terraform looks
   * providers up by their address, e.g. `registry.terraform.io/rpcplugin/example`.
   * @default {the handshake's magicCookieKey in lower case, else "plugin"}
   */
  name?: string;
}

/** Debug mode, resolved: what `serve()` needs to know. */
export interface DebugMode {
  /** The key of the printed `TF_REATTACH_PROVIDERS` map. */
  name: string;
}

/** Name used when neither `debug.name` nor a cookie key is given. */
const DEFAULT_DEBUG_NAME = "plugin";

/**
 * Reads serve()'s `debug` option.
 *
 * @param option `true`, `false`/absent, or {@linkcode DebugOptions}.
 * @param handshake The handshake config, for the default name.
 * @returns The debug mode, or null when it is off.
 * @throws {StartupError} For a name that is not a non-empty string.
 */
export function debugMode(
  option: boolean | DebugOptions | undefined,
  handshake: HandshakeConfig | undefined,
): DebugMode | null {
  if (!option) return null;
  const given = option === true ? undefined : option.name;
  if (given !== undefined && (typeof given !== "string" || given.trim() === "")) {
    throw new StartupError(
      `serve()'s debug.name must be a non-empty string (a provider address such as ` +
        `"registry.terraform.io/me/example"), not ${JSON.stringify(given)}`,
    );
  }
  const fromCookie = handshake?.magicCookieKey?.toLowerCase();
  return { name: given ?? (fromCookie || DEFAULT_DEBUG_NAME) };
}

/**
 * The version served in debug mode: the highest, as no host negotiates.
 *
 * @param served The versions the plugin serves.
 * @returns The highest.
 */
export function debugVersion(served: readonly number[]): number {
  return Math.max(...served);
}

/**
 * Debug mode serves plaintext: reattaching hosts never speak TLS (go-plugin
 * does not combine reattach and AutoMTLS). Warns about TLS it ignores.
 *
 * @param logger Where to warn.
 * @param hostCert `PLUGIN_CLIENT_CERT`, if set.
 * @param own serve()'s `tls` option, if given.
 */
export function warnIgnoredTls(
  logger: Logger,
  hostCert: string | undefined,
  own: TlsOptions | undefined,
): void {
  if (hostCert) {
    logger.warn(`debug mode serves plaintext: ignoring ${ENV.clientCert} (AutoMTLS)`);
  }
  if (own) logger.warn("debug mode serves plaintext: ignoring serve()'s tls option");
}

/**
 * Leaves `console.*` writing to the real stdout and stderr (undoing the
 * capture the library starts when imported under a host) and gives the
 * stdio service a queue nobody writes to: its stream stays open, empty.
 *
 * @returns The queue for the stdio service.
 */
export function keepConsole(): StdioQueue {
  releaseConsole();
  return new StdioQueue();
}

/**
 * The reattach configuration of a plugin listening at `network`/`address`.
 *
 * @param network The listener kind.
 * @param address Socket path or `127.0.0.1:PORT`.
 * @param protocolVersion The app protocol version served.
 * @param test Whether the plugin ends by itself (debug mode): hosts then never
 * stop it.
 * @returns The configuration.
 */
export function reattachConfigOf(
  network: Network,
  address: string,
  protocolVersion: number,
  test: boolean,
): ReattachConfig {
  return {
    protocol: PROTOCOL_GRPC,
    protocolVersion,
    addr: { network, string: address },
    pid: Deno.pid,
    test,
  };
}

/** Quotes `text` between single quotes for a POSIX shell. */
function shSingleQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The text a plugin in debug mode prints on stdout: what to do, then the
 * `TF_REATTACH_PROVIDERS` assignment, tab-indented, for the shell of `os`
 * (Windows: Command Prompt and PowerShell forms).
 *
 * @param name The provider address (the map's key).
 * @param config Where the plugin listens.
 * @param os The OS whose shell syntax to print.
 * @returns The text, ending in a newline.
 */
export function debugText(
  name: string,
  config: ReattachConfig,
  os: typeof Deno.build.os = Deno.build.os,
): string {
  const json = reattachProvidersJson(name, config);
  const assignments = os === "windows"
    ? [
      `Command Prompt:\tset "${REATTACH_ENV}=${json}"`,
      `PowerShell:\t$env:${REATTACH_ENV}='${json.replaceAll("'", "''")}'`,
    ]
    : [`${REATTACH_ENV}=${shSingleQuote(json)}`];
  return "Plugin started in debug mode. To attach a host to it, set in the host's environment:\n\n" +
    assignments.map((line) => `\t${line}\n`).join("");
}

/**
 * Prints {@linkcode debugText} on stdout, in place of the handshake line.
 *
 * @param name The provider address.
 * @param config Where the plugin listens.
 */
export function printReattach(name: string, config: ReattachConfig): void {
  writeAllSync(Deno.stdout, debugText(name, config));
}
