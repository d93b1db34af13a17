// The README's "Your first plugin" walk-through, done as written: its
// .proto, TypeScript files, buf.gen.go.yaml and Go host are taken from the
// README, its commands run (the JSR specifier of codegen replaced by this
// checkout's path, the deno.json mapped here), and go-plugin v1.8's Go host
// from the README must print the greeting.
import { assert } from "../_util/assert.ts";
import { CODEGEN, projectDenoJson, run } from "../_util/project.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
const CODEGEN_JSR = "jsr:@rpcplugin/rpcplugin@^0.1.0/codegen";

interface Block {
  lang: string;
  text: string;
}

/** The fenced blocks of the walk-through section. */
function blocks(): Block[] {
  const start = README.indexOf("### Your first plugin");
  const end = README.indexOf("\n### ", start + 1);
  assert(start >= 0 && end > start, "the README has no walk-through section");
  const out: Block[] = [];
  const re = /^```(\w*)[^\n]*\n([\s\S]*?)^```$/gm;
  for (const m of README.slice(start, end).matchAll(re)) out.push({ lang: m[1], text: m[2] });
  return out;
}

function one(list: Block[], what: string): Block {
  assert(list.length === 1, `the walk-through should have one ${what}, has ${list.length}`);
  return list[0];
}

/** The `sh` lines of the walk-through, in order, comments and blank lines left out. */
function commands(all: Block[]): string[] {
  return all.filter((b) => b.lang === "sh").flatMap((b) => b.text.split("\n"))
    .map((l) => l.replace(/\s+#.*$/, "").trim()).filter((l) => l !== "");
}

Deno.test("README walk-through: .proto to a running go-plugin Go host", async () => {
  const all = blocks();
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-readme-" });
  try {
    // The README's deno.json must name @bufbuild/protobuf as the package, not a subpath.
    const json = all.filter((b) => b.lang === "json").map((b) => b.text).join("\n");
    assert(json.includes('"@bufbuild/protobuf": "npm:@bufbuild/protobuf@^2.17.0"'), json);
    await Deno.writeTextFile(`${dir}/deno.json`, await projectDenoJson());
    await Deno.mkdir(`${dir}/proto`);
    await Deno.writeTextFile(
      `${dir}/proto/greeter.proto`,
      one(all.filter((b) => b.lang === "proto"), "proto").text,
    );
    for (const b of all.filter((b) => b.lang === "ts")) {
      const name = b.text.match(/^\/\/ (\w+\.ts)\n/)?.[1];
      assert(name !== undefined, `a ts block without its file name:\n${b.text}`);
      await Deno.writeTextFile(`${dir}/${name}`, b.text);
    }
    await Deno.writeTextFile(
      `${dir}/buf.gen.go.yaml`,
      one(all.filter((b) => b.lang === "yaml"), "yaml").text,
    );
    await Deno.mkdir(`${dir}/host`);
    await Deno.writeTextFile(
      `${dir}/host/main.go`,
      one(all.filter((b) => b.lang === "go"), "go").text,
    );

    let cwd = dir;
    for (const line of commands(all)) {
      // Installing Deno and making the project are done (deno.json above).
      if (/^(npm install|mkdir|deno add)/.test(line)) continue;
      for (const part of line.split(" && ")) {
        const words = part.split(/\s+/).map((w) => w === CODEGEN_JSR ? CODEGEN : w);
        if (words[0] === "cd") {
          cwd = `${cwd}/${words[1]}`;
          continue;
        }
        const res = await run(words[0], words.slice(1), cwd);
        assert(res.code === 0, `${part} failed:\n${res.stdout}\n${res.stderr}`);
        if (words[0] === "go" && words[1] === "run") {
          assert(
            res.stdout.trim() === "Hello, Ada! 1",
            `the host printed: ${res.stdout}\n${res.stderr}`,
          );
        }
      }
    }
    assert(cwd === `${dir}/host`, "the walk-through should end in host/");
    // Step 5's test, and step 4's claim about a plugin run by hand.
    const test = await run("deno", ["test", "greeter_test.ts"], dir);
    assert(test.code === 0, `deno test greeter_test.ts failed:\n${test.stdout}\n${test.stderr}`);
    const byHand = await run("deno", ["run", "plugin.ts"], dir);
    assert(
      byHand.code === 1 && /plugin/i.test(byHand.stderr),
      `by hand: ${byHand.code} ${byHand.stderr}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
