/**
 * Re-logging a plugin's stderr lines on the host's logger with go-plugin's
 * rules (protocol.md 8.4): hclog JSON lines keep their level, message and
 * fields; other lines get a level from a `[LEVEL]` prefix, or ERROR from a
 * Go panic on, or DEBUG.
 *
 * Internal to `launch()`, which relays through its `logger` option: a host
 * author never calls these, so `host/mod.ts` does not export them.
 *
 * @module
 */

import type { LogFields, Logger, LogLevel } from "../log/logger.ts";

/** The levels a relayed line can have. */
export type RelayLevel = Exclude<LogLevel, "off">;

/** A stderr line, classified: what to log, at which level. */
export interface RelayedLine {
  /** The level to log at. */
  level: RelayLevel;
  /** The message. */
  message: string;
  /** Key/values of a JSON line; empty otherwise. */
  fields: LogFields;
}

/** What the relay remembers between lines. */
export interface LogRelayState {
  /** A `panic: ` or `fatal error: ` line was seen: later plain lines are errors. */
  panicking: boolean;
}

const LEVELS: ReadonlySet<string> = new Set(["trace", "debug", "info", "warn", "error"]);

/** `[LEVEL]` prefixes of plain lines, as go-plugin's host recognises them. */
const PREFIXES: ReadonlyArray<readonly [string, RelayLevel]> = [
  ["[TRACE]", "trace"],
  ["[DEBUG]", "debug"],
  ["[INFO]", "info"],
  ["[WARN]", "warn"],
  ["[ERROR]", "error"],
];

/** Starts of a Go runtime crash; from one on, plain lines are errors. */
const PANIC_STARTS = ["panic: ", "fatal error: "];

/** hclog keys that are not passed on as fields. */
const DROPPED_KEYS: ReadonlySet<string> = new Set(["@level", "@message", "@timestamp"]);

/** A JSON value as a log field value: scalars as they are, the rest as JSON text. */
function fieldValue(v: unknown): LogFields[string] {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
    return v;
  }
  return JSON.stringify(v);
}

/** Parses a line as a JSON object, or returns undefined. */
function parseObject(line: string): Record<string, unknown> | undefined {
  const start = line.trimStart();
  if (!start.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

function classifyJson(line: string, entry: Record<string, unknown>): RelayedLine {
  const rawLevel = entry["@level"];
  const level = typeof rawLevel === "string" ? rawLevel.trim().toLowerCase() : "";
  if (!LEVELS.has(level)) return { level: "debug", message: line, fields: {} };
  const rawMessage = entry["@message"];
  const message = rawMessage === undefined
    ? ""
    : typeof rawMessage === "string"
    ? rawMessage
    : JSON.stringify(rawMessage);
  // No prototype: a "__proto__" key stays a plain field.
  const fields: LogFields = Object.create(null);
  for (const [key, value] of Object.entries(entry)) {
    if (DROPPED_KEYS.has(key)) continue;
    // Loggers drop "@" keys: "@module" and "@caller" become "module" and "caller",
    // unless the line has those keys too.
    const name = key.startsWith("@") ? key.slice(1) : key;
    if (name !== key && Object.hasOwn(entry, name)) continue;
    fields[name] = fieldValue(value);
  }
  return { level: level as RelayLevel, message, fields };
}

/**
 * Classifies one plugin stderr line; pure apart from updating `state`.
 *
 * - A JSON object with `@level` trace, debug, info, warn or error (any case):
 *   that level, `@message` as the message (a non-string is shown as JSON),
 *   and every other key as a field except `@timestamp` (the host's logger
 *   stamps its own time). `@module` and `@caller` become the fields `module`
 *   and `caller`. Unlike go-plugin, a `@timestamp` in another layout does not
 *   demote the line, and a non-string `@message` does not crash.
 * - A JSON object with another or no `@level`: the whole line at DEBUG.
 * - Any other line: ERROR if it starts with `panic: ` or `fatal error: `, and
 *   for every later such line (state `panicking`); else the level of a
 *   `[TRACE]`, `[DEBUG]`, `[INFO]`, `[WARN]` or `[ERROR]` prefix (kept in the
 *   message); else DEBUG.
 *
 * Never throws.
 *
 * @example
 * ```ts
 * import { classifyLine } from "./log_relay.ts";
 * const state = { panicking: false };
 * const entry = classifyLine('{"@level":"INFO","@message":"hi","n":1}', state);
 * console.assert(entry.level === "info" && entry.message === "hi" && entry.fields.n === 1);
 * console.assert(classifyLine("[WARN] low disk", state).level === "warn");
 * ```
 *
 * @param line The line, without its newline.
 * @param state The relay's memory, updated in place.
 * @returns Level, message and fields.
 */
export function classifyLine(line: string, state: LogRelayState): RelayedLine {
  const entry = parseObject(line);
  if (entry) return classifyJson(line, entry);
  if (PANIC_STARTS.some((p) => line.startsWith(p))) state.panicking = true;
  if (state.panicking) return { level: "error", message: line, fields: {} };
  for (const [prefix, level] of PREFIXES) {
    if (line.startsWith(prefix)) return { level, message: line, fields: {} };
  }
  return { level: "debug", message: line, fields: {} };
}

/**
 * Creates the function that re-logs a plugin's stderr lines on `logger`, one
 * call per line, keeping the panic state between lines. Hand it to
 * `spawnPlugin`'s `onStderrLine` (`launch()` does). Name the logger after the plugin first, as
 * go-plugin does (`plugin.<executable name>`).
 *
 * @example
 * ```ts
 * import { createLogRelay } from "./log_relay.ts";
 * import { createLogger } from "../log/logger.ts";
 * const lines: string[] = [];
 * const relay = createLogRelay(createLogger({ write: (l) => lines.push(l) }).named("kv"));
 * relay('{"@level":"debug","@message":"plugin address","network":"unix"}');
 * console.assert(lines.length === 1 && lines[0].includes('"network":"unix"'));
 * ```
 *
 * @param logger Where the lines go.
 * @returns The relay.
 */
export function createLogRelay(logger: Logger): (line: string) => void {
  const state: LogRelayState = { panicking: false };
  return (line) => {
    const { level, message, fields } = classifyLine(line, state);
    logger[level](message, fields);
  };
}
