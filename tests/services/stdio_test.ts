import { StdioQueue } from "../../services/stdio.ts";
import { StdioData_Channel } from "../../gen/plugin/grpc_stdio_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { assert, assertEquals } from "../_util/assert.ts";

/** A logger keeping its lines, and a promise of the next line. */
function recorder() {
  const lines: Record<string, unknown>[] = [];
  let next = Promise.withResolvers<void>();
  const logger = createLogger({
    level: "trace",
    write: (l) => {
      lines.push(JSON.parse(l));
      next.resolve();
      next = Promise.withResolvers<void>();
    },
  });
  return { lines, logger, nextLine: () => next.promise };
}

Deno.test("StdioQueue splits writes into chunks of at most 1024 bytes and keeps order", async () => {
  const q = new StdioQueue();
  q.write("stdout", new Uint8Array(2500).fill(1));
  q.write("stderr", new Uint8Array([2]));
  q.close();
  const got = [];
  for await (const c of q.drain(new AbortController().signal)) got.push([c.channel, c.data.length]);
  assertEquals(got, [
    [StdioData_Channel.STDOUT, 1024],
    [StdioData_Channel.STDOUT, 1024],
    [StdioData_Channel.STDOUT, 452],
    [StdioData_Channel.STDERR, 1],
  ]);
});

Deno.test("StdioQueue drops the oldest chunks past its limit", async () => {
  const q = new StdioQueue(2048);
  for (let i = 0; i < 4; i++) q.write("stdout", new Uint8Array(1024).fill(i));
  q.close();
  const firsts = [];
  for await (const c of q.drain(new AbortController().signal)) firsts.push(c.data[0]);
  assertEquals([firsts, q.dropped], [[2, 3], 2]);
});

Deno.test("StdioQueue.drain() waits for writes and ends on abort", async () => {
  const q = new StdioQueue();
  const abort = new AbortController();
  const it = q.drain(abort.signal);
  const first = it.next();
  q.write("stdout", new TextEncoder().encode("hi"));
  assertEquals(new TextDecoder().decode((await first).value!.data), "hi");
  const second = it.next();
  abort.abort();
  assertEquals((await second).done, true);
});

Deno.test("StdioQueue: a second reader does not orphan the first; abort ends the one aborted", async () => {
  const q = new StdioQueue();
  const a = new AbortController();
  const b = new AbortController();
  const first = q.drain(a.signal);
  const second = q.drain(b.signal);
  const firstNext = first.next();
  const secondNext = second.next();
  a.abort();
  assertEquals((await firstNext).done, true, "the first reader must end on its abort");
  q.write("stdout", new TextEncoder().encode("x"));
  assertEquals(new TextDecoder().decode((await secondNext).value!.data), "x");
  const secondAgain = second.next();
  b.abort();
  assertEquals((await secondAgain).done, true);
});

Deno.test("StdioQueue: close() ends every waiting reader, not only the last one", async () => {
  const q = new StdioQueue();
  const readers = [0, 1, 2].map(() => q.drain(new AbortController().signal));
  const nexts = readers.map((r) => r.next());
  q.close();
  assertEquals((await Promise.all(nexts)).map((r) => r.done), [true, true, true]);
});

Deno.test("StdioQueue reports each burst of dropped output once, in bytes, at WARN, when a reader catches up", async () => {
  const { lines, logger } = recorder();
  const q = new StdioQueue(2048);
  q.reportDropsTo(logger);
  for (let i = 0; i < 5; i++) q.write("stdout", new Uint8Array(1024));
  assertEquals(lines, [], "reported before the burst ended");
  const reader = q.drain(new AbortController().signal);
  await reader.next();
  await reader.next();
  const waiting = reader.next(); // the queue is empty now: the burst is over
  assertEquals(lines.length, 1);
  assertEquals(lines[0]["@level"], "warn");
  assertEquals(
    lines[0]["@message"],
    "3072 bytes of console output dropped: the host is not reading the stdio stream",
  );
  assertEquals(lines[0].dropped_chunks, 3);
  q.write("stdout", new Uint8Array(10)); // no drop: nothing more to report
  await waiting;
  for (let i = 0; i < 3; i++) q.write("stderr", new Uint8Array(1024));
  q.close(); // ends the second burst
  assertEquals(lines.length, 2);
  assertEquals(lines[1].dropped_bytes, 1024);
  assertEquals([q.dropped, q.droppedBytes], [4, 4096]);
});

Deno.test("StdioQueue reports a burst nobody reads within dropReportMs, then starts a new one", async () => {
  // The library's timer does not hold the event loop (a plugin's listener does): hold it here.
  const hold = setInterval(() => {}, 1000);
  const { lines, logger, nextLine } = recorder();
  const q = new StdioQueue(1024, 5);
  q.reportDropsTo(logger);
  q.write("stdout", new Uint8Array(3000));
  const first = nextLine();
  await first;
  assertEquals(lines.map((l) => l.dropped_bytes), [2048]);
  q.write("stdout", new Uint8Array(1024));
  await nextLine();
  assertEquals(lines.map((l) => l.dropped_bytes), [2048, 952]);
  q.close();
  assertEquals(lines.length, 2, "close() must not report a burst already reported");
  clearInterval(hold);
});

Deno.test("StdioQueue reports drops made before it had a logger once it gets one", () => {
  const { lines, logger } = recorder();
  const q = new StdioQueue(1024);
  q.write("stdout", new Uint8Array(2048));
  q.reportDropsTo(logger);
  assertEquals(lines.map((l) => l.dropped_bytes), [1024]);
  q.close();
  assert(lines.length === 1);
});
