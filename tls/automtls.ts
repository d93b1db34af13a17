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
 * The key type of our certificate when the author chose none: the host's
 * own ECDSA curve (its TLS stack surely handles that one: go-plugin hosts
 * use P-521, which is also the cheapest to generate), else P-256, which every
 * TLS stack handles.
 */
function keyTypeFor(hostKeyType: string): KeyType {
  return hostKeyType === "ecdsa-p521" || hostKeyType === "ecdsa-p384" ||
      hostKeyType === "ecdsa-p256"
    ? hostKeyType
    : "ecdsa-p256";
}

/**
 * Checks the host's certificate and makes ours.
 *
 * @param hostCertPem The value of `PLUGIN_CLIENT_CERT`.
 * @param keyType Our key type; by default the host's curve, else P-256.
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
      `${ENV.clientCert} does not hold a usable certificate (${err.message}). ` +
        "It must be the host's certificate as PEM, as go-plugin hosts send it with AutoMTLS on; " +
        `unset ${ENV.clientCert} to serve without TLS`,
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
  const chosen = keyType ?? keyTypeFor(host.keyType);
  const ours = await makeAutoCertificate(chosen, now);
  return {
    serverTls: {
      certPem: ours.certPem,
      keyPem: ours.keyPem,
      clientCaPem: hostCertPem,
      requireClientCert: true,
    },
    certDer: ours.certDer,
    keyType: chosen,
  };
}
