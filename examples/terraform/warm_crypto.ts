/**
 * Imported first by `main.ts`, so that it runs before the provider's other
 * modules are evaluated (in the launcher and in the bundle alike): when the
 * host asks for AutoMTLS (`PLUGIN_CLIENT_CERT` set, as Terraform always
 * does), it starts a throw-away ECDSA P-256 key generation. Its only purpose
 * is to make Deno initialise its crypto library, a one-time cost of 27-47 ms
 * per process that runs off the main thread, while the modules evaluate and
 * `serve()` begins; `serve()` then makes the certificate's key as before,
 * fresh for this launch (this key is never used or kept). Measured in
 * bench/README.md ("Terraform"): about 4 ms off every AutoMTLS launch.
 *
 * @module
 */

// constants.ts itself, not the `./protocol` entry that re-exports ENV: a
// module's imports evaluate before its body, and that entry would load the
// whole HTTP/2 stack before the key generation starts.
import { ENV } from "../../constants.ts";

/** Whether this process will serve AutoMTLS (false when the variable may not be read). */
function autoMtlsAsked(): boolean {
  try {
    return !!Deno.env.get(ENV.clientCert);
  } catch {
    return false; // no --allow-env for it: serve() reports that itself
  }
}

if (autoMtlsAsked()) {
  crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])
    .catch(() => {}); // a failure shows in serve()'s own key generation
}
