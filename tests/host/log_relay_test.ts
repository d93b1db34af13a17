/** Tests of `host/log_relay.ts`: re-logging plugin stderr lines with go-plugin's rules. */

import { classifyLine, createLogRelay, type RelayedLine } from "../../host/log_relay.ts";
import { createLogger } from "../../log/logger.ts";
import { assert, assertEquals } from "../_util/assert.ts";

const TS = "2026-05-01T10:00:00.123456+02:00";

/** [line, level, message, fields] for a fresh state. */
const TABLE: [string, RelayedLine["level"], string, Record<string, unknown>][] = [
  [
    `{"@level":"debug","@message":"plugin address","@timestamp":"${TS}","address":"/tmp/plugin1","network":"unix"}`,
    "debug",
    "plugin address",
    { address: "/tmp/plugin1", network: "unix" },
  ],
  [`{"@level":"TRACE","@message":"t"}`, "trace", "t", {}],
  [`{"@level":"Info","@message":"i","n":1,"ok":true,"none":null}`, "info", "i", {
    n: 1,
    ok: true,
    none: null,
  }],
  [`{"@level":"warn","@message":"w","obj":{"a":[1,2]},"list":["x"]}`, "warn", "w", {
    obj: '{"a":[1,2]}',
    list: '["x"]',
  }],
  [`{"@level":"error","@message":"e","@module":"plugin.kv","@caller":"kv.go:12"}`, "error", "e", {
    module: "plugin.kv",
    caller: "kv.go:12",
  }],
  [`{"@level":"info","@message":"m","@module":"a","module":"b"}`, "info", "m", { module: "b" }],
  // go-plugin demotes a 3-digit timestamp to a raw line; we keep the entry.
  [
    `{"@level":"info","@message":"js time","@timestamp":"2026-05-01T10:00:00.123Z"}`,
    "info",
    "js time",
    {},
  ],
  // go-plugin's host panics on these; we must not.
  [`{"@level":"info","@message":42}`, "info", "42", {}],
  [`{"@level":"info","@message":{"a":1}}`, "info", '{"a":1}', {}],
  [`{"@level":"info"}`, "info", "", {}],
  [
    `{"@level":"info","@message":"p","__proto__":{"x":1}}`,
    "info",
    "p",
    JSON.parse('{"__proto__":"{\\"x\\":1}"}'),
  ],
  // Unknown, missing or non-string level: the whole raw line at DEBUG.
  [`{"@level":"warning","@message":"w"}`, "debug", `{"@level":"warning","@message":"w"}`, {}],
  [`{"@message":"no level"}`, "debug", `{"@message":"no level"}`, {}],
  [`{"@level":3,"@message":"x"}`, "debug", `{"@level":3,"@message":"x"}`, {}],
  // Not a JSON object: plain-line rules.
  [`[1,2,3]`, "debug", "[1,2,3]", {}],
  [`42`, "debug", "42", {}],
  [`{"broken"`, "debug", `{"broken"`, {}],
  ["[TRACE] t", "trace", "[TRACE] t", {}],
  ["[DEBUG] d", "debug", "[DEBUG] d", {}],
  ["[INFO] i", "info", "[INFO] i", {}],
  ["[WARN] w", "warn", "[WARN] w", {}],
  ["[ERROR] e", "error", "[ERROR] e", {}],
  ["[info] lowercase is plain", "debug", "[info] lowercase is plain", {}],
  [" [INFO] indented is plain", "debug", " [INFO] indented is plain", {}],
  ["plain text", "debug", "plain text", {}],
  ["", "debug", "", {}],
  ["\u0000\uFFFD binary", "debug", "\u0000\uFFFD binary", {}],
];

Deno.test("classifyLine() follows go-plugin's rules, line by line", () => {
  for (const [line, level, message, fields] of TABLE) {
    const got = classifyLine(line, { panicking: false });
    assertEquals(
      { level: got.level, message: got.message, fields: { ...got.fields } },
      { level, message, fields: fields as RelayedLine["fields"] },
      line,
    );
  }
});

Deno.test("classifyLine() makes a panic and every later plain line ERROR, not JSON lines", () => {
  const state = { panicking: false };
  const levels = [
    "starting",
    "panic: runtime error: index out of range",
    "",
    "goroutine 1 [running]:",
    "[INFO] after the panic",
    `{"@level":"info","@message":"json still has its level"}`,
    "main.main()",
  ].map((line) => classifyLine(line, state).level);
  assertEquals(levels, ["debug", "error", "error", "error", "error", "info", "error"]);
  assert(state.panicking);

  const fatal = { panicking: false };
  assertEquals(classifyLine("fatal error: all goroutines are asleep", fatal).level, "error");
  assertEquals(classifyLine("next", fatal).level, "error");
  assertEquals(classifyLine("panic:no space is plain", { panicking: false }).level, "debug");
});

Deno.test("classifyLine() never throws", () => {
  const samples = [
    "{",
    "{}",
    "null",
    '{"@level":null}',
    '{"@level":"info","@message":null}',
    '{"@level":"info","@message":[1,{"b":2}]}',
    '{"@level":"info","big":1e400}',
    '{"@level":"info","constructor":"x","hasOwnProperty":"y"}',
    "\uD800 lone surrogate",
    "x".repeat(70000),
  ];
  const state = { panicking: false };
  for (const line of samples) classifyLine(line, state);
  for (let i = 0; i < 2000; i++) {
    const line = Array.from(
      { length: i % 40 },
      (_, j) => '{}[]":,@level\\info0 '[(i * 7 + j * 13) % 20],
    ).join("");
    classifyLine(line, state);
  }
});

Deno.test("createLogRelay() logs each line at its level with its fields, keeping the panic state", () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "trace",
    module: "host",
    now: () => 0,
    write: (l) => lines.push(JSON.parse(l)),
  }).named("plugin.kv");
  const relay = createLogRelay(logger);
  relay(`{"@level":"info","@message":"listening","@module":"plugin","address":"/tmp/p"}`);
  relay("panic: boom");
  relay("goroutine 1");
  assertEquals(lines.map((l) => [l["@level"], l["@message"], l["@module"]]), [
    ["info", "listening", "host.plugin.kv"],
    ["error", "panic: boom", "host.plugin.kv"],
    ["error", "goroutine 1", "host.plugin.kv"],
  ]);
  assertEquals([lines[0].address, lines[0].module], ["/tmp/p", "plugin"]);
});
