/**
 * The KV plugin of `examples/kv/plugin.ts` on the grpc-js engine instead of
 * the native one: the same services, one more option to `serve()`.
 *
 * ```sh
 * KV_PROTO=grpc KV_PLUGIN="deno run --no-prompt --allow-env --allow-net --allow-read=.,/tmp --allow-write=.,/tmp examples/kv/plugin_grpcjs.ts" ./kv put hello world
 * ```
 *
 * @module
 */

import { serve } from "../../mod.ts";
import { grpcJsEngine } from "../../server/engines/grpcjs.ts";
import { kvService } from "./kv.ts";

await serve({
  handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
  services: [kvService()],
  engine: grpcJsEngine,
});
