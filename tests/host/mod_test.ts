/**
 * The hosts' entry point (host/mod.ts) exports what a host author uses:
 * `launch()` relays the plugin's stderr through its `logger` option, so the
 * relay's pieces (host/log_relay.ts) stay internal.
 */

import * as host from "../../host/mod.ts";
import { assert } from "../_util/assert.ts";

Deno.test("host/mod.ts exports launch() and attach(), not the log relay's internals", () => {
  assert(typeof host.launch === "function" && typeof host.attach === "function");
  for (const name of ["classifyLine", "createLogRelay"]) {
    assert(!(name in host), `host/mod.ts exports ${name}`);
  }
});
