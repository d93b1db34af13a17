/**
 * Launching the example provider's executable the way Terraform does (its
 * cookie, protocol 6, AutoMTLS, a unix socket in the work directory) with
 * our host, and pinging it: the check shared by the launcher and bundle
 * tests.
 *
 * @module
 */

import { launch } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { PROTOCOL_VERSION } from "../../examples/terraform/tfplugin6/mod.ts";
import { TF_MAGIC_COOKIE } from "../_util/peers.ts";

/**
 * Launches `cmd` as Terraform would, pings it, and stops it.
 *
 * @param cmd The provider's executable.
 * @param cwd Its working directory, also where its socket goes.
 * @param env Its environment (whatever the test sets besides).
 */
export async function pingProvider(
  cmd: string,
  cwd: string,
  env: Record<string, string>,
): Promise<void> {
  const plugin = await launch({
    cmd: [cmd],
    cwd,
    env,
    unixSocket: { dir: cwd },
    handshake: { magicCookieKey: TF_MAGIC_COOKIE.key, magicCookieValue: TF_MAGIC_COOKIE.value },
    versions: [PROTOCOL_VERSION],
    autoMtls: true,
    logger: createLogger({ level: "off", write: () => {} }),
  });
  try {
    await plugin.ping();
  } finally {
    await plugin.kill();
  }
}
