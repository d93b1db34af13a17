/**
 * Our server against grpc-go's interop client (v1.85.0 `interop/client`,
 * plaintext): grpc's `grpc.testing.TestService` on our service model
 * (tests/fixtures/interop_service.ts), served on a loopback TCP port by each
 * engine in turn, the native one and grpc-js, and every standard case of
 * grpc/grpc doc/interop-test-descriptions.md that needs no cloud
 * credentials, one test per case per engine, each with its own server.
 *
 * grpc-go's interop client has no compression cases. client_compressed_unary,
 * server_compressed_unary and server_compressed_streaming run from our
 * grpc-go peer (tests/interop/gzippeer, grpc-go's client with its gzip
 * compressor), then from our own client (_grpc_interop_cases.ts). On
 * grpc-js, which never compresses a response, the server_compressed cases
 * cannot pass and are ignored. client_compressed_streaming needs a client
 * that compresses one message of a stream and not the next; neither
 * grpc-go's nor ours does.
 */

import { connect } from "../../rpc/connect.ts";
import { createLogger } from "../../log/logger.ts";
import type { EngineFactory } from "../../server/engine.ts";
import { createNativeEngine } from "../../server/engines/native.ts";
import { grpcJsEngine } from "../../server/engines/grpcjs.ts";
import { assert } from "../_util/assert.ts";
import { grpcInteropClient, gzipPeer } from "../_util/peers.ts";
import { interopTestService } from "../fixtures/interop_service.ts";
import { COMPRESSION_CASES } from "./_grpc_interop_cases.ts";

const HOST = "127.0.0.1";
const MAX_MESSAGE_BYTES = 4 << 20;

const ENGINES: Record<string, EngineFactory> = {
  native: createNativeEngine,
  "grpc-js": grpcJsEngine,
};

/** The standard cases grpc-go's interop client runs against any TestService. */
const STANDARD_CASES = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "timeout_on_sleeping_server",
  "cancel_after_begin",
  "cancel_after_first_response",
  "custom_metadata",
  "status_code_and_message",
  "special_status_message",
  "unimplemented_method",
  "unimplemented_service",
];

/** Runs `fn` with the TestService served by `engine` on a loopback port, then stops it. */
async function withServer(
  engine: EngineFactory,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const logLines: string[] = [];
  const server = engine({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    logger: createLogger({ level: "warn", write: (l) => logLines.push(l) }),
  });
  server.addService(interopTestService());
  const port = await server.bind("tcp", `${HOST}:0`);
  assert(port, "no port bound");
  try {
    await fn(port);
  } catch (err) {
    if (logLines.length) (err as Error).message += `\nserver log:\n${logLines.join("")}`;
    throw err;
  } finally {
    await server.shutdown(1000);
  }
}

/** Runs a Go interop client for one case; throws with its output if it fails. */
async function goClient(bin: string, args: string[], what: string): Promise<void> {
  const res = await new Deno.Command(bin, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert(
    res.success,
    `${what} failed (exit ${res.code}):\n${text.decode(res.stdout)}${text.decode(res.stderr)}`,
  );
}

const target = (port: number) => [`-server_host=${HOST}`, `-server_port=${port}`];

for (const [engineName, engine] of Object.entries(ENGINES)) {
  for (const name of STANDARD_CASES) {
    Deno.test(`gRPC interop, server role (${engineName}): ${name} (grpc-go's interop client)`, async () => {
      const bin = await grpcInteropClient();
      await withServer(engine, (port) =>
        goClient(
          bin,
          [...target(port), "-use_tls=false", `-test_case=${name}`],
          `grpc-go's interop client, ${name}`,
        ));
    });
  }
  for (const [name, run] of Object.entries(COMPRESSION_CASES)) {
    Deno.test({
      name:
        `gRPC interop, server role (${engineName}): ${name} (gzippeer's grpc-go client, then ours)`,
      // grpc-js sends every response message uncompressed.
      ignore: engineName === "grpc-js" && name.startsWith("server_compressed"),
      fn: async (t) => {
        const bin = await gzipPeer();
        await withServer(engine, async (port) => {
          await t.step("gzippeer's grpc-go client", () =>
            goClient(
              bin,
              ["-mode=client", ...target(port), `-test_case=${name}`],
              `gzippeer, ${name}`,
            ));
          await t.step("our client", async () => {
            const channel = await connect({
              network: "tcp",
              address: `${HOST}:${port}`,
              maxMessageBytes: MAX_MESSAGE_BYTES,
              timeoutMs: 5000,
            });
            try {
              await run(channel);
            } finally {
              channel.close();
            }
          });
        });
      },
    });
  }
}
