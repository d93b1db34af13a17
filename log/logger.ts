/**
 * A small logger that writes hclog-compatible JSON lines to stderr, so that a
 * go-plugin host re-logs each line at its level (see protocol.md 8.4).
 *
 * @module
 */

import { writeAllSync } from "../_io.ts";

/** Log levels, in hclog's names and order. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "off";

const RANK: Record<LogLevel, number> = {
  trace: 0,
  debug: 1,
  info: 2,
  warn: 3,
  error: 4,
  off: 5,
};

/** Extra key/values on a log line: strings, numbers, booleans or errors. */
export type LogFields = Record<
  string,
  string | number | boolean | bigint | Error | null | undefined
>;

/**
 * Writes leveled log lines. Obtain one from {@linkcode createLogger}, or use
 * the one `serve()` hands to handlers (`call.logger`, with the method as a field).
 */
export interface Logger {
  /** Logs at trace level. */
  trace(message: string, fields?: LogFields): void;
  /** Logs at debug level. */
  debug(message: string, fields?: LogFields): void;
  /** Logs at info level. */
  info(message: string, fields?: LogFields): void;
  /** Logs at warn level. */
  warn(message: string, fields?: LogFields): void;
  /** Logs at error level. */
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `@module` `<this module>.<name>`. */
  named(name: string): Logger;
  /** Whether a line at `level` would be written. */
  enabled(level: LogLevel): boolean;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /**
   * Lowest level written.
   * @default {"debug"}
   */
  level?: LogLevel;
  /**
   * `@module` of every line.
   * @default {"plugin"}
   */
  module?: string;
  /**
   * Where lines go (one call per line, newline included). Defaults to a
   * synchronous write to the process's stderr.
   */
  write?: (line: string) => void;
  /** Clock, for tests. Returns milliseconds since the epoch, fractional. */
  now?: () => number;
}

/**
 * Formats a time as hclog does: RFC 3339 with exactly six fractional digits
 * (`2006-01-02T15:04:05.000000Z`). Go rejects JavaScript's three digits.
 *
 * @example
 * ```ts
 * import { formatTimestamp } from "@rpcplugin/rpcplugin";
 * console.assert(formatTimestamp(0.5) === "1970-01-01T00:00:00.000500Z");
 * ```
 *
 * @param epochMs Milliseconds since the epoch, possibly fractional.
 * @returns The timestamp text.
 */
export function formatTimestamp(epochMs: number): string {
  const wholeMs = Math.floor(epochMs);
  const micros = Math.floor((epochMs - wholeMs) * 1000);
  const iso = new Date(wholeMs).toISOString(); // ...T..:..:..mmmZ
  const fraction = String((wholeMs % 1000) * 1000 + micros).padStart(6, "0");
  return `${iso.slice(0, 19)}.${fraction}Z`;
}

function writeStderr(line: string): void {
  writeAllSync(Deno.stderr, line);
}

function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

function fieldValue(v: LogFields[string]): string | number | boolean | null {
  if (v instanceof Error) return v.message;
  if (typeof v === "bigint") return v.toString();
  return v ?? null;
}

/**
 * Creates a logger writing hclog JSON lines (`@level`, `@message`,
 * `@module`, `@timestamp`, then the fields) to stderr.
 *
 * @example
 * ```ts
 * import { createLogger } from "@rpcplugin/rpcplugin";
 * const lines: string[] = [];
 * const log = createLogger({ level: "info", write: (l) => lines.push(l) });
 * log.info("plugin started", { version: 1 });
 * log.debug("not written");
 * console.assert(lines.length === 1);
 * ```
 *
 * @param options Level, module name and sink.
 * @returns The logger.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? "debug"];
  const write = options.write ?? writeStderr;
  const now = options.now ?? preciseNow;
  const make = (module: string): Logger => {
    const emit = (level: LogLevel, message: string, fields?: LogFields) => {
      if (RANK[level] < min) return;
      const record: Record<string, unknown> = {
        "@level": level,
        "@message": String(message),
        "@module": module,
        "@timestamp": formatTimestamp(now()),
      };
      if (fields) {
        for (const [k, v] of Object.entries(fields)) {
          if (!k.startsWith("@")) record[k] = fieldValue(v);
        }
      }
      try {
        write(JSON.stringify(record) + "\n");
      } catch {
        // stderr is gone (the host died); the parent watch ends the process.
      }
    };
    return {
      trace: (m, f) => emit("trace", m, f),
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      named: (name) => make(`${module}.${name}`),
      enabled: (level) => RANK[level] >= min && level !== "off",
    };
  };
  return make(options.module ?? "plugin");
}

/**
 * A logger that adds `fields` to every line of `logger` (hclog's `With`),
 * and to every line of the loggers its `named()` makes. A line's own fields
 * of the same names win.
 *
 * @example
 * ```ts
 * import { createLogger } from "@rpcplugin/rpcplugin";
 * import { withFields } from "./logger.ts";
 * const lines: string[] = [];
 * const log = withFields(createLogger({ write: (l) => lines.push(l) }), { method: "/kv.KV/Get" });
 * log.info("looked up", { key: "a" });
 * console.assert(JSON.parse(lines[0]).method === "/kv.KV/Get");
 * ```
 *
 * @param logger The logger to write through.
 * @param fields The fields every line gets.
 * @returns The logger.
 */
export function withFields(logger: Logger, fields: LogFields): Logger {
  const add = (own?: LogFields): LogFields => (own ? { ...fields, ...own } : fields);
  return {
    trace: (m, f) => logger.trace(m, add(f)),
    debug: (m, f) => logger.debug(m, add(f)),
    info: (m, f) => logger.info(m, add(f)),
    warn: (m, f) => logger.warn(m, add(f)),
    error: (m, f) => logger.error(m, add(f)),
    named: (name) => withFields(logger.named(name), fields),
    enabled: (level) => logger.enabled(level),
  };
}
