/**
 * `plugin.GRPCStdio`: what the plugin writes with `console.*` after start-up
 * travels to the host on this stream, in chunks of at most 1024 bytes, never
 * on the real stdout (which belongs to the handshake).
 *
 * @module
 */

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

/**
 * A bounded queue of output chunks, held until the host's stream takes them.
 * When more than `limitBytes` wait, the oldest are dropped.
 */
export class StdioQueue {
  #chunks: Chunk[] = [];
  #bytes = 0;
  #waiter: (() => void) | null = null;
  #closed = false;
  /** Chunks dropped because nobody read them in time. */
  dropped = 0;

  /** @param limitBytes Most bytes held while no stream reads. */
  constructor(readonly limitBytes: number = 1 << 20) {}

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
      this.#bytes -= this.#chunks.shift()!.data.length;
      this.dropped++;
    }
    this.#waiter?.();
  }

  /** Ends every reader; later writes are ignored. */
  close(): void {
    this.#closed = true;
    this.#waiter?.();
  }

  /** Yields chunks until the queue closes or `signal` aborts. */
  async *drain(signal: AbortSignal): AsyncGenerator<Chunk> {
    const wake = () => this.#waiter?.();
    signal.addEventListener("abort", wake);
    try {
      while (!signal.aborted) {
        const next = this.#chunks.shift();
        if (next) {
          this.#bytes -= next.data.length;
          yield next;
          continue;
        }
        if (this.#closed) return;
        await new Promise<void>((resolve) => (this.#waiter = resolve));
        this.#waiter = null;
      }
    } finally {
      signal.removeEventListener("abort", wake);
    }
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
