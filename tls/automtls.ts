/**
 * AutoMTLS, plugin side: when the host passes its certificate in
 * `PLUGIN_CLIENT_CERT`, the plugin makes its own certificate, serves TLS that
 * requires and verifies a client certificate trusting only the host's, and
 * announces its certificate in handshake field 6.
 *
 * @module
 */

import { ENV } from "../constants.ts";
import { StartupError } from "../errors.ts";
import type { ServerTls } from "../server/engine.ts";
import { makeAutoCertificate, readHostCertificate } from "./autocert.ts";
import type { KeyType } from "./cert.ts";
import { CertificateError } from "./errors.ts";

/** What {@linkcode setUpAutoMtls} hands to the server and the handshake. */
export interface AutoMtls {
  /** TLS settings: our certificate, and the host's as the only client CA. */
  serverTls: ServerTls;
  /** Our certificate's DER, for handshake field 6. */
  certDer: Uint8Array;
  /** Key type of our certificate. */
  keyType: KeyType;
}

/**
 * The key type of our certificate when the author chose none: P-256, which
 * every host's TLS stack handles (pyvider's Python client cannot use P-521,
 * and refuses an Ed25519 server certificate with a handshake failure).
 * Speed does not decide it: Deno 2.9 pays 30-50 ms of CPU once for its
 * crypto stack, in WebCrypto's first ECDSA key generation (off the main
 * thread, beside `node:tls` loading: serve() starts it first) or else in the
 * first TLS handshake (on the main thread). An Ed25519 key skips it at key
 * generation and pays it in the handshake: its first call measured the same
 * as P-256's under go-plugin's host (bench/README.md, "Start-up").
 */
const DEFAULT_KEY_TYPE: KeyType = "ecdsa-p256";

/**
 * What is wrong with the host's certificate, without the hints for authors
 * that {@linkcode CertificateError} messages carry (the host, not the
 * plugin's author, sets the variable).
 */
function hostCertProblem(err: CertificateError): string {
  switch (err.kind) {
    case "not-pem":
      return 'no "-----BEGIN CERTIFICATE-----" line';
    case "not-certificate":
      return `a "${err.label}" PEM block instead of a certificate`;
    default:
      return `the PEM block does not decode as an X.509 certificate: ${
        (err.cause as Error | undefined)?.message ?? err.message
      }`;
  }
}

/**
 * Checks the host's certificate and makes ours.
 *
 * @param hostCertPem The value of `PLUGIN_CLIENT_CERT`.
 * @param keyType Our key type; P-256 by default.
 * @param now The current time (tests).
 * @returns Server TLS settings and our certificate.
 * @throws {StartupError} When the host's certificate is not a usable PEM
 * certificate or is outside its validity period.
 */
export async function setUpAutoMtls(
  hostCertPem: string,
  keyType?: KeyType,
  now: Date = new Date(),
): Promise<AutoMtls> {
  // The key first: its generation is the longest step of a launch (see DEFAULT_KEY_TYPE).
  const chosen = keyType ?? DEFAULT_KEY_TYPE;
  const making = makeAutoCertificate(chosen, now);
  making.catch(() => {}); // awaited below unless the host's certificate is refused first
  let host;
  try {
    host = readHostCertificate(hostCertPem);
  } catch (err) {
    if (!(err instanceof CertificateError)) throw err;
    throw new StartupError(
      `${ENV.clientCert} does not hold a usable certificate (${hostCertProblem(err)}). ` +
        `The host sets ${ENV.clientCert}: with AutoMTLS on, a go-plugin host passes its own ` +
        "certificate there as PEM. Fix the host (or whatever sets the variable), or unset " +
        `${ENV.clientCert} to serve without TLS`,
      { cause: err },
    );
  }
  if (now < host.notBefore || now > host.notAfter) {
    throw new StartupError(
      `The host's certificate in ${ENV.clientCert} is valid from ${host.notBefore.toISOString()} ` +
        `to ${host.notAfter.toISOString()}, not now (${now.toISOString()}): ` +
        "restart the host so it makes a fresh one, or check this machine's clock",
    );
  }
  const ours = await making;
  return {
    serverTls: {
      certPem: ours.certPem,
      keyPem: ours.keyPem,
      clientCaPem: hostCertPem,
      requireClientCert: true,
      autoMtls: {
        privateKey: ours.privateKey,
        keyType: chosen,
        certDer: ours.certDer,
        clientCertDer: host.der,
        clientSpki: host.spki,
      },
    },
    certDer: ours.certDer,
    keyType: chosen,
  };
}

/**
 * A certificate of the plugin author's own (`serve()`'s `tls` option), like
 * go-plugin's `ServeConfig.TLSProvider`.
 */
export interface TlsOptions {
  /** Certificate chain, PEM. */
  certPem: string;
  /** Private key, PEM. */
  keyPem: string;
  /** CA certificates (PEM) that client certificates must chain to. */
  clientCaPem?: string;
}

/**
 * The server's TLS: AutoMTLS when the host passed its certificate (it wins
 * over the author's own, as in go-plugin), else the author's certificate,
 * else none.
 *
 * @param hostCertPem `PLUGIN_CLIENT_CERT`, if set.
 * @param own The author's certificate, if any.
 * @param keyType Key type for the AutoMTLS certificate.
 * @returns TLS settings (none for plaintext) and, with AutoMTLS, our certificate's DER.
 */
export async function chooseServerTls(
  hostCertPem: string | undefined,
  own: TlsOptions | undefined,
  keyType: KeyType | undefined,
): Promise<{ tls?: ServerTls; certDer?: Uint8Array }> {
  if (hostCertPem) {
    const auto = await setUpAutoMtls(hostCertPem, keyType);
    return { tls: auto.serverTls, certDer: auto.certDer };
  }
  if (!own) return {};
  const { certPem, keyPem, clientCaPem } = own;
  return { tls: { certPem, keyPem, clientCaPem, requireClientCert: clientCaPem !== undefined } };
}
