/**
 * Running Go hosts from tests, and checking that nothing is left behind.
 *
 * @module
 */

const decoder = new TextDecoder();

/** What a host run produced. */
export interface HostRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error (the host's log, with the plugin's lines re-logged). */
  stderr: string;
}

/** The JSON object tests/interop/host prints. */
export interface HostResult {
  ok: boolean;
  error: string;
  op: string;
  negotiated_version: number;
  protocol: string;
  network: string;
  address: string;
  value: string;
  calls: number;
  errors: number;
  first_error: string;
  pid: number;
  exited: boolean;
  kill_ms: number;
  gets?: { key: string; value: string; error: string }[];
  rss_first_kb?: number;
  rss_end_kb?: number;
  rss_tenths_kb?: number[];
  elapsed_ms?: number;
  /** The "status" op: the status grpc-go read, and the trailers. */
  status?: {
    code: number;
    message: string;
    details: {
      type?: string;
      reason?: string;
      domain?: string;
      metadata?: Record<string, string>;
      error?: string;
    }[];
    trailers: Record<string, string[]>;
  };
}

/**
 * Runs a program to completion, capturing its output.
 *
 * @param bin The program.
 * @param args Its arguments.
 * @param opts Working directory and extra environment.
 * @returns Exit code and output.
 */
export async function run(
  bin: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<HostRun> {
  const res = await new Deno.Command(bin, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: "null",
  }).output();
  return { code: res.code, stdout: decoder.decode(res.stdout), stderr: decoder.decode(res.stderr) };
}

/**
 * Runs our Go host and parses its JSON result.
 *
 * @param host Path of the host binary.
 * @param args Flags and operation.
 * @param opts As for {@linkcode run}.
 * @returns The run and the parsed result.
 */
export async function runHost(
  host: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<HostRun & { result: HostResult }> {
  const r = await run(host, args, opts);
  let result: HostResult;
  try {
    result = JSON.parse(r.stdout.trim().split("\n").pop()!);
  } catch {
    throw new Error(`host printed no JSON result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, result };
}

/**
 * Lists live processes whose command line contains `marker` (via pgrep;
 * Deno needs --allow-all to read /proc).
 *
 * @param marker A string unique to the test (its temp dir, say).
 * @returns Matching pids with their command lines.
 */
export async function processesMatching(marker: string): Promise<string[]> {
  const res = await new Deno.Command("pgrep", { args: ["-af", "--", marker], stdout: "piped" })
    .output();
  return decoder.decode(res.stdout).split("\n").filter((l) => l.trim() && !l.includes("pgrep"));
}

/**
 * Waits up to `ms` for no process to match `marker`.
 *
 * @returns The processes still matching (empty when all are gone).
 */
export async function waitNoProcesses(marker: string, ms = 3000): Promise<string[]> {
  const end = Date.now() + ms;
  let left = await processesMatching(marker);
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    left = await processesMatching(marker);
  }
  return left;
}

/**
 * Whether a process exists (a reaped one does not), asked of `ps`: Deno
 * wants --allow-all for reading /proc/<pid>.
 *
 * @param pid The process id.
 * @returns Whether it is there.
 */
export async function pidAlive(pid: number): Promise<boolean> {
  const res = await new Deno.Command("ps", {
    args: ["-p", String(pid)],
    stdout: "null",
    stderr: "null",
  })
    .output();
  return res.success;
}

/**
 * A child's output (its stderr, say) read as it comes, to wait on what the
 * code writes there instead of sleeping.
 */
export class OutputWatch {
  #text = "";
  #ended = false;
  #changed = Promise.withResolvers<void>();
  /** Everything, once the stream has ended. */
  readonly done: Promise<string>;

  /** @param stream The stream; the watch reads it to its end. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      try {
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          this.#text += chunk;
          this.#notify();
        }
      } finally {
        this.#ended = true;
        this.#notify();
      }
      return this.#text;
    })();
  }

  /** What came so far. */
  get text(): string {
    return this.#text;
  }

  #notify(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }

  /**
   * Resolves with `test(text)` once it is truthy (for what came so far or
   * later); throws, naming `what` and quoting the output, when the stream
   * ends first or after `ms`.
   */
  async until<T>(
    test: (text: string) => T | null | undefined | false,
    what: string,
    ms = 30_000,
  ): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), ms)));
    try {
      while (true) {
        const got = test(this.#text);
        if (got) return got;
        if (this.#ended) throw new Error(`the output ended before ${what}:\n${this.#text}`);
        if (await Promise.race([this.#changed.promise, late]) === "late") {
          throw new Error(`no ${what} within ${ms} ms:\n${this.#text}`);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/** How many times `text` occurs in `output`. */
export function occurrences(output: string, text: string): number {
  return output.split(text).length - 1;
}

/**
 * Lists the socket files (`plugin*`) in a directory.
 *
 * @param dir The directory.
 * @returns Their names.
 */
export function socketFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("plugin")).map((e) => e.name);
}

/**
 * Runs `fn` with a fresh temp dir, removed afterwards.
 *
 * @param fn The body.
 * @returns What `fn` returns.
 */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Writes text files (certificates and keys for a peer) into `dir`.
 *
 * @param dir The directory.
 * @param files File name to text.
 * @returns The paths written, in the order of `files`.
 */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<string[]> {
  const paths = [];
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    paths.push(`${dir}/${name}`);
  }
  return paths;
}

/**
 * Asserts a condition, with a message.
 *
 * @param cond The condition.
 * @param message Shown when it fails.
 */
export function assert(cond: unknown, message = "assertion failed"): asserts cond {
  if (!cond) throw new Error(message);
}

/**
 * Asserts two values are equal (JSON-compared).
 */
export function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message}\nexpected: ${e}\nactual:   ${a}`);
}
