/**
 * CPU per call of our HTTP/2 + gRPC stack alone, in one process, for each
 * role: the server answering grpc-go-like unary calls replayed into an
 * `H2Connection` (HPACK-indexed request headers, 64 calls per read), and our
 * `Channel` making calls answered with grpc-go-like canned responses. No
 * socket, no peer process: the figure is what our code costs per call, and
 * it moves far less with a noisy machine than a run under a real host does
 * (`deno task bench` gives those). Prints one JSON line per role.
 *
 * ```sh
 * deno run --allow-read --allow-env bench/hotpath.ts [calls] [batch] [grpc-timeout]
 * ```
 *
 * With a `grpc-timeout` value (e.g. `59999987u`, as go-plugin's host sends
 * for a call with a deadline), the server's requests carry it: each call
 * then has a deadline and its timer.
 *
 * @module
 */

import process from "node:process";
import { H2Connection, type H2Stream } from "../h2/connection.ts";
import { CLIENT_PREFACE, Flag, frame, FrameType, Setting, settingsFrame } from "../h2/frame.ts";
import { addRoutes, type Route, startCall } from "../rpc/server_call.ts";
import { Channel } from "../rpc/client_call.ts";
import { fromTsProto, implement } from "../rpc/service.ts";
import { createLogger } from "../log/logger.ts";
import { KVDefinition } from "../examples/kv/gen/kv_pb.ts";
import { concat, grpcGoGet, indexedLiteral as indexed } from "../tests/h2/_h2client.ts";

const calls = Number(Deno.args[0] ?? 210_000);
const batch = Number(Deno.args[1] ?? 64);
const timeout = Deno.args[2];
const ROUNDS = 7;
const te = new TextEncoder();
const KV = fromTsProto(KVDefinition);
const VALUE = te.encode("hello from the bench driver\n\nWritten from plugin-deno");

/** Median and minimum CPU µs per call over ROUNDS rounds of `run`. */
async function measure(run: (n: number) => Promise<void>): Promise<Record<string, number>> {
  await run(5000); // warm up
  const per = Math.max(batch, Math.floor(calls / ROUNDS / batch) * batch);
  const cpu: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    await run(per);
    const used = process.cpuUsage(before);
    cpu.push((used.user + used.system) / per);
  }
  cpu.sort((a, b) => a - b);
  return { cpuUsPerCallMedian: +cpu[ROUNDS >> 1].toFixed(2), cpuUsPerCallMin: +cpu[0].toFixed(2) };
}

/** Counts frames of one type (and flags) in bytes written by a connection. */
function countFrames(bytes: Uint8Array, from: number, type: number, flags: number): number[] {
  const ids: number[] = [];
  for (let p = from; p + 9 <= bytes.length;) {
    const len = (bytes[p] << 16) | (bytes[p + 1] << 8) | bytes[p + 2];
    if (bytes[p + 3] === type && (bytes[p + 4] & flags) === flags) {
      ids.push(
        ((bytes[p + 5] & 0x7f) << 24) | (bytes[p + 6] << 16) | (bytes[p + 7] << 8) | bytes[p + 8],
      );
    }
    p += 9 + len;
  }
  return ids;
}

async function server(): Promise<Record<string, number | string>> {
  const routes = new Map<string, Route>();
  addRoutes(
    routes,
    implement(KV, {
      get: async () => await Promise.resolve({ value: VALUE }),
      put: () => ({}),
    }),
  );
  const options = { routes, maxMessageBytes: 4 << 20, logger: createLogger({ level: "error" }) };
  let ends = 0, writes = 0, bytes = 0;
  let wake: (() => void) | null = null;
  const conn = new H2Connection({
    write(data) {
      writes++;
      bytes += data.length;
      ends += countFrames(data, 0, FrameType.HEADERS, Flag.END_STREAM).length;
      wake?.();
      return Promise.resolve();
    },
    close() {},
  }, { onStream: (s: H2Stream, h) => startCall(s, h, options), onClose() {} });
  const { first, rest, message } = grpcGoGet(timeout);
  conn.receive(concat(
    CLIENT_PREFACE,
    settingsFrame([]),
    frame(FrameType.WINDOW_UPDATE, 0, 0, new Uint8Array([0x7f, 0xff, 0, 0])),
  ));
  let next = 1;
  const run = async (n: number) => {
    for (let done = 0; done < n; done += batch) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < batch; i++, next += 2) {
        parts.push(frame(FrameType.HEADERS, Flag.END_HEADERS, next, next === 1 ? first : rest));
        parts.push(frame(FrameType.DATA, Flag.END_STREAM, next, message));
      }
      const want = ends + batch;
      conn.receive(concat(...parts));
      while (ends < want) await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const [w0, b0, e0] = [writes, bytes, ends];
  const figures = await measure(run);
  const done = ends - e0;
  conn.close("done");
  return {
    role: "server",
    ...(timeout ? { grpcTimeout: timeout } : {}),
    ...figures,
    writesPerCall: +((writes - w0) / done).toFixed(3),
    bytesPerCall: +((bytes - b0) / done).toFixed(1),
  };
}

async function client(): Promise<Record<string, number | string>> {
  const opened: number[] = [];
  const channel = new Channel({
    write(data) {
      const preface = data[0] === CLIENT_PREFACE[0] ? CLIENT_PREFACE.length : 0;
      opened.push(...countFrames(data, preface, FrameType.HEADERS, 0));
      return Promise.resolve();
    },
    close() {},
  }, { authority: "localhost", scheme: "http", maxMessageBytes: 4 << 20 });
  channel.receive(concat(
    settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 1000]]),
    frame(FrameType.WINDOW_UPDATE, 0, 0, new Uint8Array([0x7f, 0xff, 0, 0])),
  ));
  // grpc-go's answers: indexed after the first (content-type, grpc-status, grpc-message).
  const headers1 = new Uint8Array([0x88, ...indexed("content-type", "application/grpc")]);
  const trailers1 = new Uint8Array([
    ...indexed("grpc-status", "0"),
    ...indexed("grpc-message", ""),
  ]);
  const headersN = new Uint8Array([0x88, 0x80 | 64]);
  const trailersN = new Uint8Array([0x80 | 63, 0x80 | 62]);
  const body = new Uint8Array([0, 0, 0, 0, VALUE.length + 2, 0x0a, VALUE.length, ...VALUE]);
  let first = true;
  const run = async (n: number) => {
    for (let done = 0; done < n; done += batch) {
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < batch; i++) {
        pending.push(channel.unary(KV.methods.get, { key: "bench" }, { timeoutMs: 60_000 }));
      }
      while (opened.length < batch) await new Promise((resolve) => setTimeout(resolve, 0));
      const parts: Uint8Array[] = [];
      for (const id of opened.splice(0)) {
        parts.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, first ? headers1 : headersN));
        parts.push(frame(FrameType.DATA, 0, id, body));
        parts.push(
          frame(
            FrameType.HEADERS,
            Flag.END_HEADERS | Flag.END_STREAM,
            id,
            first ? trailers1 : trailersN,
          ),
        );
        first = false;
      }
      channel.receive(concat(...parts));
      await Promise.all(pending);
    }
  };
  const figures = await measure(run);
  channel.close();
  return { role: "client", ...figures };
}

console.log(JSON.stringify({ calls, batch, ...(await server()) }));
console.log(JSON.stringify({ calls, batch, ...(await client()) }));
