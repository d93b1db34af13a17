/**
 * Eager compilation for a `deno bundle` output: the top-level functions a
 * launch runs before its handshake line (and on its stop) are rewritten as
 * parenthesised function expressions, which V8 compiles with the script (its
 * "possibly invoked function expression" heuristic) instead of on first call.
 * Deno makes a script's V8 code cache right after compiling it and before it
 * runs, so only eagerly compiled functions are in that cache: a lazily
 * compiled one is parsed and compiled again on every launch (bench/README.md,
 * Start-up, tenth round).
 *
 * Which functions run is read from one launch of the bundle under
 * `--v8-flags=--log-function-events` (a build-time profile; the plugin users'
 * launches need no flag). Each chosen `function NAME(...) {...}` declaration
 * becomes `var NAME = (function NAME(...) {...});` at the top of the file,
 * which keeps the declaration's hoisting: every top-level declaration of a
 * bundle shares one scope, and a function's body only reads other bindings
 * when it is called.
 *
 * ```ts ignore
 * import { eagerCompileBundle } from "./scripts/eager_compile.ts";
 * await eagerCompileBundle("out/plugin.js", [{ BASIC_PLUGIN: "hello" }]);
 * ```
 *
 * @module
 */

/** How long a profiled launch may take to its line and its stop. */
const PROFILE_TIMEOUT_MS = 10_000;

/** A top-level function declaration as esbuild prints it: at column 0, its body indented. */
const TOP_LEVEL_FUNCTION = /^(?:async )?function\*? ?([\w$]+) ?\(/;

/**
 * The line that ends the function declaration starting at `lines[start]`: the
 * first candidate (the start line itself when it ends with "}", then every
 * line that is a lone "}" at column 0) with which the declaration is a
 * syntactically complete function. A lone "}" line inside a template literal
 * or a comment of the body is not its end.
 *
 * @param lines The bundle's lines.
 * @param start The declaration's first line.
 * @returns The index of its last line, or -1 when no candidate completes it.
 */
function functionEnd(lines: readonly string[], start: number): number {
  for (let end = start; end < lines.length; end++) {
    if (end === start ? !lines[end].endsWith("}") : lines[end] !== "}") continue;
    if (isCompleteFunction(lines.slice(start, end + 1).join("\n"))) return end;
  }
  return -1;
}

/**
 * Whether `text` parses as one function expression (compiled, never run).
 * `import.meta`, valid only in a module, is stood in for by an object.
 *
 * @param text A function declaration's text.
 * @returns True when it parses.
 */
function isCompleteFunction(text: string): boolean {
  try {
    new Function(`"use strict"; return (${text.replaceAll("import.meta", "({})")});`);
    return true;
  } catch (e) {
    if (e instanceof SyntaxError) return false;
    throw e;
  }
}

/**
 * Rewrites the named top-level function declarations of a bundle as
 * parenthesised function expressions assigned at the top of the file.
 *
 * @param source The bundle (esbuild's printing: a top-level declaration starts
 *   at column 0 and its closing brace is alone on a line at column 0; a
 *   declaration not printed so is left as it is).
 * @param names The functions to compile eagerly.
 * @returns The rewritten source and how many declarations were rewritten.
 * @example
 * ```ts
 * import { hoistForEagerCompile } from "./scripts/eager_compile.ts";
 * const { source } = hoistForEagerCompile("f();\nfunction f() {\n  return 1;\n}\n", new Set(["f"]));
 * // "var f = (function f() {\n  return 1;\n});\nf();\n\n"
 * ```
 */
export function hoistForEagerCompile(
  source: string,
  names: ReadonlySet<string>,
): { source: string; rewritten: number } {
  const lines = source.split("\n");
  // A "#!" line stays first.
  const head = lines[0]?.startsWith("#!") ? [lines.shift()!] : [];
  const hoisted: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = TOP_LEVEL_FUNCTION.exec(lines[i]);
    const end = m && names.has(m[1]) ? functionEnd(lines, i) : -1;
    if (end < 0) { // not named, or not esbuild's printing: leave it
      rest.push(lines[i]);
      continue;
    }
    hoisted.push(`var ${m![1]} = (${lines.slice(i, end + 1).join("\n")});`);
    i = end;
  }
  return { source: [...head, ...hoisted, ...rest].join("\n"), rewritten: hoisted.length };
}

/**
 * The `deno run` flag that logs V8's function events to `log`.
 *
 * @param log Where the log goes.
 * @returns The flag.
 * @example
 * ```ts
 * import { v8ProfileFlag } from "./scripts/eager_compile.ts";
 * const args = ["run", v8ProfileFlag("/tmp/v8.log"), "bundle.js"];
 * ```
 */
export function v8ProfileFlag(log: string): string {
  return `--v8-flags=--log-function-events,--no-logfile-per-isolate,--logfile=${log}`;
}

/**
 * The top-level and other named functions V8 compiled lazily in a launch, read
 * from its `--log-function-events` log: the `parse-function` events of the
 * bundle's script.
 *
 * @param log The log's text (see {@linkcode v8ProfileFlag}).
 * @param bundlePath The bundle's real path.
 * @returns The functions' names.
 * @example
 * ```ts
 * import { lazyFunctionsInLog } from "./scripts/eager_compile.ts";
 * const log = "script-details,7,file:///b.js,0,0,\nfunction,parse-function,7,10,20,0.1,5,start\n";
 * lazyFunctionsInLog(log, "/b.js"); // Set { "start" }
 * ```
 */
export function lazyFunctionsInLog(log: string, bundlePath: string): Set<string> {
  const url = new URL(`file://${bundlePath}`).href;
  const lines = log.split("\n");
  const ids = new Set(
    lines.filter((l) => l.startsWith("script-details,") && l.split(",")[2] === url)
      .map((l) => l.split(",")[1]),
  );
  const names = new Set<string>();
  for (const l of lines) {
    const f = l.split(",");
    if (f[0] === "function" && f[1] === "parse-function" && ids.has(f[2]) && f.at(-1)) {
      names.add(f.at(-1)!);
    }
  }
  return names;
}

/** The bundle did not start (before or after its rewriting). */
export class EagerCompileError extends Error {
  /** @param message What went wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "EagerCompileError";
  }
}

/** What one launch of a bundle printed. */
interface Launch {
  /** Its first stdout line, or undefined when it printed none. */
  line: string | undefined;
  /** Its stderr (the first 64 KiB). */
  stderr: string;
}

/** The most of a launch's stderr kept for an error message. */
const STDERR_LIMIT = 64 * 1024;

/**
 * Launches `bundle` with `deno run`, reads its first stdout line, then closes
 * that pipe (the host gone: a plugin stops) and waits for it to exit.
 *
 * @param bundle The bundle's path.
 * @param env The launch's environment.
 * @param deno The deno to run it with.
 * @param flags More `deno run` flags.
 * @returns What it printed.
 */
async function launchToFirstLine(
  bundle: string,
  env: Record<string, string>,
  deno: string,
  flags: string[] = [],
): Promise<Launch> {
  const child = new Deno.Command(deno, {
    args: ["run", "--no-config", "-A", ...flags, bundle],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A plugin that prints no line, or does not stop once its stdout is gone, is killed.
  const stuck = setTimeout(() => child.kill("SIGKILL"), PROFILE_TIMEOUT_MS);
  const stderr = (async () => {
    let text = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      if (text.length < STDERR_LIMIT) text += chunk.slice(0, STDERR_LIMIT - text.length);
    }
    return text;
  })();
  try {
    let out = "";
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    await reader.cancel();
    await child.status;
    const nl = out.indexOf("\n");
    return { line: nl < 0 ? undefined : out.slice(0, nl), stderr: await stderr };
  } finally {
    clearTimeout(stuck);
  }
}

/**
 * The top-level functions V8 compiled lazily in one launch of `bundle` up to
 * its first stdout line and its stop when that pipe is closed: the
 * `parse-function` events of `--log-function-events` for the bundle's script.
 *
 * @param bundle The bundle's path.
 * @param env The launch's environment (the magic cookie, protocol versions).
 * @param deno The deno to run it with.
 * @returns The functions' names.
 * @throws {EagerCompileError} When the launch printed no line.
 */
export async function startupFunctions(
  bundle: string,
  env: Record<string, string>,
  deno: string = Deno.execPath(),
): Promise<Set<string>> {
  const log = await Deno.makeTempFile({ suffix: ".v8.log" });
  try {
    const { line, stderr } = await launchToFirstLine(bundle, env, deno, [v8ProfileFlag(log)]);
    if (line === undefined) {
      throw new EagerCompileError(
        `${bundle} printed no line when launched to be profiled (environment ${
          JSON.stringify(env)
        }); give an environment with which it prints its handshake line. Its stderr: ${stderr}`,
      );
    }
    return lazyFunctionsInLog(await Deno.readTextFile(log), await Deno.realPath(bundle));
  } finally {
    await Deno.remove(log).catch(() => {});
  }
}

/**
 * Profiles launches of a bundle (one per environment: AutoMTLS off and on
 * take different paths) and rewrites the bundle in place so that the
 * functions those launches compiled lazily are compiled eagerly (and cached).
 *
 * @param bundle The bundle's path (a `deno bundle` output, a "#!" line allowed).
 * @param envs The launches' environments: enough for the plugin to print its handshake line.
 * @param deno The deno to profile with.
 * @param more Functions to make eager besides (from a profile of your own: a host's first calls).
 * @returns How many functions were made eager.
 * @throws {EagerCompileError} When a launch printed no line (the bundle is then as it was).
 * @example
 * ```ts ignore
 * await eagerCompileBundle("out/plugin.js", [{ BASIC_PLUGIN: "hello" }]);
 * ```
 */
export async function eagerCompileBundle(
  bundle: string,
  envs: readonly Record<string, string>[],
  deno?: string,
  more: Iterable<string> = [],
): Promise<number> {
  const names = new Set<string>(more);
  for (const env of envs) {
    for (const name of await startupFunctions(bundle, env, deno)) names.add(name);
  }
  const original = await Deno.readTextFile(bundle);
  const { source, rewritten } = hoistForEagerCompile(original, names);
  await Deno.writeTextFile(bundle, source);
  // The rewritten bundle must still start; if not, it is put back as it was.
  const { line, stderr } = await launchToFirstLine(bundle, envs[0] ?? {}, deno ?? Deno.execPath());
  if (line === undefined) {
    await Deno.writeTextFile(bundle, original);
    throw new EagerCompileError(
      `${bundle} printed no line once its start-up functions were made eager, so it was put back as it was bundled; ` +
        `report the bundle (its printing is not what scripts/eager_compile.ts expects) or bundle without eagerCompileBundle. Its stderr: ${stderr}`,
    );
  }
  return rewritten;
}
