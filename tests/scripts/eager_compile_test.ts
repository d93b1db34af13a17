import { assert, assertEquals } from "../_util/assert.ts";
import { DENO } from "../_util/plugin.ts";
import {
  eagerCompileBundle,
  EagerCompileError,
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

/** Runs `fn` on a temporary .js file holding `source`. */
async function withBundle<T>(source: string, fn: (file: string) => Promise<T>): Promise<T> {
  const file = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(file, source);
    return await fn(file);
  } finally {
    await Deno.remove(file);
  }
}

/** What `deno run` of `source` prints on stdout. */
function stdoutOf(source: string): Promise<string> {
  return withBundle(source, async (file) => {
    const out = await new Deno.Command(DENO, { args: ["run", file], stderr: "piped" }).output();
    return new TextDecoder().decode(out.stdout);
  });
}

/** The error `eagerCompileBundle` throws on `source` (a launch with no environment). */
function eagerCompileErrorOf(
  source: string,
  check: (file: string) => Promise<void>,
): Promise<EagerCompileError> {
  return withBundle(source, async (file) => {
    const err = await eagerCompileBundle(file, [{}], DENO).then(() => undefined, (e) => e);
    assert(err instanceof EagerCompileError, `not an EagerCompileError: ${err}`);
    await check(file);
    return err;
  });
}

Deno.test("hoistForEagerCompile keeps hoisting, the #! line first, the functions not named", async () => {
  const { source, rewritten } = hoistForEagerCompile(BUNDLE, new Set(["setUp", "tearDown"]));
  assertEquals(rewritten, 2);
  const lines = source.split("\n");
  assertEquals(lines[0], "#!/usr/bin/env -S deno run");
  assertEquals(lines[1], "var setUp = (function setUp(n) {");
  assert(source.includes("var tearDown = (async function tearDown() {"));
  assert(source.includes("\nfunction neverCalled() {"));
  assertEquals(await stdoutOf(source), "1|1|unix|/nowhere|grpc|0,1\n");
});

Deno.test("eagerCompileBundle: the functions a launch compiled lazily are compiled with the script", async () => {
  await withBundle(BUNDLE, async (file) => {
    assertEquals([...await startupFunctions(file, {}, DENO)].sort(), ["setUp", "tearDown"]);
    assertEquals(await eagerCompileBundle(file, [{}], DENO), 2);
    assertEquals([...await startupFunctions(file, {}, DENO)], []);
  });
});

Deno.test('hoistForEagerCompile: a lone "}" line inside a function\'s template literal does not end it', async () => {
  const bundle = [
    "console.log(`1|1|unix|/nowhere|grpc|${describe()}`);",
    "function describe() {",
    "  const text = `{",
    "}",
    "`;",
    "  return text.length;",
    "}",
    "",
  ].join("\n");
  const { source, rewritten } = hoistForEagerCompile(bundle, new Set(["describe"]));
  assertEquals(rewritten, 1);
  assert(source.startsWith("var describe = (function describe() {"), source);
  assertEquals(await stdoutOf(source), "1|1|unix|/nowhere|grpc|4\n");
});

Deno.test("eagerCompileBundle: a rewriting that stops the bundle is undone, with an error saying so", async () => {
  // Text in a template literal that reads like the top-level declaration of a function a
  // launch runs: moved out as `var setUp`, it declares `setUp` a second time beside the
  // `const`, which a module does not allow.
  const bundle = [
    "const setUp = function setUp(n) {",
    "  return n;",
    "};",
    "var help = `",
    "function setUp() {",
    "}",
    "`;",
    "console.log(`1|1|unix|/nowhere|grpc|${setUp(help.length)}`);",
    "",
  ].join("\n");
  const err = await eagerCompileErrorOf(bundle, async (file) => {
    assertEquals(await Deno.readTextFile(file), bundle);
  });
  assert(
    /printed no line once its start-up functions were made eager/.test(err.message),
    err.message,
  );
  assert(/SyntaxError/.test(err.message), `no stderr in: ${err.message}`);
});

Deno.test("eagerCompileBundle: a bundle that prints no line is named, not profiled as if it had started", async () => {
  const source = "console.error('no cookie');\nDeno.exit(1);\n";
  const err = await eagerCompileErrorOf(source, async (file) => {
    assertEquals(await Deno.readTextFile(file), source);
  });
  assert(/printed no line when launched to be profiled/.test(err.message), err.message);
  assert(/no cookie/.test(err.message), err.message);
});
