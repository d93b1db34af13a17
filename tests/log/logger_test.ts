import { createLogger, formatTimestamp } from "../../log/logger.ts";
import { assert, assertEquals } from "../_util/assert.ts";

Deno.test("formatTimestamp() has exactly six fractional digits, as Go's layout requires", () => {
  assertEquals(
    formatTimestamp(Date.UTC(2026, 4, 1, 10, 0, 0, 123) + 0.456),
    "2026-05-01T10:00:00.123456Z",
  );
  assertEquals(formatTimestamp(0), "1970-01-01T00:00:00.000000Z");
  assert(
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(formatTimestamp(Date.now() + 0.5)),
    "layout",
  );
});

Deno.test("createLogger() writes one hclog JSON object per line with string @ fields", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "trace", write: (l) => lines.push(l), now: () => 0 });
  log.named("kv").warn("disk almost full", { free: 3, ok: false, err: new Error("boom"), big: 2n });
  assertEquals(lines.length, 1);
  assert(lines[0].endsWith("\n") && !lines[0].slice(0, -1).includes("\n"), "one line");
  assertEquals(JSON.parse(lines[0]), {
    "@level": "warn",
    "@message": "disk almost full",
    "@module": "plugin.kv",
    "@timestamp": "1970-01-01T00:00:00.000000Z",
    free: 3,
    ok: false,
    err: "boom",
    big: "2",
  });
});

Deno.test("createLogger() filters by level and never lets fields override @ keys", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", write: (l) => lines.push(l) });
  log.trace("no");
  log.debug("no");
  log.info("yes", { "@level": "error", "@message": 5 as unknown as string });
  assertEquals(lines.length, 1);
  const rec = JSON.parse(lines[0]);
  assertEquals([rec["@level"], rec["@message"]], ["info", "yes"]);
  assert(log.enabled("warn") && !log.enabled("debug"), "enabled()");
});

Deno.test("createLogger() survives a sink that throws (host gone)", () => {
  const log = createLogger({
    write: () => {
      throw new Deno.errors.BrokenPipe("gone");
    },
  });
  log.error("still fine");
});
