// The codegen script's errors say what is wrong: no file, a missing file,
// a file outside the root, a .proto buf rejects (with buf's own words).
import { CodegenError, generate, main } from "../../codegen/mod.ts";
import { assert, assertEquals } from "../_util/assert.ts";

async function rejects(p: Promise<unknown>): Promise<CodegenError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof CodegenError, `expected a CodegenError, got ${e}`);
    return e;
  }
  throw new Error("expected a CodegenError");
}

Deno.test("codegen: no .proto given", async () => {
  const e = await rejects(generate({ files: [] }));
  assert(e.message.includes("No .proto file given"), e.message);
});

Deno.test("codegen: a missing file, a non-.proto, a file outside the root", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.proto`, 'syntax = "proto3";\n');
    const missing = await rejects(generate({ files: ["nope.proto"], cwd: dir }));
    assert(missing.message.includes('No such .proto file: "nope.proto"'), missing.message);
    const notProto = await rejects(generate({ files: ["a.txt"], cwd: dir }));
    assert(notProto.message.includes("not a .proto file"), notProto.message);
    const outside = await rejects(generate({ files: ["a.proto"], root: "proto", cwd: dir }));
    assert(outside.message.includes("--root"), outside.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("codegen: buf's error reaches the user, and nothing is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.proto`, 'syntax = "proto3";\nmessage X { int32 }\n');
    const e = await rejects(generate({ files: ["bad.proto"], cwd: dir }));
    assert(e.stderr.includes("bad.proto:2:"), e.stderr);
    assert(e.message.includes("buf generate failed"), e.message);
    await Deno.stat(`${dir}/gen`).then(() => assert(false, "gen/ was made"), () => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("codegen: the command line's exit statuses", async () => {
  assertEquals(await main(["--bogus"]), 2);
  assertEquals(await main(["--out"]), 2);
  assertEquals(await main([]), 1);
});

Deno.test("codegen: the command line names a missing @bufbuild/protobuf entry, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.proto`, 'syntax = "proto3";\nmessage A { int64 n = 1; }\n');
    const codegen = new URL("../../codegen/mod.ts", import.meta.url).pathname;
    const gen = async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-run", codegen, "a.proto"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stderr);
    };
    await Deno.writeTextFile(`${dir}/deno.json`, '{ "imports": {} }\n');
    const without = await gen();
    assert(without.includes("deno add npm:@bufbuild/protobuf@2.17.0"), without);
    await Deno.stat(`${dir}/gen/a_pb.ts`);
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      '{ "imports": { "@bufbuild/protobuf": "npm:@bufbuild/protobuf@^2.17.0" } }\n',
    );
    assertEquals(await gen(), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
