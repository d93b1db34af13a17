/**
 * Errors of our TLS 1.3 server: each carries the alert it sends the peer.
 *
 * @module
 */

import { type AlertCode, AlertDescription } from "./constants.ts";

/** Alert names by code, made on the first refusal (not at load: the plain path never needs them). */
let names: Readonly<Record<number, string>> | undefined;

/**
 * An alert's name as RFC 8446 spells it (`bad_certificate`), or its number.
 *
 * @example
 * ```ts
 * import { alertName } from "./errors.ts";
 * console.assert(alertName(116) === "certificate_required");
 * ```
 *
 * @param code The alert description.
 * @returns Its name.
 */
export function alertName(code: number): string {
  names ??= Object.fromEntries(
    Object.entries(AlertDescription).map(([name, value]) => [
      value,
      name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
    ]),
  );
  return names[code] ?? `alert ${code}`;
}

/**
 * What the peer did wrong in the TLS handshake or record layer, and the
 * alert that tells it so (`alert`, RFC 8446 §6.2).
 *
 * @example
 * ```ts
 * import { TlsAlertError } from "./errors.ts";
 * import { AlertDescription } from "./constants.ts";
 * const err = new TlsAlertError(AlertDescription.decodeError, "ClientHello: truncated");
 * console.assert(err.alert === 50);
 * ```
 */
export class TlsAlertError extends Error {
  /** The alert description sent to the peer. */
  readonly alert: AlertCode;

  /**
   * @param alert The alert to send.
   * @param message What is wrong.
   */
  constructor(alert: AlertCode, message: string) {
    super(`${message} (TLS alert ${alertName(alert)})`);
    this.name = "TlsAlertError";
    this.alert = alert;
  }
}

/**
 * The peer sent us an alert (other than close_notify): the connection is over.
 *
 * @example
 * ```ts
 * import { TlsPeerAlertError } from "./errors.ts";
 * console.assert(new TlsPeerAlertError(42).message.includes("bad_certificate"));
 * ```
 */
export class TlsPeerAlertError extends Error {
  /** The alert description the peer sent. */
  readonly alert: number;

  /** @param alert The alert the peer sent. */
  constructor(alert: number) {
    super(`the peer sent the TLS alert ${alertName(alert)}`);
    this.name = "TlsPeerAlertError";
    this.alert = alert;
  }
}
