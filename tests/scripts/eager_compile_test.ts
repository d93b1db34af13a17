import { assert, assertEquals } from "../_util/assert.ts";
import { DENO } from "../_util/plugin.ts";
import {
  eagerCompileBundle,
  hoistForEagerCompile,
  startupFunctions,
} from "../../scripts/eager_compile.ts";

// esbuild's printing: top-level declarations at column 0, a call before its declaration.
const BUNDLE = [
  "#!/usr/bin/env -S deno run",
  "var seen = [];",
  "setUp(2);",
  "console.log(`1|1|unix|/nowhere|grpc|${seen.join(',')}`);",
  "await tearDown();",
  "function setUp(n) {",
  "  for (let i = 0; i < n; i++) seen.push(i);",
  "}",
  "async function tearDown() {",
  "  seen.length = 0;",
  "}",
  "function neverCalled() {",
  "  return 1;",
  "}",
  "",
].join("\n");

Deno.test("hoistForEagerCompile keeps hoisting, the #! line first, the functions not named", async () => {
  const { source, rewritten } = hoistForEagerCompile(BUNDLE, new Set(["setUp", "tearDown"]));
  assertEquals(rewritten, 2);
  const lines = source.split("\n");
  assertEquals(lines[0], "#!/usr/bin/env -S deno run");
  assertEquals(lines[1], "var setUp = (function setUp(n) {");
  assert(source.includes("var tearDown = (async function tearDown() {"));
  assert(source.includes("\nfunction neverCalled() {"));
  const file = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(file, source);
    const out = await new Deno.Command(DENO, { args: ["run", file] }).output();
    assertEquals(new TextDecoder().decode(out.stdout), "1|1|unix|/nowhere|grpc|0,1\n");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("eagerCompileBundle: the functions a launch compiled lazily are compiled with the script", async () => {
  const file = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(file, BUNDLE);
    assertEquals([...await startupFunctions(file, {}, DENO)].sort(), ["setUp", "tearDown"]);
    assertEquals(await eagerCompileBundle(file, [{}], DENO), 2);
    assertEquals([...await startupFunctions(file, {}, DENO)], []);
  } finally {
    await Deno.remove(file);
  }
});
