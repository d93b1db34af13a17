/**
 * PEM and base64 helpers for certificates and keys.
 *
 * These functions have no dependencies (they do not load the X.509 library
 * behind `tls/cert.ts`), so the handshake code can use
 * {@linkcode certToHandshakeField} cheaply.
 *
 * @example Converting between PEM and DER
 * ```ts
 * import { derToPem, pemToDer } from "./pem.ts";
 *
 * const pem = derToPem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), "CERTIFICATE");
 * const der = pemToDer(pem, "CERTIFICATE");
 * console.log(der.length); // 5
 * ```
 *
 * @module
 */

import { CertificateError } from "./errors.ts";

const PEM_BLOCK = /-----BEGIN ([^\r\n-]*)-----([\s\S]*?)-----END ([^\r\n-]*)-----/g;
const PEM_LABEL = /^[A-Z0-9]+(?: [A-Z0-9]+)*$/;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

function checkLabel(label: string): void {
  if (!PEM_LABEL.test(label)) {
    throw new TypeError(
      `Cannot use "${label}" as a PEM label: use upper-case words such as "CERTIFICATE" or "PRIVATE KEY"`,
    );
  }
}

/**
 * Decodes the first PEM block with the given label to its DER bytes.
 *
 * Text around the block and other blocks are ignored, so a bundle of several
 * objects is accepted. Line endings may be `\n` or `\r\n`.
 *
 * @example Reading the DER of a certificate
 * ```ts
 * import { pemToDer } from "./pem.ts";
 *
 * const pem = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
 * console.log(pemToDer(pem, "CERTIFICATE")); // Uint8Array(5) [ 48, 3, 2, 1, 1 ]
 * ```
 *
 * @param pem PEM text, for example `-----BEGIN CERTIFICATE-----\n…`.
 * @param label The label of the block to decode, for example `"CERTIFICATE"`.
 * @returns The DER bytes of the first block with that label.
 * @throws {CertificateError} `"not-pem"` when the text has no PEM block,
 * `"not-certificate"` when it only has blocks with other labels (the error's
 * `label` names the first one), `"malformed"` when the block's base64 is
 * broken or its END line does not match.
 * @throws {TypeError} When `label` is not a valid PEM label.
 */
export function pemToDer(pem: string, label: string): Uint8Array {
  checkLabel(label);
  if (typeof pem !== "string") {
    throw new CertificateError(
      "not-pem",
      `Expected PEM text with a "${label}" block but got ${typeof pem}: pass the file's text, not its bytes`,
    );
  }
  let otherLabel: string | undefined;
  for (const match of pem.matchAll(PEM_BLOCK)) {
    const [, begin, body, end] = match;
    if (begin !== label) {
      otherLabel ??= begin;
      continue;
    }
    if (end !== label) {
      throw new CertificateError(
        "malformed",
        `The PEM block "BEGIN ${begin}" ends with "END ${end}": the text is damaged, export the ${label} again`,
        { label: begin },
      );
    }
    return decodeBody(body, label);
  }
  if (otherLabel !== undefined) {
    const hint = otherLabel.includes("PRIVATE KEY")
      ? `this is a private key; pass the ${label} PEM instead and keep the key secret`
      : `pass a PEM file that contains a "${label}" block`;
    throw new CertificateError(
      "not-certificate",
      `Expected a "${label}" PEM block but found "${otherLabel}": ${hint}`,
      { label: otherLabel },
    );
  }
  throw new CertificateError(
    "not-pem",
    `Expected PEM text with a "-----BEGIN ${label}-----" line but found none: pass PEM text (convert DER with derToPem() or "openssl x509 -inform der")`,
  );
}

function decodeBody(body: string, label: string): Uint8Array {
  const compact = body.replace(/\s+/g, "");
  if (
    compact.length === 0 || compact.length % 4 !== 0 ||
    !BASE64_BODY.test(compact)
  ) {
    throw new CertificateError(
      "malformed",
      `The "${label}" PEM block does not hold valid base64: the text is damaged or has PEM headers, export the ${label} again`,
      { label },
    );
  }
  return Uint8Array.fromBase64(compact);
}

/**
 * Encodes DER bytes as a PEM block with the given label.
 *
 * The base64 is wrapped at 64 characters and the result ends with a newline,
 * as OpenSSL and Go write it.
 *
 * @example Writing a certificate as PEM
 * ```ts
 * import { derToPem } from "./pem.ts";
 *
 * console.log(derToPem(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), "CERTIFICATE"));
 * // -----BEGIN CERTIFICATE-----
 * // MAMCAQE=
 * // -----END CERTIFICATE-----
 * ```
 *
 * @param der The DER bytes.
 * @param label The PEM label, for example `"CERTIFICATE"` or `"PRIVATE KEY"`.
 * @returns The PEM text.
 * @throws {TypeError} When `label` is not a valid PEM label.
 */
export function derToPem(der: Uint8Array, label: string): string {
  checkLabel(label);
  const base64 = der.toBase64();
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) {
    lines.push(base64.slice(i, i + 64));
  }
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Encodes a certificate's DER for field 6 of the go-plugin handshake line.
 *
 * The result is base64 with the standard alphabet (`+` and `/`), without `=`
 * padding and without line breaks: Go's `base64.RawStdEncoding`, which is the
 * only encoding the go-plugin host decodes. It is not PEM and not URL-safe.
 *
 * @example Building the server certificate field
 * ```ts
 * import { certToHandshakeField } from "./pem.ts";
 *
 * console.log(certToHandshakeField(new Uint8Array([0xfb, 0xff]))); // "+/8"
 * ```
 *
 * @param der The DER bytes of the plugin's leaf certificate.
 * @returns Unpadded standard base64 of `der`.
 * @throws {TypeError} When `der` is empty.
 */
export function certToHandshakeField(der: Uint8Array): string {
  if (der.length === 0) {
    throw new TypeError(
      "Cannot encode an empty certificate for the handshake: pass the certificate's DER bytes",
    );
  }
  return der.toBase64({ omitPadding: true });
}
