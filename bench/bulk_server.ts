/**
 * The server's cost of one bulk response, in one process (no socket, no
 * peer): a KV `GetResponse` of N MiB encoded by the ts-proto codec, framed
 * by an `H2Connection` whose client opened every window, and written to a
 * transport that takes each write at once. Wall time per response, median
 * and best of 24, with trees given on the command line measured in turn
 * (each tree's own `h2/`, `rpc/` and generated code): the "before" of a
 * change beside its "after", which a run under a real host (`deno task
 * bench`) cannot tell apart on a noisy machine.
 *
 * ```sh
 * git archive main | tar -x -C /tmp/main-tree
 * deno run --allow-read bench/bulk_server.ts 16 /tmp/main-tree/ ./
 * ```
 *
 * @module
 */

const MiB = 1 << 20;
const ROUNDS = 24;

/** What one tree's server does with a response of `value`: resolves once it is all written. */
type Respond = (value: Uint8Array) => Promise<void>;

async function serverOf(root: string): Promise<Respond> {
  const base = new URL(root, `file://${Deno.cwd()}/`).href;
  const { H2Connection } = await import(`${base}h2/connection.ts`);
  const f = await import(`${base}h2/frame.ts`);
  const { encodeHeaders } = await import(`${base}h2/hpack.ts`);
  const { fromTsProto } = await import(`${base}rpc/service.ts`);
  const { messagePrefix } = await import(`${base}rpc/wire.ts`);
  const { KVDefinition } = await import(`${base}examples/kv/gen/kv_pb.ts`);
  let written = 0;
  let wake: (() => void) | null = null;
  const transport = {
    write(data: Uint8Array): Promise<void> {
      written += data.length;
      wake?.();
      return Promise.resolve();
    },
    close() {},
  };
  let stream: {
    sendHeaders(b: unknown): void;
    sendData(...p: Uint8Array[]): void;
    end(b: unknown): void;
  } | null = null;
  const conn = new H2Connection(transport, {
    onStream: (s: typeof stream & { handler: unknown }) => {
      stream = s;
      s.handler = { data() {}, reset() {} };
    },
    onClose() {},
  });
  const window = 0x7fff_0000;
  conn.receive(f.CLIENT_PREFACE);
  conn.receive(f.settingsFrame([[f.Setting.INITIAL_WINDOW_SIZE, window]]));
  conn.receive(f.windowUpdateFrame(0, window - f.DEFAULT_WINDOW));
  const request = encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/proto.KV/Get"],
    [":authority", "unused"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
  const headers = encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
  const trailers = encodeHeaders([["grpc-status", "0"]]);
  const codec = fromTsProto(KVDefinition).methods.get.response;
  let id = 1;
  return async (value) => {
    conn.receive(f.frame(f.FrameType.HEADERS, f.Flag.END_HEADERS | f.Flag.END_STREAM, id, request));
    id += 2;
    const bytes: Uint8Array = codec.encode({ value });
    const until = written + bytes.length;
    stream!.sendHeaders(headers);
    stream!.sendData(messagePrefix(bytes.length), bytes);
    stream!.end(trailers);
    while (written < until) await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
  };
}

const size = Number(Deno.args[0] ?? 16) * MiB;
const roots = Deno.args.length > 1 ? Deno.args.slice(1) : ["./"];
const servers = await Promise.all(roots.map(serverOf));
const times: number[][] = roots.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < roots.length; k++) {
    const i = (k + r) % roots.length; // each tree goes first in turn
    const value = new Uint8Array(size); // a fresh buffer, as a file read gives
    value[r] = 1;
    const start = performance.now();
    await servers[i](value);
    times[i].push(performance.now() - start);
  }
}
for (const [i, root] of roots.entries()) {
  const t = times[i].sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      tree: root,
      mib: size / MiB,
      msMedian: +t[t.length >> 1].toFixed(2),
      msMin: +t[0].toFixed(2),
    }),
  );
}
