/**
 * Keeps stdout for the handshake: `console.*` output goes to the stdio
 * stream (`log`/`info`/`debug`/`dir`/`table` as stdout, `warn`/`error`/
 * `trace` as stderr) instead of the process's stdout.
 *
 * The capture starts when this module is loaded in a process a go-plugin
 * host launched (`PLUGIN_PROTOCOL_VERSIONS` is set), so even top-level
 * `console.log` calls before `serve()` cannot break the handshake; otherwise
 * `serve()` starts it.
 *
 * @module
 */

import { ENV } from "../constants.ts";
import { type StdioChannel, StdioQueue } from "../services/stdio.ts";

let active: { queue: StdioQueue; restore: () => void } | null = null;

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
 * A console whose output goes to the stdio queue: stdout for log, info,
 * debug, dir and table; stderr for warn, error, trace and failed asserts.
 */
function queueConsole(queue: StdioQueue): Console {
  const encoder = new TextEncoder();
  let indent = "";
  const counts = new Map<string, number>();
  const timers = new Map<string, number>();
  const out = (channel: StdioChannel) => (...args: unknown[]) => {
    const text = formatArgs(args);
    const lines = indent ? text.replace(/^/gm, indent) : text;
    queue.write(channel, encoder.encode(lines + "\n"));
  };
  const log = out("stdout");
  const err = out("stderr");
  const elapsed = (label: string) =>
    `${label}: ${(performance.now() - timers.get(label)!).toFixed(3)}ms`;
  const replacement = {
    log,
    info: log,
    debug: log,
    dir: (v: unknown) => log(Deno.inspect(v, INSPECT)),
    dirxml: log,
    table: (v: unknown) => log(Deno.inspect(v, INSPECT)),
    warn: err,
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

function redirect(queue: StdioQueue): () => void {
  const original = globalThis.console;
  globalThis.console = queueConsole(queue);
  return () => {
    globalThis.console = original;
  };
}

/**
 * Starts capturing the console, or returns the capture already running.
 *
 * @returns The queue the console writes to.
 */
export function captureConsole(): StdioQueue {
  if (!active) {
    const queue = new StdioQueue();
    active = { queue, restore: redirect(queue) };
  }
  return active.queue;
}

/** Restores the original console and closes the queue. */
export function releaseConsole(): void {
  if (!active) return;
  active.restore();
  active.queue.close();
  active = null;
}

function launchedByHost(): boolean {
  try {
    const query = { name: "env", variable: ENV.protocolVersions } as const;
    if (Deno.permissions.querySync(query).state !== "granted") return false;
    return Deno.env.get(ENV.protocolVersions) !== undefined;
  } catch {
    return false;
  }
}

if (launchedByHost()) captureConsole();
