/**
 * Failures that would end a plugin without a word the host shows: an
 * uncaught exception or an unhandled rejection. Deno prints them as text on
 * stderr, which go-plugin hosts re-log at DEBUG (hidden at their default
 * INFO level), so the host only says `plugin process exited`. Here each
 * becomes one hclog line at ERROR with the error and its stack, and the
 * process exits with status 1, as Deno's default does.
 *
 * @module
 */

import { createLogger, type Logger } from "../log/logger.ts";
import { launchedByHost } from "./console.ts";

interface Reporter {
  logger: Logger | null;
  remove: () => void;
}

let active: Reporter | null = null;

/** The error text and stack of whatever was thrown. */
function describe(thrown: unknown): { error: string; stack?: string } {
  if (thrown instanceof Error) {
    return { error: `${thrown.name}: ${thrown.message}`, stack: thrown.stack };
  }
  try {
    return { error: typeof thrown === "string" ? thrown : Deno.inspect(thrown, { colors: false }) };
  } catch {
    return { error: String(thrown) };
  }
}

function report(reporter: Reporter, what: string, thrown: unknown): never {
  const { error, stack } = describe(thrown);
  reporter.logger ??= createLogger();
  reporter.logger.error(`plugin crashed: ${what}`, { error, stack });
  Deno.exit(1);
}

/**
 * Reports uncaught exceptions and unhandled rejections as one hclog ERROR
 * line on stderr, then exits 1. A listener of the program's own that calls
 * `preventDefault()` first keeps the event for itself. Calling it again only
 * changes the logger.
 *
 * @param logger The plugin's logger; a default stderr one when omitted.
 */
export function reportCrashes(logger?: Logger): void {
  if (active) {
    if (logger) active.logger = logger;
    return;
  }
  const reporter: Reporter = { logger: logger ?? null, remove: () => {} };
  const onError = (e: ErrorEvent) => {
    if (e.defaultPrevented) return;
    e.preventDefault();
    report(reporter, "uncaught exception", e.error ?? e.message);
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    if (e.defaultPrevented) return;
    e.preventDefault();
    report(reporter, "unhandled promise rejection", e.reason);
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  reporter.remove = () => {
    globalThis.removeEventListener("error", onError);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
  active = reporter;
}

/** Stops reporting crashes (Deno's default takes over again). */
export function stopReportingCrashes(): void {
  active?.remove();
  active = null;
}

// Under a host, from the first import on: a throw before serve() is reported too.
if (launchedByHost()) reportCrashes();
