import { StdioQueue } from "../../services/stdio.ts";
import { StdioData_Channel } from "../../gen/plugin/grpc_stdio_pb.ts";
import { assertEquals } from "../_util/assert.ts";

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
