// `deno task gen` (scripts/gen.ts, our codegen: buf and the generators from
// npm and the Go module proxy, no protoc) gives exactly the committed files.
import { GEN_SETS, regenerate } from "../../scripts/gen.ts";
import { assert, assertEquals } from "../_util/assert.ts";

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) out.push(...await files(`${dir}/${e.name}`, `${rel}/`));
    else out.push(rel);
  }
  return out.sort();
}

Deno.test("codegen: regenerating gives the committed generated code", async () => {
  const dest = await Deno.makeTempDir({ prefix: "rpcplugin-regen-" });
  try {
    await regenerate(REPO, dest);
    for (const set of GEN_SETS) {
      const committed = await files(`${REPO}/${set.out}`);
      const made = await files(`${dest}/${set.out}`);
      assertEquals(made, committed, `the files of ${set.out}`);
      for (const f of made) {
        const a = await Deno.readTextFile(`${dest}/${set.out}/${f}`);
        const b = await Deno.readTextFile(`${REPO}/${set.out}/${f}`);
        assert(a === b, `${set.out}/${f} differs from what deno task gen makes: run deno task gen`);
      }
    }
  } finally {
    await Deno.remove(dest, { recursive: true });
  }
});
