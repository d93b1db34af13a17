/**
 * The example provider's single file starts the fast way: its "#!" line
 * carries `bundle.ts`'s start flags when they fit (and leaves them off, in
 * order, when a long socket directory needs the room), and the executable,
 * which has no extension, runs as the JavaScript it is: launched by our host
 * with Terraform's cookie, it answers a ping, and Deno's emit cache (where a
 * file taken for TypeScript goes, transpiled without the parentheses that
 * make its start-up functions eager) holds nothing of it.
 *
 * @module
 */

import { bundleProvider, providerFlags } from "../../examples/terraform/bundle.ts";
import { shebangLine, ShebangTooLongError, START_FLAGS } from "../../scripts/start_flags.ts";
import { assert, withTempDir } from "../_util/host.ts";
import { pingProvider } from "./provider_ping.ts";

Deno.test("start flags: on the provider's #! line while they fit, the V8 flag given up first", () => {
  const short = shebangLine("deno", providerFlags("/tmp"));
  assert(short.dropped.length === 0, `dropped: ${short.dropped}`);
  for (const flag of START_FLAGS) assert(short.line.includes(` ${flag} `), short.line);

  const dir = `/tmp/${"d".repeat(40)}`;
  const long = shebangLine("deno", providerFlags(dir));
  assert(long.dropped.join(" ") === START_FLAGS[1], `dropped: ${long.dropped}`);
  assert(long.line.includes(` ${START_FLAGS[0]} `) && long.line.includes(dir), long.line);
  assert(new TextEncoder().encode(long.line).length <= 255, `${long.line.length} bytes`);

  let err: unknown;
  try {
    shebangLine("deno", providerFlags(`/tmp/${"d".repeat(120)}`));
  } catch (e) {
    err = e;
  }
  assert(
    err instanceof ShebangTooLongError && /more than the 255 Linux reads/.test(err.message),
    `${err}`,
  );
});

Deno.test("the bundled provider runs as JavaScript: a ping answered, nothing in Deno's emit cache", async () => {
  // A short directory (Deno.makeTempDir's name), so that every start flag fits.
  await withTempDir(async (work) => {
    const tmp = await Deno.makeTempDir();
    try {
      const exe = await bundleProvider(work, { socketDir: tmp });
      const line = (await Deno.readTextFile(exe)).split("\n", 1)[0];
      for (const flag of START_FLAGS) assert(line.includes(` ${flag} `), line);
      const denoDir = `${work}/deno-dir`;
      await pingProvider(exe, tmp, { TMPDIR: tmp, DENO_DIR: denoDir });
      const emitted: string[] = [];
      const walk = async (dir: string) => {
        for await (const e of Deno.readDir(dir)) {
          if (e.isDirectory) await walk(`${dir}/${e.name}`);
          else emitted.push(`${dir}/${e.name}`);
        }
      };
      await walk(`${denoDir}/gen`).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      assert(
        !emitted.some((f) => f.includes("terraform-provider-example")),
        `Deno transpiled the executable as TypeScript: ${emitted.join(", ")}`,
      );
      assert([...Deno.readDirSync(tmp)].length === 0, "the provider left files in its TMPDIR");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});
