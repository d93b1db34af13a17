/**
 * Starting a plugin process and reading its first stdout line: the part of
 * a host that deals with the child itself (protocol.md 1, 3 and 8.1-8.3).
 *
 * @module
 */

import { after, within } from "../_timer.ts";
import {
  DEFAULT_START_TIMEOUT_MS,
  HOST_KILL_TIMEOUT_MS,
  MAX_HANDSHAKE_LINE_BYTES,
  STDERR_LINE_BYTES,
} from "../constants.ts";
import { explainPermission } from "../errors.ts";
import { LineSplitter, LineTail } from "./_lines.ts";
import {
  ExecutableNotFoundError,
  HandshakeLineTooLongError,
  LaunchError,
  PluginExitedError,
  StartTimeoutError,
} from "./errors.ts";

/**
 * How long after the plugin exited its handshake line may still be read
 * (it was in the pipe), when a process it started keeps the pipe open.
 */
const EXITED_LINE_GRACE_MS = 1000;

/** Bounds of {@linkcode PluginProcess.stderrTail}. */
const TAIL_LINES = 20;
const TAIL_CHARS = 4096;
const TAIL_LINE_CHARS = 1024;

/** Options of {@linkcode spawnPlugin}. */
export interface SpawnPluginOptions {
  /** The executable and its arguments. Run directly, without a shell. */
  cmd: readonly string[];
  /**
   * The complete environment (see `buildPluginEnv`); nothing of the host's
   * is added. An executable without `/` is looked up on this `PATH`, or on
   * the host's when it has none.
   */
  env: Readonly<Record<string, string>>;
  /** Working directory of the plugin. Defaults to the host's. */
  cwd?: string;
  /**
   * The plugin's stdin. go-plugin gives the host's own stdin; the default
   * here is none, so that a plugin asking a question fails at once instead
   * of reading the user's terminal.
   * @default {"null"}
   */
  stdin?: "null" | "inherit";
  /**
   * How long to wait for the handshake line (ms); the plugin is killed when
   * it expires. `Infinity` waits forever.
   * @default {60000}
   */
  startTimeoutMs?: number;
  /**
   * Called with each stderr line, without its newline (and `\r`). Lines
   * longer than 64 KiB arrive in pieces. An exception thrown here is
   * reported with `reportError` and does not stop the reading.
   */
  onStderrLine?: (line: string) => void;
  /** Called with each raw stderr chunk, before it is split into lines. */
  stderr?: (chunk: Uint8Array) => void;
  /**
   * Called when, 2 s after the process exited, a process it started still
   * holds its stdout or stderr: they are no longer read from then on
   * (their reads would keep the host alive as long as that process), and
   * `exited` resolves.
   */
  onPipesHeld?: () => void;
}

/** A started plugin process. */
export interface PluginProcess {
  /** The process id. */
  readonly pid: number;
  /**
   * The first stdout line, without its newline or `\r`, exactly as printed
   * (validating it is the parser's job). Rejects with:
   * - {@linkcode PluginExitedError} when the process exits before a complete line;
   * - {@linkcode StartTimeoutError} when `startTimeoutMs` expires (the process is killed);
   * - {@linkcode HandshakeLineTooLongError} after 64 KiB without a newline (killed).
   *
   * Its rejection is never reported as unhandled. Everything on stdout after
   * this line is read and discarded, as go-plugin does.
   */
  readonly handshakeLine: Promise<string>;
  /**
   * Resolves once the process has exited and was reaped. Its stdout and
   * stderr may still be open if it left a child process holding them.
   */
  readonly status: Promise<Deno.CommandStatus>;
  /**
   * Resolves once the process was reaped **and** its stdout and stderr were
   * read to their end, which is when go-plugin sees a plugin as exited.
   * A grandchild that inherited them delays this until it closes them or
   * exits, 2 s at most: then they are let go (`onPipesHeld`). Never
   * rejects. Await it after every kill and failure: then nothing of the
   * process but such a grandchild is left.
   */
  readonly exited: Promise<Deno.CommandStatus>;
  /** The last lines of stderr (at most 20 lines, about 4 KiB). */
  stderrTail(): string;
  /**
   * Sends a signal; does nothing if the process is already gone.
   *
   * @param signal The signal.
   * @default {"SIGKILL"} (go-plugin's force kill; it never sends SIGTERM)
   */
  kill(signal?: Deno.Signal): void;
}

/** Turns an error of `spawn()` into one that says what to do. */
function spawnFailure(err: unknown, command: string, cwd: string | undefined): unknown {
  if (err instanceof Deno.errors.NotFound) {
    if (cwd !== undefined && /cwd/i.test(err.message)) {
      return new LaunchError(
        `The plugin's working directory "${cwd}" does not exist: create it or change cwd`,
        {},
        { cause: err },
      );
    }
    return new ExecutableNotFoundError(command, { cause: err });
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new LaunchError(
      `Plugin executable "${command}" cannot be run: permission denied. Make it executable (chmod +x) and check that its directories can be searched`,
      {},
      { cause: err },
    );
  }
  return explainPermission(err, `starting the plugin executable "${command}"`, "the host");
}

/** Calls a user callback; its exception is reported, not thrown into the reader. */
function deliver<T>(fn: ((value: T) => void) | undefined, value: T): void {
  if (!fn) return;
  try {
    fn(value);
  } catch (err) {
    reportError(err);
  }
}

/** Reads a stream to its end, handing each chunk to `onChunk`; a read error counts as the end. */
async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
): Promise<void> {
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onChunk(value);
    }
  } catch {
    // The pipe broke: nothing more will come.
  } finally {
    reader.releaseLock();
  }
}

/**
 * Starts a plugin: runs `cmd` with exactly `env`, pipes stdout and stderr,
 * and reads the handshake line within `startTimeoutMs`. stdout and stderr
 * are read to their end whatever happens, so the plugin never dies of
 * SIGPIPE because the host stopped reading.
 *
 * On a handshake failure (timeout, line too long) the process is killed
 * here with SIGKILL; the caller only awaits `exited`.
 *
 * Requires `--allow-run` for the executable.
 *
 * @example Read the handshake line of a plugin
 * ```ts
 * import { spawnPlugin } from "./process.ts";
 * const plugin = spawnPlugin({
 *   cmd: ["sh", "-c", "echo '1|1|unix|/tmp/plugin1|grpc|'"],
 *   env: { PATH: "/usr/bin:/bin" },
 * });
 * console.assert(await plugin.handshakeLine === "1|1|unix|/tmp/plugin1|grpc|");
 * await plugin.exited;
 * ```
 *
 * @param options Command, environment, timeout and stderr sinks.
 * @returns The running process.
 * @throws {TypeError} When `cmd` is empty.
 * @throws {RangeError} When `startTimeoutMs` is not positive.
 * @throws {ExecutableNotFoundError} When the executable does not exist.
 * @throws {LaunchError} When it cannot be run or `cwd` does not exist.
 * @throws {PermissionError} When Deno refuses to run it (`--allow-run`).
 */
export function spawnPlugin(options: SpawnPluginOptions): PluginProcess {
  const [command, ...args] = options.cmd;
  if (!command) throw new TypeError("cmd is empty: give the plugin executable and its arguments");
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  if (!(timeoutMs > 0)) {
    throw new RangeError(`startTimeoutMs must be a positive number of ms, got ${timeoutMs}`);
  }

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env: { ...options.env },
      clearEnv: true,
      cwd: options.cwd,
      stdin: options.stdin ?? "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    throw spawnFailure(err, command, options.cwd);
  }

  const tail = new LineTail(TAIL_LINES, TAIL_CHARS, TAIL_LINE_CHARS);
  let reaped: Deno.CommandStatus | undefined;
  const status = child.status.then((s) => (reaped = s));

  const kill = (signal: Deno.Signal = "SIGKILL"): void => {
    if (reaped) return;
    try {
      child.kill(signal);
    } catch (err) {
      const gone = reaped || err instanceof Deno.errors.NotFound ||
        (err instanceof TypeError && /terminated/i.test(err.message));
      if (!gone) throw err;
    }
  };

  // The handshake: settled once, by the first of line, failure, exit or timeout.
  const handshake = Promise.withResolvers<string>();
  handshake.promise.catch(() => {});
  let waiting = true;
  let partial: string | undefined;
  let cancelTimer = () => {};
  let cancelGrace = () => {};
  const settle = (outcome: string | Error): void => {
    if (!waiting) return;
    waiting = false;
    cancelTimer();
    cancelGrace();
    if (typeof outcome === "string") handshake.resolve(outcome);
    else handshake.reject(outcome);
  };
  cancelTimer = after(timeoutMs, () => {
    if (!waiting) return;
    if (reaped) {
      // Exited, but a grandchild keeps its pipes open: no line can come.
      settle(new PluginExitedError(command, reaped, tail.text(), partial));
      return;
    }
    settle(new StartTimeoutError(command, timeoutMs, tail.text(), partial));
    kill();
  });

  // Exited without a line: what it wrote before comes within moments, but a process it
  // started may hold the pipes open for ever (go-plugin's host closes them at the exit).
  void status.then((s) => {
    if (!waiting) return;
    cancelGrace = after(EXITED_LINE_GRACE_MS, () => {
      settle(new PluginExitedError(command, s, tail.text(), partial));
    });
  });

  const firstLine = new LineSplitter(MAX_HANDSHAKE_LINE_BYTES, (text, end) => {
    if (!waiting) return;
    if (end === "newline") return settle(text);
    if (end === "eof") return void (partial = text);
    settle(new HandshakeLineTooLongError(command, MAX_HANDSHAKE_LINE_BYTES, text, tail.text()));
    kill();
  });
  const stdoutReader = child.stdout.getReader();
  const stderrReader = child.stderr.getReader();
  const stdoutDone = drain(stdoutReader, (chunk) => {
    if (waiting) firstLine.push(chunk);
  }).then(() => {
    if (waiting) firstLine.end();
  });

  const stderrLines = new LineSplitter(STDERR_LINE_BYTES, (text) => {
    tail.add(text);
    deliver(options.onStderrLine, text);
  });
  const stderrDone = drain(stderrReader, (chunk) => {
    deliver(options.stderr, chunk);
    stderrLines.push(chunk);
  }).then(() => stderrLines.end());

  const exited = Promise.all([status, stdoutDone, stderrDone]).then(([s]) => {
    settle(new PluginExitedError(command, s, tail.text(), partial));
    return s;
  });

  // Reaped, but a process it started holds the pipes: after a while they are let go (a
  // cancelled read ends as done, so each drain returns and `exited` follows). go-plugin's
  // host closes them at the exit.
  void status.then(async () => {
    if (await within(exited, HOST_KILL_TIMEOUT_MS)) return;
    deliver(options.onPipesHeld, undefined);
    void stdoutReader.cancel().catch(() => {});
    void stderrReader.cancel().catch(() => {});
  });

  return {
    pid: child.pid,
    handshakeLine: handshake.promise,
    status,
    exited,
    stderrTail: () => tail.text(),
    kill,
  };
}
