/**
 * Regenerates the committed protobuf code with our own generator
 * (codegen/mod.ts: buf and ts-proto from npm, so no protoc is needed): gen/,
 * examples/{kv,counter,terraform}/gen/, tests/interop/gen/, and the Go stubs
 * of the proof host (tests/interop/proof/proofpb/, protoc-gen-go and
 * protoc-gen-go-grpc run with `go run` from the Go module proxy). Only
 * maintainers who change a .proto file run it (`deno task gen`);
 * tests/codegen/regen_test.ts checks that it gives the committed files.
 *
 * @module
 */

import { type BufTemplate, generate } from "../codegen/mod.ts";

/** One set of generated files: a proto root, its files, the output directory. */
export interface GenSet {
  /** The proto root (imports are relative to it). */
  readonly root: string;
  /** The .proto files, relative to the repository. */
  readonly files: readonly string[];
  /** The output directory, relative to the repository. */
  readonly out: string;
  /** Go stubs instead of TypeScript. */
  readonly go?: boolean;
  /** The TypeScript generator; default ts-proto. */
  readonly generator?: "protobuf-es";
}

const PROTOC_GEN_GO = "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6";
/** v1.3.0: the newest whose code builds against tests/interop/go.mod's grpc v1.61. */
const PROTOC_GEN_GO_GRPC = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0";

/** Everything we generate. */
export const GEN_SETS: readonly GenSet[] = [
  {
    root: "proto",
    files: [
      "proto/plugin/grpc_broker.proto",
      "proto/plugin/grpc_controller.proto",
      "proto/plugin/grpc_stdio.proto",
      "proto/grpc/health/v1/health.proto",
    ],
    out: "gen",
  },
  { root: "examples/kv/proto", files: ["examples/kv/proto/kv.proto"], out: "examples/kv/gen" },
  {
    root: "examples/counter/proto",
    files: ["examples/counter/proto/counter.proto"],
    out: "examples/counter/gen",
  },
  {
    root: "proto",
    files: [
      "proto/grpc/testing/empty.proto",
      "proto/grpc/testing/messages.proto",
      "proto/grpc/testing/test.proto",
      "proto/tfplugin5/tfplugin5.proto",
    ],
    out: "tests/interop/gen",
  },
  {
    root: "proto",
    files: ["proto/tfplugin6/tfplugin6.proto"],
    out: "examples/terraform/gen",
  },
  {
    root: "examples/kv/proto",
    files: ["examples/kv/proto/kv.proto"],
    out: "tests/rpc/gen_es",
    generator: "protobuf-es",
  },
  {
    root: "tests/interop/proof/proto",
    files: ["tests/interop/proof/proto/proof.proto", "tests/interop/proof/proto/types.proto"],
    out: "tests/interop/proof/proofpb",
    go: true,
  },
];

function goTemplate(out: string): BufTemplate {
  const plugin = (pkg: string) => ({
    local: ["go", "run", pkg],
    out,
    opt: ["paths=source_relative"],
    strategy: "all" as const,
  });
  return { version: "v2", plugins: [plugin(PROTOC_GEN_GO), plugin(PROTOC_GEN_GO_GRPC)] };
}

/**
 * Generates every set into `dest` (the repository, or a scratch directory
 * for the check), replacing what is there, then formats the TypeScript.
 *
 * @param repo The repository root.
 * @param dest Where the output directories go.
 */
export async function regenerate(repo: string, dest: string): Promise<void> {
  const ts: string[] = [];
  for (const set of GEN_SETS) {
    const out = `${dest}/${set.out}`;
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.mkdir(out, { recursive: true });
    await generate({
      files: set.files,
      root: set.root,
      out,
      cwd: repo,
      generator: set.generator,
      template: set.go ? goTemplate(out) : undefined,
    });
    if (!set.go) ts.push(out);
  }
  // The repository's width, without its config: dest may lie outside it.
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--no-config", "--line-width", "100", ...ts],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!fmt.success) throw new Error("deno fmt of the generated code failed");
}

if (import.meta.main) {
  const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  await regenerate(repo, repo);
}
