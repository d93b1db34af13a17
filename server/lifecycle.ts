/**
 * Process lifecycle: SIGINT ignored (the host decides when we stop), SIGTERM
 * stops gracefully, and the host's death is noticed.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";

/** Handles for undoing {@linkcode watchLifecycle}. */
export interface LifecycleWatch {
  /** Removes signal listeners and stops the parent watch. */
  stop(): void;
  /**
   * Checks, over the next ~1.5 s, whether the host still reads our stdout;
   * call it when the host's connection drops without a Shutdown.
   */
  checkHost(): void;
}

const NEWLINE = new Uint8Array([10]);

/**
 * Whether the host still holds the read end of our stdout. go-plugin hosts
 * read and discard every stdout line after the handshake, so one newline is
 * harmless; a closed pipe (EPIPE) means the host is gone. This catches host
 * death even when a wrapper (`sh -c`) stays alive as our parent.
 *
 * @returns False when stdout's reader is gone.
 */
export function hostReadsStdout(): boolean {
  try {
    Deno.stdout.writeSync(NEWLINE);
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.BrokenPipe);
  }
}

/**
 * Ignores SIGINT (logged at trace, with a count, as go-plugin does), calls
 * `onStop` on SIGTERM, and calls `onStop` when the parent process is gone.
 *
 * @param logger Where to log.
 * @param onStop Called once with the reason.
 * @param pollMs How often to check the parent.
 * @returns A handle to undo the watches.
 */
export function watchLifecycle(
  logger: Logger,
  onStop: (reason: "sigterm" | "parent-gone" | "host-gone") => void,
  pollMs = 250,
): LifecycleWatch {
  let interrupts = 0;
  const onInt = () => {
    interrupts++;
    logger.trace("plugin received interrupt signal, ignoring", { count: interrupts });
  };
  const onTerm = () => onStop("sigterm");
  const windows = Deno.build.os === "windows";
  Deno.addSignalListener("SIGINT", onInt);
  if (!windows) Deno.addSignalListener("SIGTERM", onTerm);
  const parent = Deno.ppid;
  const timer = setInterval(() => {
    if (Deno.ppid !== parent) {
      logger.debug("host process is gone; stopping", { parent_pid: parent });
      onStop("parent-gone");
    }
  }, pollMs);
  Deno.unrefTimer(timer);
  const probes = new Set<ReturnType<typeof setTimeout>>();
  return {
    checkHost() {
      for (const delay of [0, 100, 500, 1500]) {
        const id = setTimeout(() => {
          probes.delete(id);
          if (!hostReadsStdout()) {
            logger.debug("host closed our stdout; stopping");
            onStop("host-gone");
          }
        }, delay);
        Deno.unrefTimer(id as unknown as number);
        probes.add(id);
      }
    },
    stop() {
      for (const id of probes) clearTimeout(id);
      clearInterval(timer);
      Deno.removeSignalListener("SIGINT", onInt);
      if (!windows) Deno.removeSignalListener("SIGTERM", onTerm);
    },
  };
}
