/**
 * The `#!` line of a bundled plugin: `env -S` runs deno with the plugin's own
 * flags and as many start flags as fit in the 255 bytes Linux reads of it
 * (it cuts the rest off silently). Used by `examples/terraform/bundle.ts`
 * and the tests' bundled KV plugin (`tests/_util/plugin.ts`).
 *
 * ```ts ignore
 * import { shebangLine } from "./scripts/start_flags.ts";
 * const { line } = shebangLine("deno", ["--no-prompt", "--allow-net"]);
 * ```
 *
 * @module
 */

/** The longest "#!" line Linux reads (BINPRM_BUF_SIZE 256, less the newline). */
export const MAX_SHEBANG_BYTES = 255;

/**
 * `deno run` flags that only make a bundle start sooner, in the order they
 * are given up when the "#!" line would be longer than Linux reads
 * (bench/README.md, "Start-up", twelfth and fourteenth rounds):
 *
 * - `--ext=js`: an executable has no extension, so Deno would take it for
 *   TypeScript and transpile it into its emit cache, and the transpiler drops
 *   the parentheses that make its start-up functions compile eagerly
 *   (scripts/eager_compile.ts): ~5 ms per launch of the Terraform example.
 * - `--v8-flags=--no-enable-lazy-source-positions,--no-lazy`:
 *   - `--no-enable-lazy-source-positions`: Deno has V8 capture a stack
 *     trace with line numbers for every `Error` made, and V8 finds a line by
 *     compiling the function again; while a bundle's top-level code runs that
 *     function is the whole file (`@msgpack/msgpack` makes errors at load):
 *     ~16 ms per launch of the Terraform example. With the flag V8 keeps the
 *     lines with the code, in Deno's code cache too.
 *   - `--no-lazy`: V8 compiles every function with the script, so all of it
 *     is in Deno's code cache; otherwise each launch compiles the functions
 *     it calls on first call, and most of what a provider's first calls run
 *     is class methods, which scripts/eager_compile.ts cannot make eager:
 *     `terraform plan` 366 → 341 ms, `apply` 486 → 449 ms (fourteenth
 *     round), for 1-3 ms more before the handshake line (a larger cache to
 *     read).
 *
 * @example
 * ```ts
 * import { START_FLAGS } from "./scripts/start_flags.ts";
 * const args = ["run", ...START_FLAGS, "plugin.js"];
 * ```
 */
export const START_FLAGS: readonly string[] = [
  "--ext=js",
  "--v8-flags=--no-enable-lazy-source-positions,--no-lazy",
];

/** A "#!" line, and the {@linkcode START_FLAGS} left off it to fit. */
export interface Shebang {
  /** The line, without its newline. */
  line: string;
  /** The start flags given up so that the line fits in {@linkcode MAX_SHEBANG_BYTES}. */
  dropped: string[];
}

/** A "#!" line that cannot fit even without the start flags. */
export class ShebangTooLongError extends Error {
  /** @param message What is too long and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "ShebangTooLongError";
  }
}

/**
 * The "#!" line that runs a bundle with `deno run`, the start flags first.
 *
 * @param deno The deno to run (a name on PATH or a path).
 * @param flags The bundle's own flags (permissions, `--no-config`, ...).
 * @returns The line and the start flags left off it.
 * @throws {ShebangTooLongError} When the line is too long even without the start flags.
 * @example
 * ```ts
 * import { shebangLine } from "./scripts/start_flags.ts";
 * const { line, dropped } = shebangLine("deno", ["--no-prompt", "--allow-net"]);
 * // line: "#!/usr/bin/env -S deno run --ext=js --v8-flags=... --no-prompt --allow-net", dropped: []
 * ```
 */
export function shebangLine(deno: string, flags: readonly string[]): Shebang {
  const start = [...START_FLAGS];
  const dropped: string[] = [];
  for (;;) {
    const line = `#!/usr/bin/env -S ${deno} run ${[...start, ...flags].join(" ")}`;
    const bytes = new TextEncoder().encode(line).length;
    if (bytes <= MAX_SHEBANG_BYTES) return { line, dropped };
    if (start.length === 0) {
      throw new ShebangTooLongError(
        `The "#!" line would be ${bytes} bytes, more than the ${MAX_SHEBANG_BYTES} Linux reads: ` +
          "use shorter directories in the flags, or deno from the PATH instead of a full path",
      );
    }
    dropped.unshift(start.pop()!);
  }
}
