// The proof of issue 11: a new plugin, written as the README tells a
// newcomer, from a .proto that imports another and has int64 fields
// (proof/proto/), in a clean directory: its code generated with the
// documented command (our codegen, buf and the generator from npm), run by
// go-plugin v1.8's Go host (proof/main.go, `ClientConfig.Cmd` running
// `deno run ...`) through every call kind, response headers and trailers, a
// deadline, a cancellation, throwing handlers, a method left without a
// handler (UNIMPLEMENTED, logged at DEBUG at start-up) and a running
// handler's signal when its call fails (RESOURCE_EXHAUSTED), on both
// engines, with ts-proto and with protobuf-es.
import { buildGo } from "../_util/go.ts";
import { assert } from "../_util/assert.ts";
import { CODEGEN, projectDenoJson, run } from "../_util/project.ts";

const PROTO_DIR = new URL("proof/proto/", import.meta.url);

/** The README's plugin flags. */
const PLUGIN_FLAGS = ["--allow-env", "--allow-net", "--allow-read", "--allow-write"];

type Generator = "ts-proto" | "protobuf-es";

/** The plugin a user would write; only the imports differ by generator. */
function pluginSource(generator: Generator): string {
  const imports = generator === "ts-proto"
    ? `import { implement } from "@rpcplugin/rpcplugin";
import { ProofDefinition as Proof } from "./gen/proof_pb.ts";
import { Item as ItemCodec } from "./gen/types_pb.ts";
const encodeItem = (item: Item) => ItemCodec.encode(item).finish();`
    : `import { implement } from "@rpcplugin/rpcplugin/protobuf-es";
import { create, toBinary } from "@bufbuild/protobuf";
import { Proof } from "./gen/proof_pb.ts";
import { ItemSchema } from "./gen/types_pb.ts";
const encodeItem = (item: Item) => toBinary(ItemSchema, create(ItemSchema, item));`;
  return `import {
  type CallContext,
  encodeStatusDetails,
  RpcError,
  serve,
  Status,
} from "@rpcplugin/rpcplugin";
import { grpcJsEngine } from "@rpcplugin/rpcplugin/grpc-js";
import type { Item } from "./gen/types_pb.ts";
${imports}

/** What each Wait call saw, by name: for Probe. */
const waits = new Map<string, { started: PromiseWithResolvers<number>; aborted: PromiseWithResolvers<{ reason: string; left: number }> }>();
function slot(name: string) {
  let s = waits.get(name);
  if (!s) waits.set(name, s = { started: Promise.withResolvers(), aborted: Promise.withResolvers() });
  return s;
}
let lastUnary: CallContext | undefined;
const codeName = (code: number) => Object.entries(Status).find(([, v]) => v === code)?.[0] ?? String(code);
/** Waits until the call's signal aborts; tells Probe the reason and the time left. */
async function untilAborted(name: string, call: CallContext): Promise<unknown> {
  if (!call.signal.aborted) {
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve, { once: true }));
  }
  const reason = call.signal.reason;
  slot(name).aborted.resolve({
    reason: reason instanceof RpcError ? codeName(reason.code) : \`not an RpcError: \${reason}\`,
    left: call.timeRemaining(),
  });
  return reason;
}

await serve({
  handshake: { magicCookieKey: "PROOF_PLUGIN", magicCookieValue: "issue-11", protocolVersion: 1 },
  engine: Deno.env.get("PROOF_ENGINE") === "grpc-js" ? grpcJsEngine : undefined,
  maxMessageBytes: 1 << 20,
  services: [implement(Proof, {
    unary(item, call) {
      lastUnary = call;
      call.logger.info("unary", { name: item.name });
      const echo = call.metadata["x-in"]?.[0];
      if (typeof echo === "string") call.setHeaders({ "x-echo": echo });
      call.setTrailers({ "x-trailer": "t1" });
      return { name: item.name, count: item.count + 1n };
    },
    async *list(q) {
      for (let i = 0; i < q.repeat; i++) yield { name: q.name, count: q.count + BigInt(i) };
    },
    async sum(items) {
      let name = "", count = 0n;
      for await (const it of items) {
        name += it.name;
        count += it.count;
      }
      return { name, count };
    },
    async *chat(items, call) {
      for await (const it of items) {
        if (it.name !== "flood") {
          yield { name: it.name.toUpperCase(), count: it.count * 2n };
          continue;
        }
        // A response over the 1 MiB limit fails the call while this runs:
        // then it waits on nothing but its signal.
        try {
          yield { name: "x".repeat(2 << 20), count: 0n };
        } finally {
          await untilAborted("flood", call);
        }
      }
    },
    async wait(q, call) {
      const left = call.timeRemaining();
      slot(q.name).started.resolve(left === Infinity ? -1 : Math.ceil(left));
      throw await untilAborted(q.name, call);
    },
    async probe(q) {
      if (q.mode === "started") return { name: q.name, count: BigInt(await slot(q.name).started.promise) };
      if (q.mode === "aborted") {
        const { reason, left } = await slot(q.name).aborted.promise;
        return { name: reason, count: left === Infinity ? -1n : BigInt(Math.ceil(left)) };
      }
      const call = lastUnary!;
      await call.ended;
      return { name: call.signal.aborted ? "aborted" : "not aborted", count: 0n };
    },
    fail(q) {
      if (q.mode !== "rpc") throw new Error("boom");
      const item = { name: "detail", count: 9007199254740993n };
      throw new RpcError(Status.FAILED_PRECONDITION, "not ready", {
        metadata: { "x-why": "because" },
        details: encodeStatusDetails({
          code: Status.FAILED_PRECONDITION,
          message: "not ready",
          details: [{ typeUrl: "type.googleapis.com/proof.v1.Item", value: encodeItem(item as Item) }],
        }),
      });
    },
  })],
});
`;
}

/** Writes the project and generates its code, as the README says; returns its directory. */
async function newProject(generator: Generator): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-proof-" });
  await Deno.mkdir(`${dir}/proto`);
  for (const f of ["proof.proto", "types.proto"]) {
    await Deno.copyFile(new URL(f, PROTO_DIR), `${dir}/proto/${f}`);
  }
  await Deno.writeTextFile(`${dir}/deno.json`, await projectDenoJson());
  await Deno.writeTextFile(`${dir}/plugin.ts`, pluginSource(generator));
  // The README's command, with the script by path (JSR: jsr:@rpcplugin/rpcplugin/codegen).
  const gen = await run("deno", [
    "run",
    "--allow-read",
    "--allow-run",
    CODEGEN,
    ...(generator === "protobuf-es" ? ["--generator", "protobuf-es"] : []),
    "proto/proof.proto",
  ], dir);
  assert(gen.code === 0, `codegen failed:\n${gen.stderr}`);
  // Only proof.proto was named: its import came along.
  await Deno.stat(`${dir}/gen/types_pb.ts`);
  const check = await run("deno", ["check", "plugin.ts"], dir);
  assert(check.code === 0, `the plugin does not type-check:\n${check.stderr}`);
  return dir;
}

const CHECKS = [
  "unary",
  "server-stream",
  "client-stream",
  "bidi-stream",
  "deadline",
  "cancel",
  "signal-after-end",
  "throw-rpc-error",
  "throw-error",
  "unimplemented",
  "signal-on-failure",
];

for (const generator of ["ts-proto", "protobuf-es"] as const) {
  Deno.test(`proof: a new ${generator} plugin under go-plugin's Go host, both engines`, async (t) => {
    const host = await buildGo("proof");
    const dir = await newProject(generator);
    try {
      for (const engine of ["native", "grpc-js"]) {
        await t.step(engine, async () => {
          const res = await run(
            host,
            ["-dir", dir, "--", "deno", "run", ...PLUGIN_FLAGS, "plugin.ts"],
            dir,
            {
              PROOF_ENGINE: engine,
            },
          );
          const ok = res.stdout.split("\n").filter((l) => l.startsWith("ok ")).map((l) =>
            l.slice(3)
          );
          assert(
            res.code === 0 && res.stdout.includes("PASS") && ok.join() === CHECKS.join(),
            `host exit ${res.code}:\n${res.stdout}\n${res.stderr.slice(-4000)}`,
          );
          // The method left out is logged once at start-up, at DEBUG (the host re-logs it).
          const unimpl = res.stderr.split("\n").filter((l) =>
            l.includes("methods not implemented by this plugin")
          );
          assert(
            unimpl.length === 1 && unimpl[0].includes("[DEBUG]") &&
              unimpl[0].includes("methods=missing") && unimpl[0].includes("service=proof.v1.Proof"),
            `no single DEBUG line naming the unimplemented method:\n${res.stderr.slice(-4000)}`,
          );
          console.log(
            `${generator} ${engine}: ${
              res.stdout.split("\n").find((l) => l.startsWith("deadline:"))
            }`,
          );
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
