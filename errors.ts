/**
 * Typed errors. Each message names the problem and what to do about it.
 *
 * @module
 */

/**
 * Base class of every error this library throws on purpose.
 *
 * @example Branch on the library's errors
 * ```ts
 * import { RpcPluginError } from "@rpcplugin/rpcplugin";
 * try {
 *   throw new RpcPluginError("something went wrong");
 * } catch (e) {
 *   if (e instanceof RpcPluginError) console.error(e.message);
 * }
 * ```
 */
export class RpcPluginError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The plugin could not start: bad environment, no listener, bad options.
 * `serve()` prints its message on stderr and exits with status 1.
 *
 * @example
 * ```ts
 * import { StartupError } from "@rpcplugin/rpcplugin";
 * const err = new StartupError("PLUGIN_MIN_PORT is not a number");
 * console.assert(err.name === "StartupError");
 * ```
 */
export class StartupError extends RpcPluginError {}

/**
 * The magic cookie is missing or wrong: the binary was run by hand, or by a
 * host for another kind of plugin.
 *
 * @example
 * ```ts
 * import { CookieError } from "@rpcplugin/rpcplugin";
 * console.assert(new CookieError("x") instanceof Error);
 * ```
 */
export class CookieError extends StartupError {}

/**
 * A Deno permission the plugin needs was not granted. `flag` is the command
 * line flag to add.
 *
 * @example
 * ```ts
 * import { PermissionError } from "@rpcplugin/rpcplugin";
 * const err = new PermissionError("--allow-env", "reading PLUGIN_* variables");
 * console.assert(err.flag === "--allow-env");
 * ```
 */
export class PermissionError extends StartupError {
  /** The Deno flag that grants the missing permission. */
  readonly flag: string;
  /**
   * Creates the error from the flag and the refused action.
   *
   * @param flag The Deno flag to add, e.g. `--allow-net`.
   * @param what What the program was doing when it was refused.
   * @param options Standard error options (`cause`).
   * @param program Who needs the flag: "the plugin" or "the host".
   */
  constructor(flag: string, what: string, options?: ErrorOptions, program = "the plugin") {
    super(
      `Deno refused ${what}: run ${program} with ${flag} (see the README's "Permissions" section)`,
      options,
    );
    this.flag = flag;
  }
}

/**
 * A handshake line from a plugin could not be parsed or is not acceptable.
 * `line` is the offending line.
 *
 * @example
 * ```ts
 * import { HandshakeError } from "@rpcplugin/rpcplugin/protocol";
 * const err = new HandshakeError("too few fields", "1|1");
 * console.assert(err.line === "1|1");
 * ```
 */
export class HandshakeError extends RpcPluginError {
  /** The line that was rejected. */
  readonly line: string;
  /**
   * Creates the error.
   *
   * @param message What is wrong with the line.
   * @param line The line as received.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, line: string, options?: ErrorOptions) {
    super(message, options);
    this.line = line;
  }
}

/**
 * Turns Deno's permission refusal into a {@linkcode PermissionError} naming
 * the flag to add; passes any other error through unchanged.
 *
 * @param err The caught error.
 * @param what What was being done, for the message.
 * @param program Who needs the flag: "the plugin" (default) or "the host".
 * @returns The error to throw.
 */
export function explainPermission(err: unknown, what: string, program = "the plugin"): unknown {
  if (!(err instanceof Deno.errors.NotCapable)) return err;
  const kind = /Requires (\w+) access/.exec(err.message)?.[1] ?? "";
  const flag = kind ? `--allow-${kind}` : "the --allow-* flag Deno names";
  return new PermissionError(flag, `${what} (${err.message})`, { cause: err }, program);
}
