/**
 * A counter plugin, wire-compatible with go-plugin's
 * `examples/bidirectional` (cookie `BASIC_PLUGIN=hello`, protocol version 1,
 * service `proto.Counter`, callbacks to the host's `proto.AddHelper` through
 * the GRPCBroker).
 *
 * ```sh
 * go build -o counter github.com/hashicorp/go-plugin/examples/bidirectional
 * COUNTER_PLUGIN="deno run --no-prompt --allow-env --allow-net --allow-read=.,/tmp --allow-write=.,/tmp examples/counter/plugin.ts" ./counter put hello 1
 * ```
 *
 * (go-plugin's example host reads the plugin command from `COUNTER_PLUGIN`.)
 *
 * @module
 */

import { serve } from "../../mod.ts";
import { counterService } from "./counter.ts";

await serve({
  handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
  services: [counterService()],
});
