/**
 * Evaluated just before grpc-js: grpc-js reads `GRPC_*` variables while it
 * loads, and without `--allow-env` Deno would stop there with a stack trace
 * (or, without `--no-prompt`, prompt on the host's terminal). This says
 * which flag to add instead.
 *
 * @module
 */

import { PermissionError } from "../../errors.ts";

const probe = { name: "env", variable: "GRPC_NODE_VERBOSITY" } as const;
if (Deno.permissions.querySync(probe).state !== "granted") {
  throw new PermissionError(
    "--allow-env",
    "access to the environment (grpc-js reads GRPC_* variables when it loads; the plugin reads its cookie and PLUGIN_* variables)",
  );
}
