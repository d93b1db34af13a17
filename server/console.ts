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

import { Console } from "node:console";
import { Writable } from "node:stream";
import { ENV } from "../constants.ts";
import { type StdioChannel, StdioQueue } from "./stdio.ts";

let active: { queue: StdioQueue; restore: () => void } | null = null;

function redirect(queue: StdioQueue): () => void {
  const original = globalThis.console;
  const encoder = new TextEncoder();
  const stream = (channel: StdioChannel) =>
    new Writable({
      write(chunk: Uint8Array | string, _enc, done) {
        queue.write(channel, typeof chunk === "string" ? encoder.encode(chunk) : chunk);
        done();
      },
    });
  const replacement = new Console({ stdout: stream("stdout"), stderr: stream("stderr") });
  globalThis.console = replacement as unknown as typeof globalThis.console;
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
