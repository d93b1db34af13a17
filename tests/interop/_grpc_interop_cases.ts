/**
 * The standard gRPC interop test cases, as our client runs them: one
 * function per case of grpc/grpc doc/interop-test-descriptions.md, each
 * sending what its "Procedure" says and checking what its "Client asserts"
 * lists (plus the payload sizes the description leaves clients free to check).
 * Every case takes a {@linkcode Channel} to a server of `grpc.testing.TestService`
 * and throws on the first assertion that fails.
 *
 * @module
 */

import type { CallOptions, Channel } from "../../rpc/client_call.ts";
import { fromTsProto } from "../../rpc/service.ts";
import { serviceClient } from "../../rpc/service_client.ts";
import { RpcError, Status, type StatusCode } from "../../rpc/status.ts";
import type { Metadata } from "../../rpc/wire.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import {
  type Payload,
  PayloadType,
  type SimpleRequest,
  type StreamingOutputCallRequest,
  type StreamingOutputCallResponse,
} from "./gen/grpc/testing/messages_pb.ts";
import {
  TestServiceDefinition,
  UnimplementedServiceDefinition,
} from "./gen/grpc/testing/test_pb.ts";

const TEST_SERVICE = fromTsProto(TestServiceDefinition);
const UNIMPLEMENTED_SERVICE = fromTsProto(UnimplementedServiceDefinition);

/** One interop case. */
export type InteropCase = (channel: Channel) => Promise<void>;

// --- messages

function zeros(n: number): Payload {
  return { type: PayloadType.COMPRESSABLE, body: new Uint8Array(n) };
}

function simpleRequest(fields: Partial<SimpleRequest>): SimpleRequest {
  return {
    responseType: PayloadType.COMPRESSABLE,
    responseSize: 0,
    payload: undefined,
    fillUsername: false,
    fillOauthScope: false,
    responseCompressed: undefined,
    responseStatus: undefined,
    expectCompressed: undefined,
    fillServerId: false,
    fillGrpclbRouteType: false,
    ...fields,
  };
}

function streamingRequest(
  responseSizes: number[],
  payloadBytes?: number,
  responseStatus?: { code: number; message: string },
): StreamingOutputCallRequest {
  return {
    responseType: PayloadType.COMPRESSABLE,
    responseParameters: responseSizes.map((size) => ({
      size,
      intervalUs: 0,
      compressed: undefined,
      fillPeerSocketAddress: undefined,
    })),
    payload: payloadBytes === undefined ? undefined : zeros(payloadBytes),
    responseStatus,
  };
}

/** The large_unary request: 271828 bytes of zeros, asking for 314159 back. */
const LARGE_UNARY = simpleRequest({ responseSize: 314159, payload: zeros(271828) });

/** The Echo Metadata key a server sends back in its response headers (custom_metadata). */
export const ECHO_INITIAL = "x-grpc-test-echo-initial";
const ECHO_INITIAL_VALUE = "test_initial_metadata_value";
/** The Echo Metadata key a server sends back in its trailers. */
export const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";
const ECHO_TRAILING_VALUE = [0xab, 0xab, 0xab];

// --- assertions

/** Asserts a payload body of `size` bytes, all zero. */
function assertZeros(payload: Payload | undefined, size: number, what: string): void {
  assert(payload, `${what}: no payload`);
  assertEquals(payload.body.length, size, `${what}: payload size`);
  assert(payload.body.every((b) => b === 0), `${what}: the payload is not all zeros`);
}

/** Runs `call` and asserts it fails with `code` (and exactly `message`, when given). */
async function assertStatus(
  call: () => Promise<unknown>,
  code: StatusCode,
  message?: string,
): Promise<RpcError> {
  try {
    await call();
  } catch (err) {
    if (!(err instanceof RpcError)) throw new Error(`expected an RpcError, got ${err}`);
    assertEquals(err.code, code, `status code (message: ${JSON.stringify(err.message)})`);
    if (message !== undefined) assertEquals(err.message, message, "status message");
    return err;
  }
  throw new Error(`expected the call to fail with status ${code}, but it succeeded`);
}

/** All responses of a streaming call. */
async function collect<T>(responses: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const r of responses) out.push(r);
  return out;
}

/** Metadata options recording the response headers and trailers. */
function recording(extra: CallOptions = {}): {
  options: CallOptions;
  seen: { headers?: Metadata; trailers?: Metadata };
} {
  const seen: { headers?: Metadata; trailers?: Metadata } = {};
  return {
    seen,
    options: {
      ...extra,
      onHeaders: (md) => (seen.headers = md),
      onTrailers: (md) => (seen.trailers = md),
    },
  };
}

/** Asserts the echoed metadata of custom_metadata: initial in the headers, trailing in the trailers. */
function assertEchoed(seen: { headers?: Metadata; trailers?: Metadata }, what: string): void {
  assert(seen.headers, `${what}: no response headers`);
  assertEquals(seen.headers[ECHO_INITIAL], [ECHO_INITIAL_VALUE], `${what}: ${ECHO_INITIAL}`);
  assert(seen.trailers, `${what}: no trailers`);
  const bin = seen.trailers[ECHO_TRAILING];
  assert(bin?.length === 1 && bin[0] instanceof Uint8Array, `${what}: ${ECHO_TRAILING}: ${bin}`);
  assertEquals(Array.from(bin[0] as Uint8Array), ECHO_TRAILING_VALUE, `${what}: ${ECHO_TRAILING}`);
}

// --- a request stream the case writes to as it goes

/** Requests a bidirectional case sends one at a time, then half-closes with {@linkcode end}. */
class Outbox<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #ended = false;
  #wake: (() => void) | null = null;
  /** Called when the call starts pulling requests: its headers are out. */
  onFirstPull: (() => void) | null = null;

  send(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }

  /** Half-closes (no more requests). */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    this.onFirstPull?.();
    while (true) {
      const next = this.#items.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
  }
}

// --- the cases

/** empty_unary: EmptyCall with the default Empty succeeds with a (non-null) Empty. */
export async function emptyUnary(channel: Channel): Promise<void> {
  const res = await serviceClient(channel, TEST_SERVICE).emptyCall({});
  assert(res !== null && res !== undefined, "null response");
}

/** large_unary: 271828 zero bytes out, a 314159-byte payload back. */
export async function largeUnary(channel: Channel): Promise<void> {
  const res = await serviceClient(channel, TEST_SERVICE).unaryCall(LARGE_UNARY);
  assertZeros(res.payload, 314159, "response");
}

/** client_streaming: payloads of 27182, 8, 1828 and 45904 bytes, half-close; 74922 aggregated. */
export async function clientStreaming(channel: Channel): Promise<void> {
  const requests = [27182, 8, 1828, 45904].map((n) => ({
    payload: zeros(n),
    expectCompressed: undefined,
  }));
  const res = await serviceClient(channel, TEST_SERVICE).streamingInputCall(requests);
  assertEquals(res.aggregatedPayloadSize, 74922, "aggregated_payload_size");
}

/** server_streaming: exactly four responses, sized 31415, 9, 2653, 58979, in order. */
export async function serverStreaming(channel: Channel): Promise<void> {
  const sizes = [31415, 9, 2653, 58979];
  const responses = await collect(
    serviceClient(channel, TEST_SERVICE).streamingOutputCall(streamingRequest(sizes)),
  );
  assertEquals(responses.length, 4, "number of responses");
  responses.forEach((r, i) => assertZeros(r.payload, sizes[i], `response ${i}`));
}

/** ping_pong: four requests, each sent after the previous reply; four replies, sized in order. */
export async function pingPong(channel: Channel): Promise<void> {
  const steps: [number, number][] = [[31415, 27182], [9, 8], [2653, 1828], [58979, 45904]];
  const out = new Outbox<StreamingOutputCallRequest>();
  const responses = serviceClient(channel, TEST_SERVICE).fullDuplexCall(out)
    [Symbol.asyncIterator]();
  try {
    for (const [i, [size, payload]] of steps.entries()) {
      out.send(streamingRequest([size], payload));
      const r = await responses.next();
      assert(!r.done, `the call ended before response ${i}`);
      assertZeros(r.value.payload, size, `response ${i}`);
    }
    out.end();
    const last = await responses.next();
    assert(last.done, "more than four responses");
  } finally {
    out.end();
    await responses.return?.();
  }
}

/** empty_stream: FullDuplexCall, half-close at once; success with zero responses. */
export async function emptyStream(channel: Channel): Promise<void> {
  const responses = await collect(serviceClient(channel, TEST_SERVICE).fullDuplexCall([]));
  assertEquals(responses.length, 0, "number of responses");
}

/** custom_metadata: the echo keys come back, initial in the headers, trailing in the trailers, for UnaryCall and FullDuplexCall. */
export async function customMetadata(channel: Channel): Promise<void> {
  const client = serviceClient(channel, TEST_SERVICE);
  const metadata = {
    [ECHO_INITIAL]: ECHO_INITIAL_VALUE,
    [ECHO_TRAILING]: new Uint8Array(ECHO_TRAILING_VALUE),
  };

  const unary = recording({ metadata });
  const res = await client.unaryCall(LARGE_UNARY, unary.options);
  assertZeros(res.payload, 314159, "UnaryCall response");
  assertEchoed(unary.seen, "UnaryCall");

  const duplex = recording({ metadata });
  const responses: StreamingOutputCallResponse[] = await collect(
    client.fullDuplexCall([streamingRequest([314159], 271828)], duplex.options),
  );
  assertEquals(responses.length, 1, "FullDuplexCall: number of responses");
  assertZeros(responses[0].payload, 314159, "FullDuplexCall response");
  assertEchoed(duplex.seen, "FullDuplexCall");
}

/** status_code_and_message: code 2, "test status message", on UnaryCall and FullDuplexCall. */
export async function statusCodeAndMessage(channel: Channel): Promise<void> {
  const client = serviceClient(channel, TEST_SERVICE);
  const status = { code: Status.UNKNOWN, message: "test status message" };
  await assertStatus(
    () => client.unaryCall(simpleRequest({ responseStatus: status })),
    status.code,
    status.message,
  );
  await assertStatus(
    () => collect(client.fullDuplexCall([streamingRequest([], undefined, status)])),
    status.code,
    status.message,
  );
}

/** special_status_message: code 2 with whitespace and BMP and non-BMP characters, received unchanged. */
export async function specialStatusMessage(channel: Channel): Promise<void> {
  const status = {
    code: Status.UNKNOWN,
    message: "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \u{1F608}\t\n",
  };
  await assertStatus(
    () => serviceClient(channel, TEST_SERVICE).unaryCall(simpleRequest({ responseStatus: status })),
    status.code,
    status.message,
  );
}

/** unimplemented_method: TestService/UnimplementedCall ends UNIMPLEMENTED (12). */
export async function unimplementedMethod(channel: Channel): Promise<void> {
  await assertStatus(
    () => serviceClient(channel, TEST_SERVICE).unimplementedCall({}),
    Status.UNIMPLEMENTED,
  );
}

/** unimplemented_service: UnimplementedService/UnimplementedCall ends UNIMPLEMENTED (12). */
export async function unimplementedService(channel: Channel): Promise<void> {
  await assertStatus(
    () => serviceClient(channel, UNIMPLEMENTED_SERVICE).unimplementedCall({}),
    Status.UNIMPLEMENTED,
  );
}

/**
 * cancel_after_begin: StreamingInputCall cancelled after its headers are out
 * and before any payload (from inside the request stream, when the call first
 * pulls a request); ends CANCELLED.
 */
export async function cancelAfterBegin(channel: Channel): Promise<void> {
  const abort = new AbortController();
  const out = new Outbox<{ payload: Payload | undefined; expectCompressed: undefined }>();
  let began = false;
  out.onFirstPull = () => {
    began = true;
    abort.abort(new Error("cancel_after_begin"));
    out.end();
  };
  await assertStatus(
    () => serviceClient(channel, TEST_SERVICE).streamingInputCall(out, { signal: abort.signal }),
    Status.CANCELLED,
  );
  assert(began, "the call was cancelled before it began (its headers were never sent)");
}

/** cancel_after_first_response: FullDuplexCall cancelled once its first response arrived; ends CANCELLED. */
export async function cancelAfterFirstResponse(channel: Channel): Promise<void> {
  const abort = new AbortController();
  const out = new Outbox<StreamingOutputCallRequest>();
  const responses = serviceClient(channel, TEST_SERVICE)
    .fullDuplexCall(out, { signal: abort.signal })[Symbol.asyncIterator]();
  try {
    out.send(streamingRequest([31415], 27182));
    const first = await responses.next();
    assert(!first.done, "the call ended before its first response");
    assertZeros(first.value.payload, 31415, "response 0");
    abort.abort(new Error("cancel_after_first_response"));
    await assertStatus(() => responses.next(), Status.CANCELLED);
  } finally {
    out.end();
    await responses.return?.();
  }
}

/** timeout_on_sleeping_server: FullDuplexCall with a 1 ms deadline, no half-close; ends DEADLINE_EXCEEDED. */
export async function timeoutOnSleepingServer(channel: Channel): Promise<void> {
  const out = new Outbox<StreamingOutputCallRequest>();
  out.send(streamingRequest([], 27182));
  try {
    await assertStatus(
      () => collect(serviceClient(channel, TEST_SERVICE).fullDuplexCall(out, { timeoutMs: 1 })),
      Status.DEADLINE_EXCEEDED,
    );
  } finally {
    out.end();
  }
}

/** The large_unary request, also asking the server to check (`expect`) or use (`respond`) compression. */
function compressionRequest(fields: { expect?: boolean; respond?: boolean }): SimpleRequest {
  return simpleRequest({
    ...LARGE_UNARY,
    expectCompressed: fields.expect === undefined ? undefined : { value: fields.expect },
    responseCompressed: fields.respond === undefined ? undefined : { value: fields.respond },
  });
}

/**
 * client_compressed_unary: the probe (expect_compressed, sent uncompressed)
 * fails INVALID_ARGUMENT; the same request gzip-compressed, and one
 * uncompressed that expects no compression, succeed with 314159 bytes.
 */
export async function clientCompressedUnary(channel: Channel): Promise<void> {
  const client = serviceClient(channel, TEST_SERVICE);
  await assertStatus(
    () => client.unaryCall(compressionRequest({ expect: true })),
    Status.INVALID_ARGUMENT,
  );
  const compressed = await client.unaryCall(compressionRequest({ expect: true }), {
    compression: "gzip",
  });
  assertZeros(compressed.payload, 314159, "compressed request: response");
  const plain = await client.unaryCall(compressionRequest({ expect: false }));
  assertZeros(plain.payload, 314159, "uncompressed request: response");
}

/**
 * server_compressed_unary: with response_compressed true the response has
 * the compressed flag, with false it has not; 314159 bytes either way.
 */
export async function serverCompressedUnary(channel: Channel): Promise<void> {
  const client = serviceClient(channel, TEST_SERVICE);
  for (const respond of [true, false]) {
    const flags: boolean[] = [];
    const res = await client.unaryCall(compressionRequest({ respond }), {
      onResponseMessage: (compressed) => flags.push(compressed),
    });
    assertEquals(flags, [respond], `response_compressed ${respond}: the compressed flag`);
    assertZeros(res.payload, 314159, `response_compressed ${respond}: response`);
  }
}

/**
 * server_compressed_streaming: two responses, 31415 bytes compressed, then
 * 92653 bytes not.
 */
export async function serverCompressedStreaming(channel: Channel): Promise<void> {
  const sizes = [31415, 92653];
  const request = streamingRequest(sizes);
  request.responseParameters[0].compressed = { value: true };
  request.responseParameters[1].compressed = { value: false };
  const flags: boolean[] = [];
  const responses = await collect(
    serviceClient(channel, TEST_SERVICE).streamingOutputCall(request, {
      onResponseMessage: (compressed) => flags.push(compressed),
    }),
  );
  assertEquals(responses.length, 2, "number of responses");
  assertEquals(flags, [true, false], "the responses' compressed flags");
  responses.forEach((r, i) => assertZeros(r.payload, sizes[i], `response ${i}`));
}

/** The cases, by their names in the interop descriptions (grpc-go's client takes the same names). */
export const INTEROP_CASES: Readonly<Record<string, InteropCase>> = {
  empty_unary: emptyUnary,
  large_unary: largeUnary,
  client_streaming: clientStreaming,
  server_streaming: serverStreaming,
  ping_pong: pingPong,
  empty_stream: emptyStream,
  custom_metadata: customMetadata,
  status_code_and_message: statusCodeAndMessage,
  special_status_message: specialStatusMessage,
  unimplemented_method: unimplementedMethod,
  unimplemented_service: unimplementedService,
  cancel_after_begin: cancelAfterBegin,
  cancel_after_first_response: cancelAfterFirstResponse,
  timeout_on_sleeping_server: timeoutOnSleepingServer,
};

/**
 * The compression cases. grpc-go's interop client has none of them and its
 * interop server no gzip, so they run against our grpc-go peer
 * (tests/interop/gzippeer), which serves the unary ones.
 * client_compressed_streaming needs one compressed and one uncompressed
 * message in a stream, and our client compresses a call's messages all or
 * none: it is not here.
 */
export const COMPRESSION_CASES: Readonly<Record<string, InteropCase>> = {
  client_compressed_unary: clientCompressedUnary,
  server_compressed_unary: serverCompressedUnary,
  server_compressed_streaming: serverCompressedStreaming,
};

/** The compression cases the grpc-go peer's server serves (UnaryCall only). */
export const PEER_SERVED_COMPRESSION_CASES: readonly string[] = [
  "client_compressed_unary",
  "server_compressed_unary",
];
