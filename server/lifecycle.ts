/**
 * Process lifecycle: SIGINT ignored (the host decides when we stop), SIGTERM
 * and SIGHUP stop gracefully, and the host's death is noticed. In debug mode
 * nobody launched us: SIGINT stops too, and no death is watched.
 *
 * SIGHUP: go-plugin's Go servers take the default action (the process dies
 * with status 129, calls in flight fail, the socket file stays). A hangup
 * means the terminal or session went away, usually with the host: we stop
 * as on SIGTERM instead, so that calls in flight finish, the socket file is
 * removed, and the exit status is 0.
 *
 * @module
 */

import { after } from "../_timer.ts";
import type { Logger } from "../log/logger.ts";

/** Handles for undoing {@linkcode watchLifecycle}. */
export interface LifecycleWatch {
  /** Removes signal listeners and stops the parent watch. */
  stop(): void;
  /**
   * Starts checking twice a second that the host still reads our stdout.
   * Call it only after the handshake line is out: a newline before it would
   * break the handshake.
   */
  startHostProbe(): void;
}

const NEWLINE = new Uint8Array([10]);

/** Calls `fn` every `ms` until `fn` returns false; never keeps the process alive. */
function every(ms: number, fn: () => boolean): void {
  after(ms, () => {
    if (fn()) every(ms, fn);
  });
}

/**
 * Whether the host still holds the read end of our stdout. go-plugin hosts
 * read and discard every stdout line after the handshake, so one newline is
 * harmless; a closed pipe (EPIPE) means the host is gone. This catches host
 * death even when a wrapper (`sh -c`) stays alive as our parent.
 *
 * @returns Resolves to false when stdout's reader is gone.
 */
export function hostReadsStdout(): Promise<boolean> {
  if (probing) return probing;
  // An async write never blocks the event loop, even if a host stopped
  // draining the pipe; at most one is outstanding.
  probing = Deno.stdout.write(NEWLINE).then(
    () => true,
    (err) => !(err instanceof Deno.errors.BrokenPipe),
  ).finally(() => (probing = null));
  return probing;
}

let probing: Promise<boolean> | null = null;

/** How often the host probe runs once the handshake is out (ms). */
const HOST_PROBE_MS = 500;

/** Why {@linkcode watchLifecycle} asks the plugin to stop. */
export type StopReason = "sigint" | "sigterm" | "sighup" | "parent-gone" | "host-gone";

/** Options of {@linkcode watchLifecycle}. */
export interface LifecycleOptions {
  /**
   * Debug mode: SIGINT stops the plugin as SIGTERM does, and neither the
   * parent nor stdout's reader is watched (no host launched the plugin).
   * @default {false}
   */
  debug?: boolean;
  /**
   * How often to check the parent (ms).
   * @default {250}
   */
  pollMs?: number;
}

/**
 * Ignores SIGINT (logged at trace, with a count, as go-plugin does), calls
 * `onStop` on SIGTERM and SIGHUP, and calls `onStop` when the parent process is gone.
 * With `debug`, SIGINT calls `onStop` too and nothing else is watched.
 *
 * @param logger Where to log.
 * @param onStop Called with the reason.
 * @param options Debug mode and the parent poll interval.
 * @returns A handle to undo the watches.
 */
export function watchLifecycle(
  logger: Logger,
  onStop: (reason: StopReason) => void,
  options: LifecycleOptions = {},
): LifecycleWatch {
  const debug = options.debug ?? false;
  let interrupts = 0;
  const onInt = debug ? () => onStop("sigint") : () => {
    interrupts++;
    logger.trace("plugin received interrupt signal, ignoring", { count: interrupts });
  };
  const onTerm = () => onStop("sigterm");
  const onHup = () => onStop("sighup");
  const windows = Deno.build.os === "windows";
  Deno.addSignalListener("SIGINT", onInt);
  if (!windows) {
    Deno.addSignalListener("SIGTERM", onTerm);
    Deno.addSignalListener("SIGHUP", onHup);
  }
  const parent = Deno.ppid;
  let stopped = false;
  if (!debug) {
    every(options.pollMs ?? 250, () => {
      if (stopped) return false;
      if (Deno.ppid === parent) return true;
      logger.debug("host process is gone; stopping", { parent_pid: parent });
      onStop("parent-gone");
      return false;
    });
  }
  let probeStarted = false;
  const probe = async () => {
    if (stopped || await hostReadsStdout() || stopped) return;
    logger.debug("host closed our stdout; stopping");
    onStop("host-gone");
  };
  return {
    startHostProbe() {
      if (debug || Deno.stdout.isTerminal() || probeStarted) return;
      probeStarted = true;
      every(HOST_PROBE_MS, () => {
        if (!stopped) void probe();
        return !stopped;
      });
    },
    stop() {
      stopped = true;
      Deno.removeSignalListener("SIGINT", onInt);
      if (!windows) {
        Deno.removeSignalListener("SIGTERM", onTerm);
        Deno.removeSignalListener("SIGHUP", onHup);
      }
    },
  };
}
