/**
 * Builds and runs tests/mux/yamuxpeer, hashicorp/yamux (at go-plugin
 * v1.8.0's version) on one side of a unix socket, and reads its report lines.
 *
 * @module
 */

const PEER_DIR = new URL("./yamuxpeer/", import.meta.url).pathname;
const BIN = new URL("../../.cache/bin/yamuxpeer", import.meta.url).pathname;

let built: Promise<string> | undefined;

/** Builds the peer once per process (Go's build cache makes repeats fast). */
export function buildPeer(): Promise<string> {
  return built ??= (async () => {
    await Deno.mkdir(new URL("../../.cache/bin/", import.meta.url).pathname, { recursive: true });
    const res = await new Deno.Command("go", {
      args: ["build", "-o", BIN, "."],
      cwd: PEER_DIR,
      env: { GOWORK: "off" },
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (!res.success) {
      throw new Error(`building yamuxpeer failed:\n${new TextDecoder().decode(res.stderr)}`);
    }
    return BIN;
  })();
}

/** A running peer. */
export class GoPeer implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stderr: Promise<string>;
  #status: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#lines = child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(lineSplitter())
      .getReader();
    this.#stderr = new Response(child.stderr).text();
    this.#status = child.status;
  }

  /**
   * Starts the peer with `args` (`-role`, `-sock`, ...).
   *
   * @param waitReady Wait for its "ready" line (a server role is then listening).
   */
  static async start(args: string[], waitReady = true): Promise<GoPeer> {
    const bin = await buildPeer();
    const peer = new GoPeer(
      new Deno.Command(bin, { args, stdout: "piped", stderr: "piped", stdin: "null" }).spawn(),
    );
    if (waitReady) {
      const line = await peer.line();
      if (line !== "ready") {
        throw new Error(`yamuxpeer did not start: ${line}\n${await peer.finish()}`);
      }
    }
    return peer;
  }

  /** The next line it printed, or null once its output ended. */
  async line(): Promise<string | null> {
    const { value, done } = await this.#lines.read();
    return done ? null : value;
  }

  /** Waits for it to exit; returns its stderr, throwing if it exited non-zero. */
  async finish(): Promise<string> {
    const [status, stderr] = await Promise.all([this.#status, this.#stderr]);
    while ((await this.line()) !== null) { /* drain */ }
    if (!status.success) throw new Error(`yamuxpeer exited ${status.code}:\n${stderr}`);
    if (Deno.env.get("YAMUXPEER_STDERR")) console.error(stderr);
    return stderr;
  }

  /** Kills it if still running and reaps it. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#status;
    await this.#stderr;
    await this.#lines.cancel().catch(() => {});
  }
}

function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) controller.enqueue(p);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}
