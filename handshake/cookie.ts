/**
 * The magic-cookie check: the first thing a plugin does, so that running the
 * binary by hand says what it is instead of hanging.
 *
 * @module
 */

import { CookieError, StartupError } from "../errors.ts";

/** The handshake settings plugin and host agree on, as in go-plugin. */
export interface HandshakeConfig {
  /** Environment variable the host sets, e.g. `BASIC_PLUGIN`. */
  magicCookieKey: string;
  /** Value it must hold, e.g. `hello`. Never printed. */
  magicCookieValue: string;
  /**
   * App protocol version served when `versions` is not given.
   * @default {1}
   */
  protocolVersion?: number;
}

/**
 * Checks the magic cookie in the environment.
 *
 * @example
 * ```ts
 * import { checkCookie } from "@rpcplugin/rpcplugin/protocol";
 * const cfg = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" };
 * checkCookie(cfg, (k) => k === "BASIC_PLUGIN" ? "hello" : undefined);
 * ```
 *
 * @param config The plugin's handshake config.
 * @param getEnv Reads one environment variable.
 * @throws {StartupError} When the plugin itself has no cookie configured.
 * @throws {CookieError} When the cookie is missing or wrong. The message says
 * how to run a plugin and never contains the expected value.
 */
export function checkCookie(
  config: HandshakeConfig,
  getEnv: (name: string) => string | undefined,
): void {
  if (!config.magicCookieKey || !config.magicCookieValue) {
    throw new StartupError(
      "Misconfigured plugin: serve() needs handshake.magicCookieKey and handshake.magicCookieValue (the same values the host uses)",
    );
  }
  if (getEnv(config.magicCookieKey) !== config.magicCookieValue) {
    throw new CookieError(
      "This binary is a plugin. These are not meant to be executed directly.\n" +
        "Please execute the program that consumes these plugins, which will\n" +
        `load any plugins automatically (the host sets ${config.magicCookieKey}).`,
    );
  }
}
