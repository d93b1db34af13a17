/**
 * Generates TypeScript from `.proto` files with nothing but Deno: it runs
 * [buf](https://buf.build) from npm (`@bufbuild/buf`, which ships the buf
 * binary and its own protobuf compiler, so no `protoc` is needed) with
 * [ts-proto](https://github.com/stephenh/ts-proto) or
 * [protoc-gen-es](https://github.com/bufbuild/protobuf-es) v2, also from npm,
 * at the versions pinned here. Run it as a script:
 *
 * ```sh
 * deno run --allow-read --allow-run jsr:@rpcplugin/rpcplugin/codegen proto/plugin.proto
 * ```
 *
 * Options: `--out DIR` (default `gen`), `--root DIR` (the directory imports
 * are relative to; default: the first file's directory), `--generator
 * ts-proto|protobuf-es` (default ts-proto), `--template` (print the
 * equivalent `buf.gen.yaml` and exit). The files a listed `.proto` imports
 * are generated too. `--allow-read` lets it check the files, `--allow-run` lets it
 * start `deno` for buf and the generator (these run as npm programs with all
 * permissions, as `npx` would). The generated code imports
 * `@bufbuild/protobuf` (ts-proto: `@bufbuild/protobuf/wire`; protobuf-es:
 * `@bufbuild/protobuf` and `/codegenv2`): add it to your `deno.json` with
 * `deno add npm:@bufbuild/protobuf@2.17.0`, which writes
 * `"@bufbuild/protobuf": "npm:@bufbuild/protobuf@^2.17.0"` and covers the
 * subpaths too.
 *
 * @example Generate from a program
 * ```ts ignore
 * import { generate } from "@rpcplugin/rpcplugin/codegen";
 * await generate({ files: ["proto/plugin.proto"], out: "gen" });
 * ```
 *
 * @module
 */

/** buf, from npm. */
export const BUF_VERSION = "1.75.0";
/** ts-proto, from npm. */
export const TS_PROTO_VERSION = "2.18.0";
/** protoc-gen-es (and the `@bufbuild/protobuf` runtime it goes with), from npm. */
export const PROTOBUF_ES_VERSION = "2.17.0";

/**
 * The ts-proto options, chosen for Deno and for `implement()`:
 * `outputServices=generic-definitions` (the `XxxDefinition` constant
 * `implement()` takes), `importSuffix=.ts` (Deno needs the extension of a
 * relative import, so a `.proto` importing another works),
 * `forceLong=bigint` (64-bit integers without loss of precision),
 * `env=browser` (bytes are `Uint8Array`, no Node `Buffer`),
 * `esModuleInterop=true` (default imports, as Deno resolves npm modules),
 * `useOptionals=none` and `useDate=false` (messages as the wire has them:
 * every proto3 field present, `Timestamp` a message), no JSON, partial or
 * type-registry code (the wire needs none and it costs start-up time), and
 * `fileSuffix=_pb` (`kv.proto` gives `kv_pb.ts`).
 *
 * @example
 * ```ts
 * import { TS_PROTO_OPTIONS } from "@rpcplugin/rpcplugin/codegen";
 * console.assert(TS_PROTO_OPTIONS.includes("forceLong=bigint"));
 * ```
 */
export const TS_PROTO_OPTIONS: readonly string[] = [
  "outputServices=generic-definitions",
  "importSuffix=.ts",
  "esModuleInterop=true",
  "env=browser",
  "outputJsonMethods=false",
  "outputPartialMethods=false",
  "useOptionals=none",
  "forceLong=bigint",
  "outputTypeRegistry=false",
  "useDate=false",
  "fileSuffix=_pb",
];

/**
 * The protoc-gen-es options: TypeScript output (`target=ts`) whose relative
 * imports end in `.ts` (`import_extension=ts`), as Deno needs.
 *
 * @example
 * ```ts
 * import { PROTOBUF_ES_OPTIONS } from "@rpcplugin/rpcplugin/codegen";
 * console.assert(PROTOBUF_ES_OPTIONS.includes("target=ts"));
 * ```
 */
export const PROTOBUF_ES_OPTIONS: readonly string[] = ["target=ts", "import_extension=ts"];

/** Which generator: ts-proto, or protoc-gen-es v2 (protobuf-es). */
export type Generator = "ts-proto" | "protobuf-es";

/** What to generate. */
export interface GenerateOptions {
  /** The `.proto` files (paths as on the command line); at least one. */
  readonly files: readonly string[];
  /** The output directory; default `gen`. */
  readonly out?: string;
  /** The directory imports are relative to; default: the first file's directory. */
  readonly root?: string;
  /** The generator; default ts-proto. */
  readonly generator?: Generator;
  /** The working directory paths are relative to; default the current one. */
  readonly cwd?: string;
  /**
   * A buf template to use instead of the generator's (for other plugins,
   * e.g. protoc-gen-go); its `out` paths are relative to `cwd`.
   */
  readonly template?: BufTemplate;
}

/**
 * Code generation went wrong: bad arguments, or buf (or the generator it
 * ran) failed, in which case {@linkcode CodegenError.stderr} has what it said.
 *
 * @example
 * ```ts
 * import { CodegenError, generate } from "@rpcplugin/rpcplugin/codegen";
 * await generate({ files: [] }).catch((e) => console.assert(e instanceof CodegenError));
 * ```
 */
export class CodegenError extends Error {
  /** buf's standard error, when buf ran and failed; else empty. */
  readonly stderr: string;
  /**
   * Makes the error.
   *
   * @param message What is wrong and how to fix it.
   * @param stderr buf's standard error, if it ran.
   */
  constructor(message: string, stderr = "") {
    super(stderr ? `${message}\n${stderr.trimEnd()}` : message);
    this.name = "CodegenError";
    this.stderr = stderr;
  }
}

/** One plugin entry of a buf.gen.yaml (v2). */
export interface BufPlugin {
  /** The command buf runs as the protoc plugin. */
  readonly local: readonly string[];
  /** Output directory. */
  readonly out: string;
  /** Plugin options. */
  readonly opt: readonly string[];
  /** `all`: one plugin run for every file, so imports resolve across files. */
  readonly strategy: "all";
}

/** A buf.gen.yaml (v2), as buf takes it in `--template`. */
export interface BufTemplate {
  /** Always `v2`. */
  readonly version: "v2";
  /** The one generator. */
  readonly plugins: readonly BufPlugin[];
}

/** `deno run` of an npm program, leaving the user's deno.json and lock file alone. */
function denoNpm(spec: string, deno = "deno"): string[] {
  return [deno, "run", "--quiet", "--no-config", "--no-lock", "--allow-all", `npm:${spec}`];
}

/**
 * The buf.gen.yaml that generates with `generator` into `out`.
 *
 * @example
 * ```ts
 * import { bufTemplate } from "@rpcplugin/rpcplugin/codegen";
 * const t = bufTemplate("ts-proto", "gen");
 * console.assert(t.plugins[0].out === "gen");
 * ```
 *
 * @param generator Which generator.
 * @param out The output directory.
 * @param deno The deno command buf runs the generator with.
 * @returns The template.
 */
export function bufTemplate(generator: Generator, out: string, deno = "deno"): BufTemplate {
  const plugin = generator === "ts-proto"
    ? {
      local: denoNpm(`ts-proto@${TS_PROTO_VERSION}/protoc-gen-ts_proto`, deno),
      opt: TS_PROTO_OPTIONS,
    }
    : {
      local: denoNpm(`@bufbuild/protoc-gen-es@${PROTOBUF_ES_VERSION}/protoc-gen-es`, deno),
      opt: PROTOBUF_ES_OPTIONS,
    };
  return { version: "v2", plugins: [{ ...plugin, out, strategy: "all" }] };
}

/**
 * The template as buf.gen.yaml text, for those who run buf themselves
 * (`deno run -A npm:@bufbuild/buf generate <root> --template buf.gen.yaml`).
 *
 * @example
 * ```ts
 * import { bufTemplateYaml } from "@rpcplugin/rpcplugin/codegen";
 * console.assert(bufTemplateYaml("protobuf-es", "gen").startsWith("version: v2"));
 * ```
 *
 * @param generator Which generator.
 * @param out The output directory.
 * @returns The YAML.
 */
export function bufTemplateYaml(generator: Generator, out: string): string {
  const q = (s: string) => JSON.stringify(s);
  const p = bufTemplate(generator, out).plugins[0];
  return [
    "version: v2",
    "plugins:",
    `  - local: [${p.local.map(q).join(", ")}]`,
    `    out: ${q(p.out)}`,
    `    strategy: ${p.strategy}`,
    "    opt:",
    ...p.opt.map((o) => `      - ${q(o)}`),
    "",
  ].join("\n");
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function absolute(path: string, cwd: string): string {
  return path.startsWith("/") ? path : `${cwd.replace(/\/$/, "")}/${path}`;
}

/** `path` relative to `root`, or undefined if it is not under it. */
function under(path: string, root: string): string | undefined {
  const norm = (p: string) => p.split("/").filter((s) => s && s !== ".").join("/");
  const r = norm(root), f = norm(path);
  if (r === "") return f;
  return f.startsWith(`${r}/`) ? f.slice(r.length + 1) : undefined;
}

/**
 * Generates TypeScript for `options.files` (and what they import) with buf
 * from npm.
 *
 * @example
 * ```ts ignore
 * import { generate } from "@rpcplugin/rpcplugin/codegen";
 * await generate({ files: ["proto/plugin.proto"], generator: "protobuf-es" });
 * ```
 *
 * @param options What to generate.
 * @throws {CodegenError} when no file is given, a file is missing or not
 * under the root, or buf fails (with its stderr).
 */
export async function generate(options: GenerateOptions): Promise<void> {
  const { files, generator = "ts-proto" } = options;
  const cwd = options.cwd ?? Deno.cwd();
  if (generator !== "ts-proto" && generator !== "protobuf-es") {
    throw new CodegenError(`Unknown generator "${generator}": use "ts-proto" or "protobuf-es"`);
  }
  if (files.length === 0) {
    throw new CodegenError(
      "No .proto file given: name the files to generate, e.g. `codegen proto/plugin.proto`",
    );
  }
  const root = options.root ?? dirname(files[0]);
  const paths: string[] = [];
  for (const file of files) {
    if (!file.endsWith(".proto")) {
      throw new CodegenError(`"${file}" is not a .proto file: name .proto files only`);
    }
    try {
      if (!(await Deno.stat(absolute(file, cwd))).isFile) throw new Error();
    } catch {
      throw new CodegenError(`No such .proto file: "${file}" (relative to ${cwd})`);
    }
    const rel = under(file, root);
    if (rel === undefined) {
      throw new CodegenError(
        `"${file}" is not under the root "${root}": pass --root with a directory that holds every file`,
      );
    }
    paths.push(rel);
  }
  const out = absolute(options.out ?? "gen", cwd);
  const deno = Deno.execPath();
  const args = [
    ...denoNpm(`@bufbuild/buf@${BUF_VERSION}/buf`).slice(1),
    "generate",
    root,
    "--include-imports",
    ...paths.flatMap((p) => ["--path", `${root.replace(/\/$/, "")}/${p}`]),
    "--template",
    JSON.stringify(options.template ?? bufTemplate(generator, out, deno)),
  ];
  let res: Deno.CommandOutput;
  try {
    res = await new Deno.Command(deno, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new CodegenError(
      `Could not start deno to run buf (${e instanceof Error ? e.message : e}): ` +
        "run the generator with --allow-read --allow-run",
    );
  }
  if (!res.success) {
    throw new CodegenError(
      `buf generate failed (exit status ${res.code}); what it said:`,
      new TextDecoder().decode(res.stderr) || new TextDecoder().decode(res.stdout),
    );
  }
}

/** The deno.json add command for the runtime the generated code imports. */
const ADD_RUNTIME = `deno add npm:@bufbuild/protobuf@${PROTOBUF_ES_VERSION}`;

/**
 * A note when the project's config (the nearest deno.json, deno.jsonc or
 * package.json from `cwd` up) does not name `@bufbuild/protobuf`, which the
 * generated code imports; undefined when it does or there is none.
 */
async function runtimeHint(cwd: string): Promise<string | undefined> {
  for (let dir = cwd;; dir = dirname(dir)) {
    for (const name of ["deno.json", "deno.jsonc", "package.json"]) {
      let text: string;
      try {
        text = await Deno.readTextFile(`${dir}/${name}`);
      } catch {
        continue;
      }
      if (text.includes('"@bufbuild/protobuf"')) return undefined;
      return `note: the generated code imports @bufbuild/protobuf, which ${dir}/${name} ` +
        `does not name: run \`${ADD_RUNTIME}\` (the package, not a subpath: one entry covers ` +
        `@bufbuild/protobuf/wire and /codegenv2)`;
    }
    if (dir === "/" || dir === ".") return undefined;
  }
}

const USAGE = `Usage: deno run --allow-read --allow-run jsr:@rpcplugin/rpcplugin/codegen \\
         [--out DIR] [--root DIR] [--generator ts-proto|protobuf-es] [--template] FILE.proto...
  --out DIR        output directory (default gen)
  --root DIR       the directory imports are relative to (default: the first file's)
  --generator G    ts-proto (default) or protobuf-es
  --template       print the equivalent buf.gen.yaml and exit`;

/**
 * The command line: parses `args`, generates, and returns the exit status
 * (0, 1 on a {@linkcode CodegenError}, 2 on a usage error), having printed
 * any error.
 *
 * @example
 * ```ts ignore
 * import { main } from "@rpcplugin/rpcplugin/codegen";
 * Deno.exit(await main(["--out", "gen", "proto/plugin.proto"]));
 * ```
 *
 * @param args The arguments after the script.
 * @returns The exit status.
 */
export async function main(args: readonly string[]): Promise<number> {
  const files: string[] = [];
  const opts: { out?: string; root?: string; generator?: Generator } = {};
  let template = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : args[++i]);
    if (name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    } else if (name === "--template") template = true;
    else if (name === "--out" || name === "--root" || name === "--generator") {
      const v = value();
      if (v === undefined || v === "") {
        console.error(`${name} needs a value\n${USAGE}`);
        return 2;
      }
      opts[name.slice(2) as "out" | "root"] = v;
    } else if (arg.startsWith("-")) {
      console.error(`Unknown option ${arg}\n${USAGE}`);
      return 2;
    } else files.push(arg);
  }
  const generator = opts.generator ?? "ts-proto";
  if (template) {
    console.log(bufTemplateYaml(generator, opts.out ?? "gen"));
    return 0;
  }
  try {
    await generate({ ...opts, files });
    const hint = await runtimeHint(Deno.cwd());
    if (hint) console.error(hint);
    return 0;
  } catch (e) {
    if (!(e instanceof CodegenError)) throw e;
    console.error(`error: ${e.message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
