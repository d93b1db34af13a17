/**
 * Builds the Go programs the interop tests, the demo and the benchmarks run:
 * go-plugin's own example host and plugin (from the Go module proxy, at the
 * version tests/interop/go.mod pins) and our host in tests/interop/host; and
 * installs third-party Go programs at a pinned version (`go install pkg@v`,
 * see peers.ts).
 *
 * @module
 */

const INTEROP_DIR = new URL("../interop/", import.meta.url).pathname;
const BIN_DIR = new URL("../../.cache/bin/", import.meta.url).pathname;

/** The Go programs we build, by name. */
export const GO_PROGRAMS = {
  /** go-plugin's examples/grpc host (`kv put|get`). */
  kv: "github.com/hashicorp/go-plugin/examples/grpc",
  /** go-plugin's Go KV plugin. */
  kvgo: "github.com/hashicorp/go-plugin/examples/grpc/plugin-go-grpc",
  /** go-plugin's examples/bidirectional host (`counter put|get`), whose plugin calls back through the broker. */
  counter: "github.com/hashicorp/go-plugin/examples/bidirectional",
  /** go-plugin's Go counter plugin: it dials the host's AddHelper through the broker. */
  countergo: "github.com/hashicorp/go-plugin/examples/bidirectional/plugin-go-grpc",
  /** Our host for what the example host does not cover. */
  host: "./host",
  /** The same host built against the newest grpc-go (ALPN enforcement); see go.grpc-latest.mod. */
  "host-grpc-latest": "./host",
  /** A host-like TLS/gRPC client that checks the plugin refuses bad clients (tls_refusal_test.ts). */
  tlsprobe: "./tlsprobe",
  /** grpc-go peer for the interop compression cases grpc-go's own interop client and server lack. */
  gzippeer: "./gzippeer",
  /** A go-plugin plugin and host of ours for the broker's other direction (the plugin serves, the host dials). */
  brokerpeer: "./brokerpeer",
  /** The go-plugin host of the issue-11 proof: every call kind against a plugin generated from proof/proto (proof_test.ts). */
  proof: "./proof",
} as const;

/** Programs built with an alternate go.mod (`go build -modfile`). */
const MODFILES: Partial<Record<keyof typeof GO_PROGRAMS, string>> = {
  "host-grpc-latest": "go.grpc-latest.mod",
};

const built = new Map<string, Promise<string>>();

/**
 * Builds one program (once per process; Go's build cache makes repeats fast).
 *
 * @param name Which program.
 * @returns The path of the binary.
 */
export function buildGo(name: keyof typeof GO_PROGRAMS): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      const out = `${BIN_DIR}${name}`;
      await Deno.mkdir(BIN_DIR, { recursive: true });
      await runGo([
        "build",
        ...(MODFILES[name] ? [`-modfile=${MODFILES[name]}`] : []),
        "-o",
        out,
        GO_PROGRAMS[name],
      ], INTEROP_DIR);
      return out;
    })();
    built.set(name, p);
  }
  return p;
}

/** Runs `go ARGS...` in `cwd`; throws with its stderr if it fails. */
async function runGo(args: string[], cwd: string, env?: Record<string, string>): Promise<void> {
  const res = await new Deno.Command("go", {
    args,
    cwd,
    env,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(`go ${args.join(" ")} failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
}

/**
 * Installs a third-party Go program at a pinned version from the module proxy
 * (`go install PKG@VERSION`, run outside any module, so nothing of ours pins
 * its dependencies), once per process, into its own directory
 * `.cache/bin/<name>@<version>/`: programs that share a binary name (grpc's
 * interop `server` and `client`) stay apart, and a new version installs afresh.
 * A binary already there is reused without running go.
 *
 * @param name The directory name under .cache/bin/ (before `@version`).
 * @param pkg The package path, e.g. `google.golang.org/grpc/interop/server`.
 * @param version The module version, e.g. `v1.85.0`.
 * @returns The path of the binary (named after the package's last element).
 */
export function goInstall(name: string, pkg: string, version: string): Promise<string> {
  const dir = `${BIN_DIR}${name}@${version}/`;
  const out = `${dir}${pkg.slice(pkg.lastIndexOf("/") + 1)}`;
  let p = built.get(out);
  if (!p) {
    p = (async () => {
      try {
        if ((await Deno.stat(out)).isFile) return out;
      } catch {
        // Not installed yet.
      }
      await Deno.mkdir(dir, { recursive: true });
      await runGo(["install", `${pkg}@${version}`], dir, { GOBIN: dir, GOWORK: "off" });
      return out;
    })();
    built.set(out, p);
  }
  return p;
}
