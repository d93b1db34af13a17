/**
 * A raw HTTP/2 peer's side of a socket, for tests that play a hostile or
 * scripted peer against our server or client over a real socket: frames
 * read and gathered (header blocks decoded), a PING whose ACK says that
 * every frame sent before it was handled (frames are handled in order), a
 * write of all bytes, and our client connected to a raw server.
 *
 * @module
 */

import { connect } from "../../rpc/connect.ts";
import type { Channel } from "../../rpc/client_call.ts";
import { Flag, frame, FrameType } from "../../h2/frame.ts";
import { HpackDecoder } from "../../h2/hpack.ts";
import { concat, decodeHeaderBlocks, type Frame, parseFrames } from "./_h2client.ts";

/** A PING: its ACK says every frame sent before it was handled. */
export const PING = frame(FrameType.PING, 0, 0, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));

/** Frames read from a socket, gathered; `until` reads more until a condition holds. */
export class FrameReader {
  /** The frames read so far (the caller may empty it). */
  frames: Frame[] = [];
  #rest: Uint8Array = new Uint8Array(0);
  #decoder = new HpackDecoder();
  #buf = new Uint8Array(64 << 10);
  #skip: number;

  /**
   * @param sock The socket.
   * @param skip Bytes to skip first (a server reading a client: the preface).
   */
  constructor(readonly sock: Deno.Conn, skip = 0) {
    this.#skip = skip;
  }

  /** Reads until `cond` holds of the frames; throws if the peer hangs up first. */
  async until(cond: (frames: Frame[]) => boolean, what: string): Promise<void> {
    while (!cond(this.frames)) {
      const n = await this.sock.read(this.#buf);
      if (n === null) throw new Error(`the peer hung up before ${what}`);
      let bytes = concat(this.#rest, this.#buf.subarray(0, n));
      if (this.#skip) {
        const cut = Math.min(this.#skip, bytes.length);
        this.#skip -= cut;
        bytes = bytes.subarray(cut);
      }
      const { frames, rest } = parseFrames(bytes);
      this.#rest = rest;
      this.frames.push(...decodeHeaderBlocks(frames, this.#decoder));
    }
  }
}

/** Whether a PING ACK came. */
export const pingAcked = (frames: Frame[]) =>
  frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK));

/** Writes all of `data`. */
export async function writeAll(sock: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await sock.write(data.subarray(at));
}

/**
 * Runs `fn` with our client (`connect()`, allowing `maxMessageBytes`) and
 * the raw server's side of its unix socket; closes both and the listener
 * after, and removes the socket's directory.
 */
export async function withRawServer(
  maxMessageBytes: number,
  fn: (channel: Channel, sock: Deno.Conn) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-raw-server-" });
  const path = `${dir}/server.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const accepted = listener.accept();
    const channel = await connect({
      network: "unix",
      address: path,
      maxMessageBytes,
      timeoutMs: 5000,
    });
    const sock = await accepted;
    try {
      await fn(channel, sock);
    } finally {
      channel.close();
      sock.close();
    }
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}
