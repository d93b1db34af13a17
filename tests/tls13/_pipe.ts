/**
 * An in-memory socket pair for record-layer tests: what one end writes the
 * other reads, in the chunks written (or split, `maxRead`).
 *
 * @module
 */

import { type ByteStream, RecordLayer } from "../../tls13/record.ts";
import { trafficKeys } from "../../tls13/key_schedule.ts";
import { Tls13Connection } from "../../tls13/server.ts";

/** One end: a ByteStream, plus what it was written and whether it was closed. */
export interface PipeEnd extends ByteStream {
  closed: boolean;
  /** Every write, in order (copies). */
  writes: Uint8Array[];
  /** Feeds bytes to this end's reader as if the peer wrote them. */
  inject(bytes: Uint8Array): void;
  /** Ends this end's reading (the peer's FIN). */
  end(): void;
}

function end(maxRead: number): PipeEnd & { peer?: PipeEnd } {
  const queue: Uint8Array[] = [];
  let eof = false;
  let wake: (() => void) | null = null;
  const self: PipeEnd & { peer?: PipeEnd } = {
    closed: false,
    writes: [],
    async read(buf) {
      while (!queue.length && !eof && !self.closed) await new Promise<void>((r) => (wake = r));
      if (self.closed) throw new Deno.errors.BadResource("closed");
      if (!queue.length) return null;
      const head = queue[0];
      const n = Math.min(buf.length, head.length, maxRead);
      buf.set(head.subarray(0, n));
      if (n === head.length) queue.shift();
      else queue[0] = head.subarray(n);
      return n;
    },
    write(data) {
      if (self.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
      const copy = data.slice();
      self.writes.push(copy);
      self.peer?.inject(copy);
      return Promise.resolve(data.length);
    },
    close() {
      self.closed = true;
      self.peer?.end();
      wake?.();
    },
    inject(bytes) {
      queue.push(bytes);
      wake?.();
      wake = null;
    },
    end() {
      eof = true;
      wake?.();
      wake = null;
    },
  };
  return self;
}

/** Two connected ends. */
export function pipe(maxRead = 1 << 20): [PipeEnd, PipeEnd] {
  const a = end(maxRead);
  const b = end(maxRead);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** The client's application traffic secret in {@linkcode connectionOverPipe}. */
export const secretA: Uint8Array = new Uint8Array(32).fill(0x3c);
/** The server's application traffic secret in {@linkcode connectionOverPipe}. */
export const secretB: Uint8Array = new Uint8Array(32).fill(0x4d);

/** A server's connection after its handshake (keys from the two secrets), over a pipe. */
export async function connectionOverPipe(): Promise<
  { client: PipeEnd; server: PipeEnd; conn: Tls13Connection }
> {
  const [client, server] = pipe();
  const layer = new RecordLayer(server);
  layer.setReadKeys(await trafficKeys(secretA));
  layer.setWriteKeys(await trafficKeys(secretB));
  layer.forgetRaw();
  return { client, server, conn: new Tls13Connection(layer, secretA, secretB) };
}
