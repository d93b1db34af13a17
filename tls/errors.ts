/**
 * Errors raised while reading certificates.
 *
 * This file has no dependencies, so code that only needs to recognise a
 * {@linkcode CertificateError} (for example with `instanceof`) can import it
 * without loading the X.509 library behind `tls/cert.ts`.
 *
 * @example Telling a bad certificate apart from other failures
 * ```ts
 * import { CertificateError } from "./errors.ts";
 * import { parseCertificatePem } from "./cert.ts";
 *
 * try {
 *   parseCertificatePem("not a certificate");
 * } catch (error) {
 *   if (error instanceof CertificateError) console.error(error.kind, error.message);
 *   else throw error;
 * }
 * ```
 *
 * @module
 */

/**
 * What was wrong with the input of a certificate reader.
 *
 * - `"not-pem"`: the text has no PEM block of the expected kind at all.
 * - `"not-certificate"`: the text holds PEM blocks, but of another kind, for
 *   example a private key; {@linkcode CertificateError.label} names it.
 * - `"malformed"`: the PEM armour is there but its base64 or its DER content
 *   cannot be decoded as an X.509 certificate.
 */
export type CertificateErrorKind = "not-pem" | "not-certificate" | "malformed";

/** Options for the {@linkcode CertificateError} constructor. */
export interface CertificateErrorOptions extends ErrorOptions {
  /** Label of the PEM block that was found instead of the expected one. */
  label?: string;
}

/**
 * Thrown when a certificate (or another PEM object) cannot be read.
 *
 * The message says what is wrong and what to do about it; {@linkcode kind}
 * lets callers branch without parsing the message.
 *
 * @example Branching on the kind of failure
 * ```ts
 * import { CertificateError } from "./errors.ts";
 *
 * const error = new CertificateError(
 *   "not-certificate",
 *   'Expected a "CERTIFICATE" PEM block but found "PRIVATE KEY"',
 *   { label: "PRIVATE KEY" },
 * );
 * if (error.kind === "not-certificate") console.log(error.label); // "PRIVATE KEY"
 * ```
 */
export class CertificateError extends Error {
  /** What was wrong with the input. */
  readonly kind: CertificateErrorKind;
  /** Label of the PEM block that was found instead, when there was one. */
  readonly label: string | undefined;

  /**
   * Creates a certificate error.
   *
   * @param kind What was wrong with the input.
   * @param message What is wrong and what to do about it.
   * @param options The underlying `cause` and the PEM label found, if any.
   */
  constructor(
    kind: CertificateErrorKind,
    message: string,
    options?: CertificateErrorOptions,
  ) {
    super(message, options);
    this.name = "CertificateError";
    this.kind = kind;
    this.label = options?.label;
  }
}
