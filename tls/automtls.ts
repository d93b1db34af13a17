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
import { type HostCertificate, makeAutoCertificate, readHostCertificate } from "./autocert.ts";
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
 * The key type of our certificate when the author chose none
 * (`autoMtlsKeyType`): **Ed25519** when the host's certificate is a P-521
 * one for `localhost` (go-plugin's, so Terraform's and OpenTofu's, and our
 * own host's), else ECDSA **P-256**.
 *
 * Why, measured on Deno 2.9.6 (a fresh `deno run` per figure, median of 5):
 * WebCrypto's first P-256 or P-384 key generation takes 33-36 ms, a
 * one-time init of the crypto stack; P-521's takes 1.4 ms and its signature
 * 3-4 ms, Ed25519's 0.4-0.6 ms and 0.3 ms, neither with an init (RSA-2048
 * 230 ms); and the host checks our signature and certificate, where Go's
 * P-521 verification costs it 5-6 ms a launch and Ed25519's a fraction.
 * Which server keys the hosts accept: go-plugin v1.8's Go host, Terraform
 * 1.11 and OpenTofu (Go's crypto/tls) take P-256, P-384, P-521, Ed25519
 * and RSA; our host (rustls) takes P-521 and Ed25519 (go-plugin's own
 * plugins have P-521). pyvider-rpcplugin 0.5.5's client (grpcio's
 * BoringSSL) takes P-256, P-384 and RSA but never P-521 (nor Ed25519), even
 * when its own certificate is P-521 (PYVIDER_CLIENT_CERT_CURVE=p521; P-384
 * by default, CN "pyvider.rpcplugin.autogen.client"): so "the host's own
 * type" is not safe, and the CN tells go-plugin-style hosts apart. Every
 * other host gets P-256, which all of them take.
 *
 * Ed25519 against P-521 under go-plugin's host (`deno task bench --startup
 * --baseline`, 20 launches each, interleaved, load 1.5): the bundle's
 * AutoMTLS handshake / first call 43.1 / 69.9 ms against 48.0 / 85.4 ms
 * (1.7× / 1.9× Go against 1.9× / 2.3×).
 *
 * The saving is for a TLS server on WebCrypto (no rustls): first call under
 * go-plugin's host, P-521 / P-256, 0.89× there (117 vs 132 ms p50, 40
 * launches each), but 1.04× under `node:tls`, whose rustls pays the same
 * init in the first handshake, on the main thread, instead of in the key
 * generation beside `node:tls` loading (153 vs 147 ms).
 *
 * @param host The host's certificate, as read from `PLUGIN_CLIENT_CERT`.
 * @returns The key type.
 */
export function defaultKeyType(host: HostCertificate): KeyType {
  return host.keyType === "ecdsa-p521" && host.commonName === "localhost"
    ? "ed25519"
    : "ecdsa-p256";
}

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
 * @param keyType Our key type; by default {@linkcode defaultKeyType}'s for the host's certificate.
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
  const chosen = keyType ?? defaultKeyType(host);
  const ours = await makeAutoCertificate(chosen, now);
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
