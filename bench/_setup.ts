/**
 * What the benchmarks build before they measure: the Go driver, go-plugin's
 * Go KV plugin, the Python venv with pyvider-rpcplugin and the generated
 * KV stubs, and the bundled Deno plugin. Everything goes under .cache/
 * (gitignored) or a temporary directory.
 *
 * @module
 */

import { buildGo } from "../tests/_util/go.ts";
import { DENO, ROOT } from "../tests/_util/plugin.ts";
import { eagerCompileBundle } from "../scripts/eager_compile.ts";
import { firstCallFunctions } from "./_first_call_profile.ts";
import { generateCertificate } from "../tls/mod.ts";

/** Where the benchmarks keep what they build. */
export const BENCH_CACHE = `${ROOT}.cache/bench/`;

const decoder = new TextDecoder();

/** Runs a command to completion; throws with its output if it fails. */
async function sh(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  let res: Deno.CommandOutput;
  try {
    res = await new Deno.Command(cmd, { args, ...options, stdin: "null" }).output();
  } catch (err) {
    throw new Error(`cannot run ${cmd}: ${err instanceof Error ? err.message : err}`);
  }
  const out = decoder.decode(res.stdout) + decoder.decode(res.stderr);
  if (!res.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${res.code}):\n${out.trim()}`);
  }
  return out;
}

/** A bench run's temporary tree (see {@linkcode benchWorkDir}). */
export interface BenchWorkDir {
  /** Its root, under /tmp (unix socket paths must stay under 108 bytes). */
  work: string;
  /** Where the plugins' sockets go (their TMPDIR). */
  sock: string;
  /** Makes (and returns) the directory of one plugin or tree. */
  dirOf(id: string): Promise<string>;
}

/**
 * Makes a bench run's temporary tree; the caller removes `work` at the end.
 *
 * @param prefix The directory name's prefix.
 */
export async function benchWorkDir(prefix: string): Promise<BenchWorkDir> {
  const work = await Deno.makeTempDir({ dir: "/tmp", prefix });
  const sock = `${work}/sock`;
  await Deno.mkdir(sock);
  const dirOf = async (id: string) => {
    const dir = `${work}/${id}`;
    await Deno.mkdir(dir, { recursive: true });
    return dir;
  };
  return { work, sock, dirOf };
}

/**
 * Builds the benchmark host (bench/driver, its own Go module).
 *
 * @returns The path of the binary.
 */
export async function buildDriver(): Promise<string> {
  await Deno.mkdir(BENCH_CACHE, { recursive: true });
  const out = `${BENCH_CACHE}driver`;
  await sh("go", ["build", "-o", out, "."], { cwd: `${ROOT}bench/driver` });
  return out;
}

/**
 * Builds go-plugin's own Go KV plugin from the module proxy.
 *
 * @returns The path of the binary.
 */
export function buildGoPlugin(): Promise<string> {
  return buildGo("kvgo");
}

/** The Python plugin's command and environment. */
export interface PythonPlugin {
  /** The venv's python. */
  python: string;
  /** PYTHONPATH holding the generated kv_pb2 modules. */
  pythonPath: string;
  /** Version line of the interpreter. */
  version: string;
}

/**
 * Creates (or reuses) a Python venv at `venv` with the pinned packages of
 * `requirements`; it is rebuilt when that file's text differs from the stamp
 * written after the last install.
 *
 * @param python The interpreter to make the venv with (3.11 or newer).
 * @param venv The venv's directory (under .cache/).
 * @param requirements A pip requirements file.
 * @returns The venv's python.
 * @throws {Error} naming the interpreter or the pip command that failed, and its output.
 */
export async function pythonVenv(
  python: string,
  venv: string,
  requirements: string,
): Promise<string> {
  const stampPath = `${venv}/.rpcplugin-bench-stamp`;
  const wanted = await Deno.readTextFile(requirements);
  let stamp = "";
  try {
    stamp = await Deno.readTextFile(stampPath);
  } catch {
    // No venv yet.
  }
  const venvPython = `${venv}/bin/python`;
  if (stamp !== wanted) {
    const version = (await sh(python, ["--version"])).trim();
    const m = /Python (\d+)\.(\d+)/.exec(version);
    if (!m || Number(m[1]) < 3 || (Number(m[1]) === 3 && Number(m[2]) < 11)) {
      throw new Error(`the venv ${venv} needs Python 3.11 or newer; ${python} is ${version}`);
    }
    console.error(`Creating the Python venv ${venv} (${version}) from ${requirements} ...`);
    await Deno.remove(venv, { recursive: true }).catch(() => {});
    await sh(python, ["-m", "venv", venv]);
    await sh(venvPython, [
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--no-input",
      "--quiet",
      "-r",
      requirements,
    ]);
    await Deno.writeTextFile(stampPath, wanted);
  }
  return venvPython;
}

/**
 * Creates (or reuses) the venv with the pinned pyvider-rpcplugin (see
 * {@linkcode pythonVenv}) and generates the KV stubs with grpcio-tools.
 *
 * @param python The interpreter to make the venv with (3.11 or newer).
 * @returns How to run the Python plugin.
 */
export async function preparePython(python: string): Promise<PythonPlugin> {
  const venvPython = await pythonVenv(
    python,
    `${BENCH_CACHE}venv`,
    `${ROOT}bench/python/requirements.txt`,
  );
  const gen = `${BENCH_CACHE}python-gen`;
  await Deno.mkdir(gen, { recursive: true });
  await sh(venvPython, [
    "-m",
    "grpc_tools.protoc",
    `-I${ROOT}examples/kv/proto`,
    `--python_out=${gen}`,
    `--grpc_python_out=${gen}`,
    "kv.proto",
  ]);
  const version = (await sh(venvPython, ["--version"])).trim();
  return { python: venvPython, pythonPath: gen, version };
}

/**
 * Bundles a Deno KV plugin into one file with `deno bundle`, the stand-in
 * for `deno compile`.
 *
 * @param script The plugin, relative to the repository root.
 * @param outDir Where to write kv-plugin.js.
 * @param root The repository root (another checkout's, for `--baseline`).
 * @returns The path of the bundle.
 */
export async function bundlePlugin(
  script: string,
  outDir: string,
  root: string = ROOT,
): Promise<string> {
  const out = `${outDir}/kv-plugin.js`;
  await sh(DENO, ["bundle", "--quiet", `${root}${script}`, "-o", out], { cwd: root });
  // A tree with scripts/eager_compile.ts bundles with its start-up functions compiled eagerly
  // (profiled with AutoMTLS off and on, to the line and through a first Get); an older tree
  // (`--baseline`) as it did.
  if (await Deno.stat(`${root}scripts/eager_compile.ts`).then(() => true, () => false)) {
    const client = await generateCertificate({ extKeyUsages: ["clientAuth"] });
    const env = { BASIC_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1" };
    const firstCall = await firstCallFunctions(out, DENO);
    await eagerCompileBundle(
      out,
      [env, { ...env, PLUGIN_CLIENT_CERT: client.certPem }],
      DENO,
      firstCall,
    );
  }
  return out;
}

/**
 * Extracts the tree of a git revision of this repository (`git archive`)
 * into `dir`: the "before" of a before/after run (`--baseline=REV`).
 *
 * @param rev A commit, branch or tag.
 * @param dir An empty directory.
 * @returns The tree's root, with a trailing slash.
 */
export async function checkoutBaseline(rev: string, dir: string): Promise<string> {
  await sh("sh", ["-c", `git -C ${ROOT} archive --format=tar ${rev} | tar -x -C ${dir}`], {
    cwd: ROOT,
  });
  return `${dir}/`;
}
