/**
 * The example Terraform provider (examples/terraform/, on `serve()`) driven by
 * the real CLIs: Terraform from PATH (when it is there; the test name says
 * when it is not) and OpenTofu built from the Go module proxy
 * (terraform_tofu/; a build failure fails the test with the reason). Each
 * runs in a temp working directory with a dev_overrides CLI configuration:
 * no `init`, no registry, and HTTPS_PROXY pointing at a closed port so that
 * any network access would fail.
 *
 * Per CLI, with the launcher script and AutoMTLS (what Terraform always asks
 * for), it proves that:
 *
 * - a bad provider `directory` and a bad resource `name` each fail `plan`
 *   (exit 1) with the attribute named in Terraform's "with ..., on main.tf
 *   line N" block;
 * - `plan` shows the create with `id` and `revision` "(known after apply)";
 * - `apply -auto-approve` creates the entry file, and the data source reads
 *   it back during the same apply;
 * - `plan -detailed-exitcode` then exits 0 (nothing to do);
 * - a new `value` is an in-place update (revision 1 -> 2);
 * - a new `name` is a replacement ("forces replacement": old file gone, new
 *   one at revision 1);
 * - an edit of the file outside Terraform shows as "changed outside of
 *   Terraform" and a plan to undo it; a deleted file as "has been deleted"
 *   and a plan to create it again;
 * - `import` by name brings an existing entry back into the state, after which
 *   nothing is planned (OpenTofu also imports by resource identity, from an
 *   `import` block);
 * - `destroy` leaves no entry file and no resource in the state.
 *
 * Then, shorter (plan, apply, plan with nothing to do, destroy): with
 * TF_DISABLE_PLUGIN_TLS=1 (plaintext), with the bundled single file
 * (`#!/usr/bin/env -S deno run ...`), and in debug mode (started by hand
 * with `-debug`; Terraform attaches with the TF_REATTACH_PROVIDERS line it
 * printed, never launches a provider itself, and the provider serves every
 * command and stops on SIGINT, exit 0, socket removed).
 *
 * After every command: no provider process is left, and the CLI's TMPDIR
 * (where each launch's socket goes) is empty again.
 */

import { bundleProvider } from "../../examples/terraform/bundle.ts";
import { START_FLAGS } from "../../scripts/start_flags.ts";
import { PROVIDER_ADDRESS } from "../../examples/terraform/provider.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { processesMatching, withTempDir } from "../_util/host.ts";
import { ROOT } from "../_util/plugin.ts";
import {
  type Cli,
  type CliRun,
  CliUnavailableError,
  leftovers,
  PROVIDER_SOURCE_DIR,
  terraformCli,
  tofuCli,
  tofuVersion,
  Workspace,
} from "./terraform_cli.ts";

/** The example configuration, as a user would copy it. */
const MAIN_TF = Deno.readTextFileSync(`${ROOT}examples/terraform/main.tf`);
/** The launcher's process runs this file: the marker for "no provider process left". */
const SOURCE_MARKER = `${PROVIDER_SOURCE_DIR}/main.ts`;

/** main.tf with the entry's name, value and the provider's directory replaced. */
function config(opts: { name?: string; value?: string; directory?: string } = {}): string {
  let text = MAIN_TF;
  if (opts.name !== undefined) {
    text = text.replace(`name        = "greeting"`, `name        = ${JSON.stringify(opts.name)}`);
  }
  if (opts.value !== undefined) {
    text = text.replace(`value       = "hello"`, `value       = ${JSON.stringify(opts.value)}`);
  }
  if (opts.directory !== undefined) {
    text = text.replace(`directory = "entries"`, `directory = ${JSON.stringify(opts.directory)}`);
  }
  assert(
    text !== MAIN_TF || Object.keys(opts).length === 0,
    "main.tf no longer has the lines the test edits",
  );
  return text;
}

function fail(run: CliRun, why: string): never {
  throw new Error(
    `${why}\n$ ${run.command} (exit ${run.code}, ${run.ms.toFixed(0)} ms)\n${run.output}`,
  );
}

/** Checks a run's exit code and that its output matches every pattern. */
function expectRun(run: CliRun, code: number, patterns: RegExp[] = []): void {
  if (run.code !== code) fail(run, `expected exit ${code}`);
  for (const p of patterns) if (!p.test(run.output)) fail(run, `the output does not match ${p}`);
}

interface Entry {
  value: string;
  description: string | null;
  revision: number;
}

async function entry(ws: Workspace, name: string): Promise<Entry | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${ws.dir}/entries/${name}.json`));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/**
 * A workspace whose every command is followed by the checks: no provider
 * process (other than `keep`), nothing left in TMPDIR (other than `keepFiles`).
 */
function checked(
  ws: Workspace,
  marker: string,
  keep: { pids?: number[]; files?: () => string[] } = {},
): (args: string[], env?: Record<string, string>) => Promise<CliRun> {
  return async (args, env) => {
    const r = await ws.run(args, env);
    // The CLI waits for its providers to exit before it exits: no waiting here.
    const left = (await processesMatching(marker)).filter((line) =>
      !(keep.pids ?? []).includes(Number(line.split(" ")[0]))
    );
    if (left.length) fail(r, `provider processes left after the command:\n${left.join("\n")}`);
    const files = leftovers(ws.tmp).filter((f) => !(keep.files?.() ?? []).includes(f));
    if (files.length) fail(r, `left in TMPDIR after the command: ${files.join(", ")}`);
    return r;
  };
}

/** Plan (create), apply, plan (nothing to do), destroy. */
async function shortLifecycle(ws: Workspace, run: ReturnType<typeof checked>): Promise<void> {
  await ws.config(config());
  expectRun(await run(["plan", "-detailed-exitcode"]), 2, [
    /\+ revision\s+= \(known after apply\)/,
  ]);
  expectRun(await run(["apply", "-auto-approve"]), 0, [/read_back = "hello"/]);
  assertEquals((await entry(ws, "greeting"))?.revision, 1);
  expectRun(await run(["plan", "-detailed-exitcode"]), 0);
  expectRun(await run(["destroy", "-auto-approve"]), 0);
  assertEquals(await entry(ws, "greeting"), null);
  assertEquals(await ws.stateResources(), []);
}

/** The full lifecycle, with the launcher script and AutoMTLS. */
async function fullLifecycle(t: Deno.TestContext, cli: Cli, ws: Workspace): Promise<void> {
  const run = checked(ws, SOURCE_MARKER);
  const product = cli.name;

  await t.step(
    "invalid provider and resource attributes fail plan, naming the attribute",
    async () => {
      await ws.config(config({ directory: " " }));
      expectRun(await run(["plan"]), 1, [
        /Error: Invalid directory/,
        /with provider\["registry\.terraform\.io\/rpcplugin\/example"\]/,
        /\d+:\s+directory = " "/,
      ]);
      await ws.config(config({ name: "../escape" }));
      expectRun(await run(["plan"]), 1, [
        /Error: Invalid entry name/,
        /with example_entry\.greeting/,
        /\d+:\s+name\s+= "\.\.\/escape"/,
      ]);
    },
  );

  await t.step("plan shows the create, computed values known after apply", async () => {
    await ws.config(config());
    expectRun(await run(["plan", "-detailed-exitcode"]), 2, [
      /# example_entry\.greeting will be created/,
      /\+ id\s+= \(known after apply\)/,
      /\+ revision\s+= \(known after apply\)/,
      /\+ value\s+= "hello"/,
      /Plan: 1 to add, 0 to change, 0 to destroy/,
    ]);
  });

  await t.step("apply creates the entry; the data source reads it back", async () => {
    expectRun(await run(["apply", "-auto-approve"]), 0, [
      /Resources: 1 added, 0 changed, 0 destroyed/,
      /read_back = "hello"/,
      /revision = 1/,
    ]);
    assertEquals(await entry(ws, "greeting"), {
      value: "hello",
      description: "written by terraform",
      revision: 1,
    });
  });

  await t.step("plan -detailed-exitcode exits 0 after apply", async () => {
    expectRun(await run(["plan", "-detailed-exitcode"]), 0, [/No changes/]);
  });

  await t.step("a new value is an in-place update", async () => {
    await ws.config(config({ value: "hello again" }));
    expectRun(await run(["apply", "-auto-approve"]), 0, [
      /# example_entry\.greeting will be updated in-place/,
      /~ revision\s+= 1 -> \(known after apply\)/,
      /Resources: 0 added, 1 changed, 0 destroyed/,
      /read_back = "hello again"/,
    ]);
    assertEquals((await entry(ws, "greeting"))?.revision, 2);
  });

  await t.step("a new name replaces the entry", async () => {
    await ws.config(config({ name: "salutation", value: "hello again" }));
    expectRun(await run(["apply", "-auto-approve"]), 0, [
      /# example_entry\.greeting must be replaced/,
      /~ name\s+= "greeting" -> "salutation" # forces replacement/,
      /Resources: 1 added, 0 changed, 1 destroyed/,
    ]);
    assertEquals(await entry(ws, "greeting"), null);
    assertEquals((await entry(ws, "salutation"))?.revision, 1);
  });

  await t.step("changes made outside are detected: an edit, a deletion", async () => {
    const file = `${ws.dir}/entries/salutation.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ value: "edited by hand", description: "written by terraform", revision: 5 }),
    );
    expectRun(await run(["plan", "-detailed-exitcode"]), 2, [
      new RegExp(`Objects have changed outside of ${product}`),
      /~ revision\s+= 1 -> 5/,
      /~ value\s+= "edited by hand" -> "hello again"/,
    ]);
    await Deno.remove(file);
    expectRun(await run(["plan", "-detailed-exitcode"]), 2, [
      /# example_entry\.greeting has been deleted/,
      /# example_entry\.greeting will be created/,
    ]);
  });

  await t.step("import by name; nothing to do afterwards", async () => {
    await Deno.writeTextFile(
      `${ws.dir}/entries/salutation.json`,
      JSON.stringify({ value: "hello again", description: "written by terraform", revision: 3 }),
    );
    expectRun(await run(["state", "rm", "example_entry.greeting"]), 0);
    expectRun(await run(["import", "example_entry.greeting", "salutation"]), 0, [
      /Import successful/,
    ]);
    const managed = (await ws.stateResources()).filter((r) => r.mode === "managed");
    assertEquals(managed.map((r) => r.attributes.revision), [3]);
    expectRun(await run(["plan", "-detailed-exitcode"]), 0);
  });

  if (product === "OpenTofu") {
    await t.step("import by resource identity (an import block)", async () => {
      expectRun(await run(["state", "rm", "example_entry.greeting"]), 0);
      await Deno.writeTextFile(
        `${ws.dir}/import.tf`,
        `import {\n  to       = example_entry.greeting\n  identity = { name = "salutation" }\n}\n`,
      );
      expectRun(await run(["apply", "-auto-approve"]), 0, [
        /imported using resource identity/,
        /Resources: 1 imported, 0 added, 0 changed, 0 destroyed/,
      ]);
      await Deno.remove(`${ws.dir}/import.tf`);
      expectRun(await run(["plan", "-detailed-exitcode"]), 0);
    });
  }

  await t.step("destroy leaves nothing", async () => {
    expectRun(await run(["destroy", "-auto-approve"]), 0, [/Resources: 1 destroyed/]);
    assertEquals([...Deno.readDirSync(`${ws.dir}/entries`)].map((e) => e.name), []);
    assertEquals(await ws.stateResources(), []);
  });
}

/** Starts the provider in debug mode and reads its TF_REATTACH_PROVIDERS line. */
async function startDebug(ws: Workspace): Promise<{
  child: Deno.ChildProcess;
  reattach: string;
  output: Promise<string>;
}> {
  const child = new Deno.Command(`${PROVIDER_SOURCE_DIR}/terraform-provider-example`, {
    args: ["-debug"],
    cwd: ws.dir,
    env: { TMPDIR: ws.tmp, DENO: Deno.execPath() },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let reattach: string | undefined;
  while (reattach === undefined) {
    const { value, done } = await reader.read();
    if (done) {
      const status = await child.status;
      throw new Error(
        `the provider exited (${status.code}) before printing TF_REATTACH_PROVIDERS:\n${seen}\n${await stderr}`,
      );
    }
    seen += value;
    reattach = seen.match(/TF_REATTACH_PROVIDERS='([^']+)'/)?.[1];
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return seen;
      seen += value;
    }
  })();
  return { child, reattach, output: Promise.all([rest, stderr]).then((p) => p.join("\n")) };
}

/** The CLIs, each found or built when its tests start. */
const CLIS: { label: string; get: () => Promise<Cli>; missing?: string }[] = [];
try {
  const tf = await terraformCli();
  CLIS.push({ label: tf.version, get: () => Promise.resolve(tf) });
} catch (err) {
  if (!(err instanceof CliUnavailableError)) throw err;
  CLIS.push({ label: "Terraform", get: () => Promise.reject(err), missing: err.message });
}
CLIS.push({ label: `OpenTofu ${tofuVersion()} (built from the Go module proxy)`, get: tofuCli });

for (const { label, get, missing } of CLIS) {
  const name = (what: string) =>
    `terraform_cli: ${label}: ${what}${missing ? ` — NOT RUN: ${missing}` : ""}`;
  const withCli = (fn: (cli: Cli, dir: string) => Promise<void>) => async () => {
    const cli = await get();
    console.log(`CLI: ${cli.version} (${cli.bin})`);
    await withTempDir((dir) => fn(cli, dir));
  };

  Deno.test({
    name: name("the provider from its launcher, AutoMTLS: the whole lifecycle"),
    ignore: missing !== undefined,
    fn: async (t) => {
      const cli = await get();
      console.log(`CLI: ${cli.version} (${cli.bin})`);
      await withTempDir(async (dir) => {
        const ws = new Workspace(cli, dir);
        await ws.init(PROVIDER_SOURCE_DIR);
        await fullLifecycle(t, cli, ws);
      });
    },
  });

  Deno.test({
    name: name("TF_DISABLE_PLUGIN_TLS=1 (plaintext): plan, apply, plan, destroy"),
    ignore: missing !== undefined,
    fn: withCli(async (cli, dir) => {
      const ws = new Workspace(cli, dir, { TF_DISABLE_PLUGIN_TLS: "1" });
      await ws.init(PROVIDER_SOURCE_DIR);
      await shortLifecycle(ws, checked(ws, SOURCE_MARKER));
    }),
  });

  Deno.test({
    name: name("the bundled single file (#!/usr/bin/env -S deno run): plan, apply, plan, destroy"),
    ignore: missing !== undefined,
    fn: withCli(async (cli, dir) => {
      // A TMPDIR of Deno.makeTempDir()'s short name, and deno from the PATH: the "#!" line
      // names TMPDIR twice in the 255 bytes Linux reads, and has room for bundle.ts's start
      // flags only with a short one.
      const tmp = await Deno.makeTempDir();
      try {
        const ws = new Workspace(cli, `${dir}/work`, { TMPDIR: tmp });
        const bundleDir = `${dir}/bundle`;
        await Deno.mkdir(ws.dir);
        await Deno.mkdir(bundleDir);
        const exe = await bundleProvider(bundleDir, { socketDir: ws.tmp });
        const text = await Deno.readTextFile(exe);
        assert(!/\bimport\(/.test(text), "the bundle has a dynamic import");
        const line = text.slice(0, text.indexOf("\n"));
        assert(START_FLAGS.every((f) => line.includes(` ${f} `)), `start flags missing: ${line}`);
        // Deno looks for a config from the script's directory up: a broken one above the
        // executable (a user's Deno project holding it) must not reach the bundle.
        await Deno.writeTextFile(`${dir}/deno.json`, "{ not json");
        await ws.init(bundleDir);
        await shortLifecycle(ws, checked(ws, exe));
      } finally {
        await Deno.remove(tmp, { recursive: true });
      }
    }),
  });

  Deno.test({
    name: name("debug mode: attached through TF_REATTACH_PROVIDERS: plan, apply, plan, destroy"),
    ignore: missing !== undefined,
    fn: withCli(async (cli, dir) => {
      // No dev_overrides directory holds an executable: Terraform may not launch one.
      const empty = `${dir}/no-provider`;
      await Deno.mkdir(empty);
      const ws0 = new Workspace(cli, dir);
      await ws0.init(empty);
      const debug = await startDebug(ws0);
      let status: Deno.CommandStatus;
      let output: string;
      try {
        const attached = JSON.parse(debug.reattach) as Record<
          string,
          { Pid: number; Test: boolean; Addr: { String: string } }
        >;
        assertEquals(Object.keys(attached), [PROVIDER_ADDRESS]);
        const { Pid, Test, Addr } = attached[PROVIDER_ADDRESS];
        assertEquals(Test, true);
        const socket = Addr.String.slice(ws0.tmp.length + 1);
        const ws = new Workspace(cli, dir, { TF_REATTACH_PROVIDERS: debug.reattach });
        await shortLifecycle(
          ws,
          checked(ws, SOURCE_MARKER, { pids: [Pid], files: () => [socket] }),
        );
        assert(
          (await processesMatching(SOURCE_MARKER)).some((l) => Number(l.split(" ")[0]) === Pid),
          "the debug-mode provider stopped after the CLI's commands",
        );
      } finally {
        // Stopped by hand, as a user would (Ctrl-C); awaited even when a check failed.
        debug.child.kill("SIGINT");
        status = await debug.child.status;
        output = await debug.output;
      }
      assertEquals(status.code, 0, output);
      assertEquals(leftovers(ws0.tmp), [], "the debug-mode provider left its socket behind");
      assertEquals(await processesMatching(SOURCE_MARKER), []);
    }),
  });
}
