/**
 * Typed errors of launching a plugin: each names what went wrong, what to do,
 * and carries what the plugin left behind (exit status, stderr tail, the
 * offending stdout line).
 *
 * @module
 */

import { RpcPluginError } from "../errors.ts";

/** Longest part of an offending line quoted in a message. */
const QUOTED_LINE_CHARS = 200;

/** What a failed launch left behind; every field is optional. */
export interface LaunchErrorDetails {
  /** Exit code, `null` when a signal ended the process, absent when it did not exit. */
  exitCode?: number | null;
  /** The signal that ended the process, if one did. */
  signal?: Deno.Signal | null;
  /**
   * The last lines the plugin wrote on stderr. When given (even empty), the
   * message ends with them.
   */
  stderrTail?: string;
  /** The offending stdout line, quoted (shortened) in the message. */
  line?: string;
}

/** Quotes a line for a message, cut to {@linkcode QUOTED_LINE_CHARS}. */
function quoteLine(line: string): string {
  if (line.length <= QUOTED_LINE_CHARS) return JSON.stringify(line);
  return `${JSON.stringify(line.slice(0, QUOTED_LINE_CHARS))}… (${line.length} characters)`;
}

function compose(message: string, details: LaunchErrorDetails): string {
  let text = message;
  if (details.line !== undefined) text += `\nPlugin stdout line: ${quoteLine(details.line)}`;
  if (details.stderrTail !== undefined) {
    text += details.stderrTail
      ? `\nLast lines of the plugin's stderr:\n${details.stderrTail}`
      : "\nThe plugin wrote nothing on stderr.";
  }
  return text;
}

/**
 * The plugin could not be launched or did not complete its start. The base
 * class of every host-side launch error; its message ends with the offending
 * line and the last lines of the plugin's stderr when there are any.
 *
 * @example Branch on a failed launch
 * ```ts
 * import { LaunchError } from "./errors.ts";
 * const err = new LaunchError("plugin did not start", { exitCode: 1, stderrTail: "boom" });
 * console.assert(err.exitCode === 1 && err.message.endsWith("boom"));
 * ```
 */
export class LaunchError extends RpcPluginError {
  /** Exit code; `null` when a signal ended the process; `undefined` if it did not exit. */
  readonly exitCode?: number | null;
  /** The signal that ended the process, if one did. */
  readonly signal?: Deno.Signal | null;
  /** The last lines of the plugin's stderr (empty when it wrote none or none was read). */
  readonly stderrTail: string;
  /** The offending stdout line, in full, if there was one. */
  readonly line?: string;

  /**
   * Creates the error.
   *
   * @param message What is wrong and what to do.
   * @param details Exit status, stderr tail and line, appended to the message.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, details: LaunchErrorDetails = {}, options?: ErrorOptions) {
    super(compose(message, details), options);
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderrTail = details.stderrTail ?? "";
    this.line = details.line;
  }
}

/**
 * The plugin executable does not exist (or is not on the `PATH` of the
 * plugin's environment).
 *
 * @example
 * ```ts
 * import { ExecutableNotFoundError } from "./errors.ts";
 * const err = new ExecutableNotFoundError("/opt/plugins/kv");
 * console.assert(err.path === "/opt/plugins/kv");
 * ```
 */
export class ExecutableNotFoundError extends LaunchError {
  /** The executable as given. */
  readonly path: string;

  /**
   * Creates the error.
   *
   * @param path The executable as given.
   * @param options Standard error options (`cause`).
   */
  constructor(path: string, options?: ErrorOptions) {
    super(
      `Plugin executable not found: "${path}". Give its absolute path, or put its directory on the PATH of the plugin's environment`,
      {},
      options,
    );
    this.path = path;
  }
}

/**
 * The plugin exited (or closed its stdout and then exited) before printing a
 * complete handshake line: go-plugin's "plugin exited before we could connect".
 *
 * @example
 * ```ts
 * import { PluginExitedError } from "./errors.ts";
 * const err = new PluginExitedError("kv", { code: 1, signal: null }, "bad config");
 * console.assert(err.exitCode === 1 && err.message.includes("exit code 1"));
 * ```
 */
export class PluginExitedError extends LaunchError {
  /**
   * Creates the error.
   *
   * @param command The plugin executable, for the message.
   * @param status How it ended.
   * @param stderrTail The last lines of its stderr.
   * @param line What it printed on stdout without a newline, if anything.
   */
  constructor(
    command: string,
    status: { code: number; signal: Deno.Signal | null },
    stderrTail: string,
    line?: string,
  ) {
    const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
    let hint = "Read its stderr below; it must print its handshake line on stdout before anything";
    if (line !== undefined) {
      hint = "It printed a line without a newline: end the handshake line with \\n and flush it";
    } else if (stderrTail.includes("not meant to be executed directly")) {
      hint =
        "Its magic cookie did not match: give the host the same magicCookieKey and magicCookieValue as the plugin";
    }
    super(
      `Plugin "${command}" exited before we could connect (${how}). ${hint}`,
      { exitCode: status.signal ? null : status.code, signal: status.signal, stderrTail, line },
    );
  }
}

/**
 * No handshake line arrived within `startTimeoutMs`; the plugin was killed.
 *
 * @example
 * ```ts
 * import { StartTimeoutError } from "./errors.ts";
 * const err = new StartTimeoutError("kv", 60000, "");
 * console.assert(err.timeoutMs === 60000);
 * ```
 */
export class StartTimeoutError extends LaunchError {
  /** The timeout that expired (ms). */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param command The plugin executable, for the message.
   * @param timeoutMs The timeout that expired (ms).
   * @param stderrTail The last lines of its stderr.
   * @param line What it printed on stdout without a newline so far, if anything.
   */
  constructor(command: string, timeoutMs: number, stderrTail: string, line?: string) {
    const partial = line === undefined
      ? ""
      : " It printed a partial line: end the handshake line with \\n and flush it.";
    super(
      `Timeout while waiting for plugin "${command}" to start: no handshake line on stdout after ${timeoutMs} ms, so it was killed.${partial} ` +
        "If it needs longer, raise startTimeoutMs; if it waits for something, check that it is not asking a question (run Deno plugins with --no-prompt)",
      { stderrTail, line },
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The plugin printed more than the line limit (64 KiB) on stdout without a
 * newline; it was killed. The `line` holds the first bytes only.
 *
 * @example
 * ```ts
 * import { HandshakeLineTooLongError } from "./errors.ts";
 * const err = new HandshakeLineTooLongError("kv", 65536, "xxxx", "");
 * console.assert(err.limitBytes === 65536);
 * ```
 */
export class HandshakeLineTooLongError extends LaunchError {
  /** The line limit that was exceeded (bytes). */
  readonly limitBytes: number;

  /**
   * Creates the error.
   *
   * @param command The plugin executable, for the message.
   * @param limitBytes The line limit (bytes).
   * @param start The start of what it printed.
   * @param stderrTail The last lines of its stderr.
   */
  constructor(command: string, limitBytes: number, start: string, stderrTail: string) {
    super(
      `Plugin "${command}" printed more than ${limitBytes} bytes on stdout without a newline, so it was killed. ` +
        "Its first stdout line must be the handshake line: check that nothing else writes to stdout before it",
      { stderrTail, line: start },
    );
    this.limitBytes = limitBytes;
  }
}

/** Why a checksum check failed. */
export type ChecksumFailure = "mismatch" | "missing" | "invalid";

/**
 * The plugin executable's SHA-256 is not the expected one, or no usable
 * expected checksum was given (go-plugin's `SecureConfig` errors).
 *
 * @example
 * ```ts
 * import { ChecksumError } from "./errors.ts";
 * const err = new ChecksumError("missing", "/opt/plugins/kv");
 * console.assert(err.reason === "missing" && err.message.startsWith("No checksum"));
 * ```
 */
export class ChecksumError extends LaunchError {
  /** What failed: the digests differ, none was given, or it is not a SHA-256. */
  readonly reason: ChecksumFailure;
  /** The executable that was checked. */
  readonly path: string;
  /** The expected digest as hex, when it was usable. */
  readonly expected?: string;
  /** The executable's digest as hex, when it was computed. */
  readonly actual?: string;

  /**
   * Creates the error.
   *
   * @param reason What failed.
   * @param path The executable.
   * @param expected The expected digest (hex) or, for `invalid`, a description of what was given.
   * @param actual The computed digest (hex).
   */
  constructor(reason: ChecksumFailure, path: string, expected?: string, actual?: string) {
    const messages: Record<ChecksumFailure, string> = {
      mismatch:
        `Checksums did not match for plugin "${path}": expected SHA-256 ${expected}, got ${actual}. ` +
        "The executable is not the one the checksum was taken of: reinstall the plugin or update the expected checksum",
      missing:
        `No checksum provided for plugin "${path}": pass its expected SHA-256 (32 bytes or 64 hex characters)`,
      invalid:
        `The expected checksum for plugin "${path}" is not a SHA-256 (${expected}): pass 32 bytes or 64 hex characters`,
    };
    super(messages[reason]);
    this.reason = reason;
    this.path = path;
    if (reason !== "invalid") this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The plugin printed a valid handshake line, but its address could not be
 * connected to: refused, a TLS failure, or a certificate other than the one
 * announced.
 *
 * @example
 * ```ts
 * import { ConnectError, LaunchError } from "./errors.ts";
 * console.assert(new ConnectError("refused") instanceof LaunchError);
 * ```
 */
export class ConnectError extends LaunchError {}
