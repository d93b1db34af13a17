/**
 * A plugin process started directly by a test, as a host would start it
 * (the cookie and PLUGIN_* in its environment) but without a host: the test
 * reads its handshake line and log lines itself and sends it signals.
 *
 * @module
 */

import { parseHandshakeLine } from "../../handshake/line.ts";
import type { HandshakeInfo } from "../../handshake/line.ts";

/** A running plugin and what it printed. */
export interface DirectPlugin {
  /** The process. */
  child: Deno.ChildProcess;
  /** The parsed handshake line; rejects if stdout ends first (with stderr in the message). */
  handshake: Promise<HandshakeInfo>;
  /** Every stdout line so far. */
  stdoutLines: string[];
  /** Every stderr line so far. */
  stderrLines: string[];
  /** Resolves with the first stderr line (past or future) matching; rejects once stderr closed without one. */
  waitForLog(pattern: RegExp): Promise<string>;
  /** Resolves once the process exited and its pipes are drained. */
  status: Promise<Deno.CommandStatus>;
}

/** Environment of a plugin launched by a go-plugin host with protocol version 1. */
export function hostEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1", TMPDIR: dir, ...extra };
}

async function lines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) onLine(rest);
}

/**
 * Starts a program (a plugin) with piped stdout and stderr.
 *
 * @param cmd Program and arguments.
 * @param options Working directory and environment.
 * @returns The running plugin.
 */
export function startDirect(
  cmd: readonly string[],
  options: { cwd: string; env: Record<string, string> },
): DirectPlugin {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderrLines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const stderrDone = lines(child.stderr, (line) => {
    stderrLines.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const first = Promise.withResolvers<string>();
  const stdoutLines: string[] = [];
  const stdoutDone = lines(child.stdout, (line) => {
    stdoutLines.push(line);
    first.resolve(line);
  }).then(() => first.reject(new Error("stdout ended without a handshake line")));
  const status = Promise.all([child.status, stdoutDone, stderrDone]).then(([s]) => s);
  const handshake = first.promise.then(
    parseHandshakeLine,
    async (err) => {
      await status;
      throw new Error(`${err.message}; stderr:\n${stderrLines.join("\n")}`);
    },
  );
  handshake.catch(() => {});
  return {
    child,
    handshake,
    stdoutLines,
    stderrLines,
    status,
    waitForLog(pattern) {
      const seen = stderrLines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      const found = Promise.withResolvers<string>();
      waiters.push({ pattern, resolve: found.resolve });
      stderrDone.then(() =>
        found.reject(
          new Error(`stderr closed without a line matching ${pattern}:\n${stderrLines.join("\n")}`),
        )
      );
      return found.promise;
    },
  };
}
