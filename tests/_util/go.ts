/**
 * Builds the Go programs the interop tests, the demo and the benchmarks run:
 * go-plugin's own example host and plugin (from the Go module proxy, at the
 * version tests/interop/go.mod pins) and our host in tests/interop/host.
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
  /** Our host for what the example host does not cover. */
  host: "./host",
  /** The same host built against the newest grpc-go (ALPN enforcement); see go.grpc-latest.mod. */
  "host-grpc-latest": "./host",
  /** A host-like TLS/gRPC client that checks the plugin refuses bad clients (tls_refusal_test.ts). */
  tlsprobe: "./tlsprobe",
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
      const res = await new Deno.Command("go", {
        args: [
          "build",
          ...(MODFILES[name] ? [`-modfile=${MODFILES[name]}`] : []),
          "-o",
          out,
          GO_PROGRAMS[name],
        ],
        cwd: INTEROP_DIR,
        stdout: "inherit",
        stderr: "piped",
      }).output();
      if (!res.success) {
        throw new Error(
          `go build ${GO_PROGRAMS[name]} failed:\n${new TextDecoder().decode(res.stderr)}`,
        );
      }
      return out;
    })();
    built.set(name, p);
  }
  return p;
}
