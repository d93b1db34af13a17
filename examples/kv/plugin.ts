/**
 * A key/value plugin, wire-compatible with go-plugin's `examples/grpc`
 * (cookie `BASIC_PLUGIN=hello`, protocol version 1, service `proto.KV`).
 * `Put` writes file `kv_<key>` in the current directory; `Get` reads it.
 *
 * Run it under go-plugin's own example host (`deno task demo` does this):
 *
 * ```sh
 * KV_PROTO=grpc KV_PLUGIN="deno run --no-prompt --allow-env --allow-net --allow-read=.,/tmp --allow-write=.,/tmp examples/kv/plugin.ts" ./kv put hello world
 * ```
 *
 * `--allow-read`/`--allow-write` cover the current directory (the KV files)
 * and the socket directory (`$TMPDIR`, else `/tmp`; use that directory
 * instead of `/tmp` if it is set).
 *
 * @module
 */

import { serve } from "../../mod.ts";
import { kvService } from "./kv.ts";

await serve({
  handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
  services: [kvService()],
});
