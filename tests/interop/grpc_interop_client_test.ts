/**
 * Our gRPC client against grpc-go's interop server (v1.85.0
 * `interop/server`, plaintext): the standard interop cases of
 * grpc/grpc doc/interop-test-descriptions.md (see _grpc_interop_cases.ts), each
 * on its own connection made by `connect()`, prove that our client's unary and
 * streaming calls, flow control on large messages, metadata (text and `-bin`,
 * headers and trailers), status codes and messages, cancellation and deadlines
 * interoperate with a reference implementation.
 *
 * grpc-go's own interop client runs the same cases against the same server
 * first: if it fails too, the harness (or the server) is at fault, not our
 * client. The server is started once, on a free port; every connection goes
 * to 127.0.0.1 only.
 *
 * The compression cases client_compressed_unary and server_compressed_unary
 * are in neither grpc-go interop program (no such cases in the client, no
 * gzip in the server): they run against our grpc-go peer, gzippeer, whose
 * server implements them on grpc-go's gzip, and its client is the harness
 * check.
 */

import { connect } from "../../rpc/connect.ts";
import type { Channel } from "../../rpc/client_call.ts";
import { assert } from "../_util/assert.ts";
import { grpcInteropClient, grpcInteropServer, gzipPeer } from "../_util/peers.ts";
import {
  COMPRESSION_CASES,
  INTEROP_CASES,
  PEER_SERVED_COMPRESSION_CASES,
} from "./_grpc_interop_cases.ts";

const HOST = "127.0.0.1";
const MAX_MESSAGE_BYTES = 4 << 20;
const START_TIMEOUT_MS = 20_000;

/** The running interop server: its port, its log so far, and how to stop it. */
interface InteropServer {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts grpc-go's interop server (or, with `peer`, our gzippeer's) on a
 * port the system picks (`-port=0`), learnt from its "listening on" log line;
 * its stderr is drained until it exits.
 */
async function startServer(peer = false): Promise<InteropServer> {
  const bin = peer ? await gzipPeer() : await grpcInteropServer();
  const child = new Deno.Command(bin, {
    args: peer ? ["-mode=server", "-port=0"] : ["-port=0", "-use_tls=false"],
    env: { GRPC_GO_LOG_SEVERITY_LEVEL: "info", GRPC_GO_LOG_VERBOSITY_LEVEL: "0" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const port = Promise.withResolvers<number>();
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      if (log.length < 1 << 20) log += chunk;
      const m = log.match(/(?:interop server|gzippeer) listening on \S*:(\d+)\n/);
      if (m) port.resolve(Number(m[1]));
    }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
    await child.status;
    await drained;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = Promise.race([
    child.status.then((s) => `it exited with code ${s.code}`),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no port after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    }),
  ]);
  const started = await Promise.race([port.promise, failed]);
  clearTimeout(timer);
  if (typeof started === "string") {
    await stop();
    throw new Error(
      `${peer ? "gzippeer" : "grpc-go's interop server"} did not start: ${started}\n${log}`,
    );
  }
  return { port: started, log: () => log, stop };
}

/** Runs one case on a fresh connection, closed afterwards. */
async function onConnection(port: number, run: (channel: Channel) => Promise<void>) {
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
}

/** Runs grpc-go's interop client (or gzippeer's) for one case; throws with its output if it fails. */
async function goClientCase(
  bin: string,
  port: number,
  testCase: string,
  peer = false,
): Promise<void> {
  const res = await new Deno.Command(bin, {
    args: [
      ...(peer ? ["-mode=client"] : []),
      `-server_host=${HOST}`,
      `-server_port=${port}`,
      "-use_tls=false",
      `-test_case=${testCase}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert(
    res.success,
    `${peer ? "gzippeer's" : "grpc-go's"} client failed ${testCase} (exit ${res.code}):\n${
      text.decode(res.stdout)
    }${text.decode(res.stderr)}`,
  );
}

// One test per case, each with its own server (it starts in a few tens of
// ms): grpc-go's own client first, as a check of the harness, then ours.
for (const [name, run] of Object.entries(INTEROP_CASES)) {
  Deno.test(`gRPC interop, client role: ${name} (our client vs grpc-go's interop server)`, async (t) => {
    const [server, goClient] = await Promise.all([startServer(), grpcInteropClient()]);
    try {
      await t.step(
        "harness check: grpc-go's own interop client",
        () => goClientCase(goClient, server.port, name),
      );
      await t.step("our client", () => onConnection(server.port, run));
    } finally {
      await server.stop();
    }
  });
}

for (const name of PEER_SERVED_COMPRESSION_CASES) {
  const run = COMPRESSION_CASES[name];
  Deno.test(`gRPC interop, client role: ${name} (our client vs gzippeer's grpc-go server)`, async (t) => {
    const [server, peer] = await Promise.all([startServer(true), gzipPeer()]);
    try {
      await t.step(
        "harness check: gzippeer's own grpc-go client",
        () => goClientCase(peer, server.port, name, true),
      );
      await t.step("our client", () => onConnection(server.port, run));
    } finally {
      await server.stop();
    }
  });
}
