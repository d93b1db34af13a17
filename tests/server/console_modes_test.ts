/**
 * Where `console.*` output goes in each of serve()'s console modes: the stdio
 * stream's queue, hclog lines at the method's level, or both.
 */

import { captureConsole, type ConsoleMode, releaseConsole } from "../../server/console.ts";
import { createLogger } from "../../log/logger.ts";
import { assertEquals } from "../_util/host.ts";

async function routed(mode: ConsoleMode) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "trace", write: (l) => lines.push(JSON.parse(l)) });
  const queue = captureConsole(mode, logger);
  try {
    console.log("a log", 1);
    console.debug("a debug");
    console.warn("a warn");
    console.error("an error");
  } finally {
    releaseConsole();
  }
  const chunks: string[] = [];
  for await (const c of queue.drain(new AbortController().signal)) {
    chunks.push(`${c.channel === 1 ? "out" : "err"}:${new TextDecoder().decode(c.data)}`);
  }
  const logged = lines.map((l) => `${l["@level"]} ${l["@module"]}: ${l["@message"]}`);
  return { chunks, logged };
}

const STREAM = ["out:a log 1\n", "out:a debug\n", "err:a warn\n", "err:an error\n"];
const LOGGED = [
  "info plugin.console: a log 1",
  "debug plugin.console: a debug",
  "warn plugin.console: a warn",
  "error plugin.console: an error",
];

Deno.test("console mode both: the stdio stream and hclog lines at the method's level", async () => {
  assertEquals(await routed("both"), { chunks: STREAM, logged: LOGGED });
});

Deno.test("console mode stdio: the stdio stream only", async () => {
  assertEquals(await routed("stdio"), { chunks: STREAM, logged: [] });
});

Deno.test("console mode hclog: hclog lines only, nothing queued for the stream", async () => {
  assertEquals(await routed("hclog"), { chunks: [], logged: LOGGED });
});

Deno.test("console mode hclog: a logger that itself writes with console.log does not loop", async () => {
  const logger = createLogger({ write: (l) => console.log(l.trimEnd()) });
  const queue = captureConsole("hclog", logger);
  try {
    console.info("once");
  } finally {
    releaseConsole();
  }
  const chunks: string[] = [];
  for await (const c of queue.drain(new AbortController().signal)) {
    chunks.push(new TextDecoder().decode(c.data));
  }
  assertEquals(chunks.length, 1);
  assertEquals(JSON.parse(chunks[0])["@message"], "once");
});
