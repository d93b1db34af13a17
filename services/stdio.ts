/**
 * `plugin.GRPCStdio`: what the plugin writes with `console.*` after start-up
 * travels to the host on this stream, in chunks of at most 1024 bytes, never
 * on the real stdout (which belongs to the handshake).
 *
 * @module
 */

import { Queue } from "../_queue.ts";
import { after } from "../_timer.ts";
import { STDIO_CHUNK_BYTES } from "../constants.ts";
import { GRPCStdioDefinition, StdioData_Channel } from "../gen/plugin/grpc_stdio_pb.ts";
import { fromTsProto, implement, type ServiceImplementation } from "../rpc/service.ts";
import type { Logger } from "../log/logger.ts";
import type { Channel } from "../rpc/client_call.ts";
import { type RpcError, Status } from "../rpc/status.ts";

/** The two channels of the stdio stream. */
export type StdioChannel = "stdout" | "stderr";

interface Chunk {
  channel: StdioData_Channel;
  data: Uint8Array;
}

/** How long a burst of dropped output is counted before it is reported (ms). */
const DROP_REPORT_MS = 1000;

/**
 * A bounded queue of output chunks, held until the host's stream takes them.
 * When more than `limitBytes` wait, the oldest are dropped; each burst of
 * drops is reported once, at WARN, on the logger given to
 * {@linkcode StdioQueue.reportDropsTo}. A burst ends when a reader has taken
 * everything, when the queue closes, or `dropReportMs` after its first drop.
 *
 * Several readers may drain the queue at once (a host may open the stream
 * twice): each chunk goes to one of them, and each ends on its own signal or
 * when the queue closes.
 */
export class StdioQueue {
  /** A queue taken from by index: 1 MiB of one-byte writes is a million chunks. */
  readonly #chunks = new Queue<Chunk>();
  #bytes = 0;
  #waiters = new Set<() => void>();
  #closed = false;
  #logger: Logger | null = null;
  #burstBytes = 0;
  #burstChunks = 0;
  #cancelReport: (() => void) | null = null;
  /** Chunks dropped because nobody read them in time. */
  dropped = 0;
  /** Bytes dropped because nobody read them in time. */
  droppedBytes = 0;

  /**
   * @param limitBytes Most bytes held while no stream reads.
   * @param dropReportMs Longest time a burst of drops goes unreported (ms).
   */
  constructor(
    readonly limitBytes: number = 1 << 20,
    readonly dropReportMs: number = DROP_REPORT_MS,
  ) {}

  /**
   * Where dropped output is reported (one WARN per burst). Drops counted
   * before a logger was given are reported now.
   *
   * @param logger The plugin's logger.
   */
  reportDropsTo(logger: Logger): void {
    this.#logger = logger;
    if (this.#burstBytes && !this.#cancelReport) this.#reportDrops();
  }

  /** Queues output, split into chunks of at most 1024 bytes. */
  write(channel: StdioChannel, data: Uint8Array): void {
    if (this.#closed || data.length === 0) return;
    const ch = channel === "stdout" ? StdioData_Channel.STDOUT : StdioData_Channel.STDERR;
    for (let i = 0; i < data.length; i += STDIO_CHUNK_BYTES) {
      const part = data.slice(i, i + STDIO_CHUNK_BYTES);
      this.#chunks.push({ channel: ch, data: part });
      this.#bytes += part.length;
    }
    while (this.#bytes > this.limitBytes && this.#chunks.length > 0) {
      const gone = this.#chunks.shift()!.data.length;
      this.#bytes -= gone;
      this.dropped++;
      this.droppedBytes += gone;
      this.#burstBytes += gone;
      this.#burstChunks++;
    }
    if (this.#burstBytes && !this.#cancelReport && this.#logger) {
      this.#cancelReport = after(this.dropReportMs, () => {
        this.#cancelReport = null;
        this.#reportDrops();
      });
    }
    this.#wakeAll();
  }

  /** Ends every reader; later writes are ignored. A burst of drops still counted is reported. */
  close(): void {
    this.#closed = true;
    if (this.#burstBytes) this.#reportDrops();
    this.#wakeAll();
  }

  /** Yields chunks until the queue closes or `signal` aborts. */
  async *drain(signal: AbortSignal): AsyncGenerator<Chunk> {
    let wake: (() => void) | null = null;
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = this.#chunks.shift();
        if (next) {
          this.#bytes -= next.data.length;
          yield next;
          continue;
        }
        // The reader caught up: the burst of drops, if any, is over.
        if (this.#burstBytes) this.#reportDrops();
        if (this.#closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.#waiters.add(resolve);
        });
        this.#waiters.delete(wake!);
        wake = null;
      }
    } finally {
      if (wake) this.#waiters.delete(wake);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #wakeAll(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Logs the current burst of drops (once a logger is known) and starts counting anew. */
  #reportDrops(): void {
    if (!this.#logger) return;
    this.#cancelReport?.();
    this.#cancelReport = null;
    const bytes = this.#burstBytes;
    const chunks = this.#burstChunks;
    this.#burstBytes = 0;
    this.#burstChunks = 0;
    this.#logger.warn(
      `${bytes} bytes of console output dropped: the host is not reading the stdio stream`,
      { dropped_bytes: bytes, dropped_chunks: chunks, limit_bytes: this.limitBytes },
    );
  }
}

/**
 * Builds the stdio service over a queue.
 *
 * @param queue Where `console.*` output waits.
 * @returns The service implementation.
 */
export function stdioService(queue: StdioQueue): ServiceImplementation {
  return implement(fromTsProto(GRPCStdioDefinition), {
    streamStdio: (_req, call) => queue.drain(call.signal),
  });
}

/** Where the host writes what a plugin sends on its stdio stream. */
export type StdioSink = (data: Uint8Array) => void | Promise<unknown>;

/**
 * The host's half: reads the plugin's stdio stream until it ends or `signal`
 * aborts, handing each chunk to `stdout` or `stderr` (in order). A plugin
 * without the service gets one warning, then nothing more.
 *
 * @param channel The connection to the plugin.
 * @param sinks Where each channel's data goes (absent: discarded).
 * @param logger Where the warning goes.
 * @param signal Ends the stream.
 */
export async function relayStdio(
  channel: Channel,
  sinks: { stdout?: StdioSink; stderr?: StdioSink },
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const streamStdio = fromTsProto(GRPCStdioDefinition).methods.streamStdio;
  try {
    for await (const item of channel.serverStream(streamStdio, {}, { signal })) {
      const chunk = item as Chunk;
      const sink = chunk.channel === StdioData_Channel.STDOUT
        ? sinks.stdout
        : chunk.channel === StdioData_Channel.STDERR
        ? sinks.stderr
        : undefined;
      await sink?.(chunk.data);
    }
  } catch (err) {
    if (signal.aborted || channel.closed) return;
    const code = (err as RpcError).code;
    if (code === Status.UNIMPLEMENTED || code === Status.UNAVAILABLE) {
      logger.warn("plugin stdio service not available; its stdout and stderr output is lost", {
        error: (err as Error).message,
      });
    } else {
      logger.debug("plugin stdio stream ended", { error: (err as Error).message });
    }
  }
}
