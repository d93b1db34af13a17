/**
 * Keeps stdout for the handshake: `console.*` output goes to the stdio
 * stream (`log`/`info`/`debug`/`dir`/`table` as stdout, `warn`/`error`/
 * `trace` as stderr) and/or as hclog lines to stderr (see
 * {@linkcode ConsoleMode}) instead of the process's stdout.
 *
 * The capture starts when this module is loaded in a process a go-plugin
 * host launched (`PLUGIN_PROTOCOL_VERSIONS` is set), so even top-level
 * `console.log` calls before `serve()` cannot break the handshake; otherwise
 * `serve()` starts it.
 *
 * @module
 */

import { ENV } from "../constants.ts";
import { createLogger, type Logger, type LogLevel } from "../log/logger.ts";
import { type StdioChannel, StdioQueue } from "../services/stdio.ts";

/**
 * Where `console.*` output goes while a host runs the plugin (`serve()`'s
 * `console` option). It never goes to stdout, which carries only the
 * handshake line and the host-alive probe's newlines.
 *
 * - `"both"` (the default): to the host's stdio stream (go-plugin's
 *   `SyncStdout`/`SyncStderr`) and as one hclog line per call on stderr,
 *   which the host logs at the line's level. go-plugin hosts read the stream
 *   but discard it unless `SyncStdout`/`SyncStderr` are set, and a plugin
 *   cannot tell, so only both ways reach every host.
 * - `"stdio"`: the stream only, as a go-plugin Go plugin's `os.Stdout`.
 * - `"hclog"`: stderr log lines only.
 *
 * Levels of the log lines: `debug` at DEBUG; `log`, `info`, `dir`, `table`,
 * `count`, `time*` and `group` at INFO; `warn` at WARN; `error`, `trace` and
 * failed `assert`s at ERROR.
 *
 * @example Console output as log lines only
 * ```ts ignore
 * import { serve } from "@rpcplugin/rpcplugin";
 * await serve({
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" },
 *   services: [],
 *   console: "hclog",
 * });
 * ```
 */
export type ConsoleMode = "both" | "stdio" | "hclog";

/** The console modes, for checking an option. */
export const CONSOLE_MODES: readonly ConsoleMode[] = ["both", "stdio", "hclog"];

interface Capture {
  queue: StdioQueue;
  restore: () => void;
  mode: ConsoleMode;
  /** Where the log lines go: serve()'s logger, named "console". */
  logger: Logger | null;
}

let active: Capture | null = null;

const INSPECT: Deno.InspectOptions = { colors: false, depth: 4 };

/** Formats console arguments the way `console.log` does (`%s`, `%d`, `%o`, ...). */
export function formatArgs(args: readonly unknown[]): string {
  const show = (v: unknown) => (typeof v === "string" ? v : Deno.inspect(v, INSPECT));
  if (typeof args[0] !== "string" || !args[0].includes("%")) return args.map(show).join(" ");
  let next = 1;
  const head = args[0].replace(/%([sdifjoOc%])/g, (whole, spec: string) => {
    if (spec === "%") return "%";
    if (next >= args.length) return whole;
    const v = args[next++];
    switch (spec) {
      case "s":
        return typeof v === "string" ? v : Deno.inspect(v, { ...INSPECT, depth: 1 });
      case "d":
      case "i":
        return typeof v === "bigint"
          ? `${v}n`
          : String(spec === "i" ? Math.trunc(Number(v)) : Number(v));
      case "f":
        return String(Number(v));
      case "j":
        try {
          return JSON.stringify(v);
        } catch {
          return "[Circular]";
        }
      case "c":
        return "";
      default:
        return Deno.inspect(v, INSPECT);
    }
  });
  return [head, ...args.slice(next).map(show)].join(" ");
}

/**
 * A console whose output goes where the capture's mode says: the stdio queue
 * (stdout for log, info, debug, dir and table; stderr for warn, error, trace
 * and failed asserts) and/or hclog lines at the method's level.
 */
function queueConsole(capture: Capture): Console {
  const encoder = new TextEncoder();
  let indent = "";
  const counts = new Map<string, number>();
  const timers = new Map<string, number>();
  let logging = false; // a logger that writes with console.* must not loop
  const out = (channel: StdioChannel, level: Exclude<LogLevel, "off">) => (...args: unknown[]) => {
    const text = formatArgs(args);
    const lines = indent ? text.replace(/^/gm, indent) : text;
    if (capture.mode !== "hclog" || logging) {
      capture.queue.write(channel, encoder.encode(lines + "\n"));
    }
    if (capture.mode !== "stdio" && !logging) {
      capture.logger ??= createLogger().named("console");
      logging = true;
      try {
        capture.logger[level](lines);
      } finally {
        logging = false;
      }
    }
  };
  const log = out("stdout", "info");
  const err = out("stderr", "error");
  const elapsed = (label: string) =>
    `${label}: ${(performance.now() - timers.get(label)!).toFixed(3)}ms`;
  const replacement = {
    log,
    info: log,
    debug: out("stdout", "debug"),
    dir: (v: unknown) => log(Deno.inspect(v, INSPECT)),
    dirxml: log,
    table: (v: unknown) => log(Deno.inspect(v, INSPECT)),
    warn: out("stderr", "warn"),
    error: err,
    trace: (...args: unknown[]) => {
      const stack = (new Error().stack ?? "").split("\n").slice(2).join("\n");
      err(`Trace: ${formatArgs(args)}\n${stack}`);
    },
    assert: (condition?: unknown, ...args: unknown[]) => {
      if (!condition) {
        err(args.length ? `Assertion failed: ${formatArgs(args)}` : "Assertion failed");
      }
    },
    count: (label = "default") => {
      const n = (counts.get(label) ?? 0) + 1;
      counts.set(label, n);
      log(`${label}: ${n}`);
    },
    countReset: (label = "default") => void counts.delete(label),
    time: (label = "default") => void timers.set(label, performance.now()),
    timeLog: (label = "default", ...args: unknown[]) => {
      if (timers.has(label)) log(elapsed(label), ...args);
    },
    timeEnd: (label = "default") => {
      if (!timers.has(label)) return;
      log(elapsed(label));
      timers.delete(label);
    },
    group: (...args: unknown[]) => {
      if (args.length) log(...args);
      indent += "  ";
    },
    groupCollapsed: (...args: unknown[]) => {
      if (args.length) log(...args);
      indent += "  ";
    },
    groupEnd: () => void (indent = indent.slice(2)),
    clear: () => {},
    profile: () => {},
    profileEnd: () => {},
    timeStamp: () => {},
  };
  return replacement as unknown as Console;
}

function redirect(capture: Capture): () => void {
  const original = globalThis.console;
  globalThis.console = queueConsole(capture);
  return () => {
    globalThis.console = original;
  };
}

/**
 * Starts capturing the console, or returns the capture already running;
 * sets where its output goes from now on.
 *
 * @param mode Where output goes (output before the call went the default way).
 * @param logger The logger of the log lines (a logger named "console" of it).
 * @returns The queue of the stdio stream.
 */
export function captureConsole(mode: ConsoleMode = "both", logger?: Logger): StdioQueue {
  if (!active) {
    const capture: Capture = { queue: new StdioQueue(), restore: () => {}, mode, logger: null };
    capture.restore = redirect(capture);
    active = capture;
  }
  active.mode = mode;
  if (logger) active.logger = logger.named("console");
  return active.queue;
}

/** Restores the original console and closes the queue. */
export function releaseConsole(): void {
  if (!active) return;
  active.restore();
  active.queue.close();
  active = null;
}

/**
 * Whether a go-plugin host launched this process (`PLUGIN_PROTOCOL_VERSIONS`
 * is set and readable).
 *
 * @returns True under a host.
 */
export function launchedByHost(): boolean {
  try {
    const query = { name: "env", variable: ENV.protocolVersions } as const;
    if (Deno.permissions.querySync(query).state !== "granted") return false;
    return Deno.env.get(ENV.protocolVersions) !== undefined;
  } catch {
    return false;
  }
}

if (launchedByHost()) captureConsole();
