/**
 * A first run on a new machine: go-plugin's own example host (examples/grpc,
 * built from the Go module proxy) launches the Deno KV plugin (native engine)
 * with an empty DENO_DIR. Deno 2.9 would install every npm package of the
 * lock file's snapshot (grpc-js, pkijs, protobufjs and their ~30
 * dependencies) on the first npm import; deno.json's `npm-lazy-caching`
 * makes it fetch only what the module graph imports: `@bufbuild/protobuf`.
 * The same for the Terraform provider's launcher under the real Terraform:
 * `@bufbuild/protobuf` and `@msgpack/msgpack`. Needs the npm registry.
 */

import { buildGo } from "../_util/go.ts";
import { denoRunLine, ROOT } from "../_util/plugin.ts";
import { assert, assertEquals, run, waitNoProcesses, withTempDir } from "../_util/host.ts";
import {
  type Cli,
  CliUnavailableError,
  PROVIDER_SOURCE_DIR,
  terraformCli,
  tofuCli,
  Workspace,
} from "./terraform_cli.ts";

/** The npm packages in a DENO_DIR's cache, as `name` or `@scope/name`. */
function cachedNpmPackages(denoDir: string): string[] {
  const root = `${denoDir}/npm/registry.npmjs.org`;
  const names: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(root)];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  for (const e of entries) {
    if (!e.isDirectory) continue;
    if (!e.name.startsWith("@")) names.push(e.name);
    else for (const s of Deno.readDirSync(`${root}/${e.name}`)) names.push(`${e.name}/${s.name}`);
  }
  return names.sort();
}

Deno.test("cold cache: the native KV plugin under go-plugin's host fetches only @bufbuild/protobuf", async () => {
  await withTempDir(async (dir) => {
    const kv = await buildGo("kv");
    const denoDir = `${dir}/deno-dir`;
    const env = {
      KV_PROTO: "grpc",
      KV_PLUGIN: denoRunLine("examples/kv/plugin.ts", [dir]),
      TMPDIR: dir,
      DENO_DIR: denoDir,
    };
    const put = await run(kv, ["put", "hello", "world"], { cwd: dir, env });
    assertEquals(put.code, 0, `put failed:\n${put.stdout}\n${put.stderr}`);
    const downloaded = cachedNpmPackages(denoDir);
    console.log(`downloaded into the empty DENO_DIR: ${downloaded.join(", ")}`);
    assertEquals(downloaded, ["@bufbuild/protobuf"], "npm packages the native plugin does not use");
    const lines = put.stderr.split("\n").filter((l) => l.includes("registry.npmjs.org"));
    assert(lines.length > 0, `no download lines in the host's log:\n${put.stderr}`);
    assert(lines.every((l) => l.includes("@bufbuild")), `other downloads:\n${lines.join("\n")}`);
    assertEquals(await waitNoProcesses(dir), [], "plugin processes left behind");
  });
});

/** Terraform from PATH, else the OpenTofu that .ci/run builds (the output names which ran). */
async function someCli(): Promise<Cli> {
  try {
    return await terraformCli();
  } catch (err) {
    if (!(err instanceof CliUnavailableError)) throw err;
    console.log(`${err.message}; using OpenTofu`);
    return await tofuCli();
  }
}

Deno.test("cold cache: the Terraform provider's launcher under terraform plan fetches only its two npm packages", async () => {
  const cli = await someCli();
  await withTempDir(async (dir) => {
    const denoDir = `${dir}/deno-dir`;
    // The workspace blocks the network with a refusing proxy; Deno must reach npm here.
    const ws = new Workspace(cli, `${dir}/work`, {
      DENO_DIR: denoDir,
      HTTPS_PROXY: "",
      HTTP_PROXY: "",
    });
    await Deno.mkdir(ws.dir);
    await ws.init(PROVIDER_SOURCE_DIR);
    await ws.config(Deno.readTextFileSync(`${ROOT}examples/terraform/main.tf`));
    const plan = await ws.run(["plan"]);
    assertEquals(plan.code, 0, `${plan.command} failed:\n${plan.output}`);
    const downloaded = cachedNpmPackages(denoDir);
    console.log(`${cli.version}: downloaded into the empty DENO_DIR: ${downloaded.join(", ")}`);
    assertEquals(downloaded, ["@bufbuild/protobuf", "@msgpack/msgpack"]);
  });
});
