/**
 * The Terraform rows of the benchmarks: whole-process wall time of
 * `terraform plan` and `terraform apply -auto-approve` for one resource, with
 * our example provider (examples/terraform/, from its launcher and bundled)
 * and with a Go provider, hashicorp/terraform-provider-time v0.14.2
 * (resource `time_static`, built from the Go module proxy), each through a
 * dev_overrides CLI configuration, AutoMTLS on (Terraform's default) and off
 * (`TF_DISABLE_PLUGIN_TLS=1`). Also, from one more `TF_LOG=debug` run of
 * plan, apply and destroy: how many times Terraform launched the provider,
 * and per launch the time from spawn to the handshake and from the handshake
 * to the process's exit (go-plugin's own log lines, ms resolution).
 *
 * Run by bench/run.ts (`deno task bench`, `--smoke`, or `--terraform` for this
 * section alone). Never asserts a timing; fails only when a provider does not
 * work at all.
 *
 * @module
 */

import { bundleProvider } from "../examples/terraform/bundle.ts";
import { terraformProviderTime } from "../tests/_util/peers.ts";
import {
  type Cli,
  CliUnavailableError,
  PROVIDER_SOURCE_DIR,
  terraformCli,
  Workspace,
} from "../tests/interop/terraform_cli.ts";
import { distOf } from "./_stats.ts";
import { ratio } from "./_table.ts";

/** The Go provider's source address. */
const TIME_ADDRESS = "registry.terraform.io/hashicorp/time";

/** One provider form in one TLS mode. */
interface Row {
  id: string;
  label: string;
  go: boolean;
  tls: boolean;
  /** A baseline revision's tree (its launcher, or its bundle): `--baseline`. */
  root?: string;
}

/** Another revision of this repository, measured beside this one (`--baseline`). */
export interface TerraformBaseline {
  /** The revision, for the label. */
  rev: string;
  /** Its extracted tree, with a trailing slash. */
  root: string;
}

const ROWS: Row[] = [
  { id: "go", label: "Go: terraform-provider-time v0.14.2 (time_static)", go: true, tls: true },
  { id: "deno-run", label: "Deno: launcher (deno run main.ts)", go: false, tls: true },
  { id: "deno-bundle", label: "Deno: bundled single file", go: false, tls: true },
  {
    id: "go-plain",
    label: "Go: terraform-provider-time v0.14.2 (time_static)",
    go: true,
    tls: false,
  },
  { id: "deno-run-plain", label: "Deno: launcher (deno run main.ts)", go: false, tls: false },
  { id: "deno-bundle-plain", label: "Deno: bundled single file", go: false, tls: false },
];

const GO_CONFIG = `terraform {
  required_providers {
    time = { source = "${TIME_ADDRESS}" }
  }
}
resource "time_static" "t" {}
`;

const DENO_CONFIG = `terraform {
  required_providers {
    example = { source = "registry.terraform.io/rpcplugin/example" }
  }
}
provider "example" {
  directory = "entries"
}
resource "example_entry" "e" {
  name  = "bench"
  value = "v"
}
`;

/** What the TF_LOG=debug run of one command showed. */
interface LaunchLog {
  launches: number;
  /** "plugin started" to "using plugin" (the handshake line read), per launch. */
  handshakeMs: number[];
  /** "using plugin" to "plugin exited", per launch: the calls and the shutdown. */
  sessionMs: number[];
}

/** Reads go-plugin's lines in a TF_LOG file: one launch is started, using, exited. */
export function parseLaunchLog(text: string): LaunchLog {
  const out: LaunchLog = { launches: 0, handshakeMs: [], sessionMs: [] };
  let started: number | undefined;
  let using: number | undefined;
  for (const line of text.split("\n")) {
    const ts = Date.parse(line.slice(0, 24));
    if (line.includes("provider: starting plugin:")) out.launches++;
    else if (line.includes("provider: plugin started:")) started = ts;
    else if (line.includes("provider: using plugin:") && started !== undefined) {
      using = ts;
      out.handshakeMs.push(ts - started);
      started = undefined;
    } else if (line.includes("provider: plugin exited") && using !== undefined) {
      out.sessionMs.push(ts - using);
      using = undefined;
    }
  }
  return out;
}

/** A measured row. */
interface Result {
  row: Row;
  error?: string;
  planMs: number[];
  applyMs: number[];
  launches: Record<"plan" | "apply" | "destroy", number>;
  handshakeMs: number[];
  sessionMs: number[];
}

function median(xs: number[]): number | undefined {
  return distOf(xs)?.median;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** The section's text, and whether any provider failed outright. */
export interface TerraformSection {
  lines: string[];
  failures: string[];
}

/**
 * Measures the rows and renders the section.
 *
 * @param work A scratch directory (removed by the caller).
 * @param reps Timed runs of plan and of apply per row (5; 1 for --smoke).
 * @param status Progress output.
 * @returns The markdown lines and the outright failures.
 */
export async function terraformSection(
  work: string,
  reps: number,
  status: (message: string) => void,
  baselines: readonly TerraformBaseline[] = [],
): Promise<TerraformSection> {
  // Terraform's TMPDIR, short: the bundle's "#!" line names it twice in the 255 bytes Linux
  // reads, and one under `work` would leave no room for the bundle's start flags.
  const tmp = await Deno.makeTempDir();
  try {
    return await measure(work, tmp, reps, status, baselines);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/**
 * {@linkcode terraformSection} with Terraform's TMPDIR.
 *
 * @param work A scratch directory.
 * @param tmp Terraform's TMPDIR, the bundles' socket directory.
 * @param reps See {@linkcode terraformSection}.
 * @param status Progress output.
 * @param baselines The baselines' trees.
 * @returns The markdown lines and the outright failures.
 */
async function measure(
  work: string,
  tmp: string,
  reps: number,
  status: (message: string) => void,
  baselines: readonly TerraformBaseline[],
): Promise<TerraformSection> {
  let cli: Cli;
  try {
    cli = await terraformCli();
  } catch (err) {
    if (!(err instanceof CliUnavailableError)) throw err;
    return {
      lines: ["Terraform: not measured: " + err.message, ""],
      failures: [],
    };
  }
  status(`== Terraform rows (${cli.version}, ${reps} timed run${reps > 1 ? "s" : ""} each)`);
  const failures: string[] = [];
  const [timeBin, bundleDir] = await Promise.allSettled([
    terraformProviderTime(),
    (async () => {
      const dir = `${work}/tf-bundle`;
      await Deno.mkdir(dir, { recursive: true });
      // deno from the PATH: a full path can push the "#!" line over the 255 bytes Linux reads.
      await bundleProvider(dir, { socketDir: tmp });
      return dir;
    })(),
  ]);

  // A baseline's rows (AutoMTLS: what a change to the plugin's start-up moves), its bundle
  // made with its own bundle.ts.
  const rows: Row[] = [...ROWS];
  const baseBundles = new Map<string, Promise<string>>();
  for (const [i, b] of baselines.entries()) {
    const id = `deno-base${i}`;
    rows.push(
      { id: `${id}-run`, label: `Deno: launcher @ ${b.rev}`, go: false, tls: true, root: b.root },
      { id: `${id}-bundle`, label: `Deno: bundle @ ${b.rev}`, go: false, tls: true, root: b.root },
    );
    const dir = `${work}/tf-bundle-${id}`;
    const made = (async () => {
      await Deno.mkdir(dir, { recursive: true });
      const res = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${b.root}examples/terraform/bundle.ts`,
          dir,
          `--socket-dir=${tmp}`,
        ],
        cwd: b.root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!res.success) throw new Error(new TextDecoder().decode(res.stderr));
      return dir;
    })();
    made.catch(() => {});
    baseBundles.set(`${id}-bundle`, made);
  }

  const results: Result[] = [];
  const spaces = new Map<string, Workspace>();
  for (const row of rows) {
    const result: Result = {
      row,
      planMs: [],
      applyMs: [],
      launches: { plan: 0, apply: 0, destroy: 0 },
      handshakeMs: [],
      sessionMs: [],
    };
    results.push(result);
    const dep = row.go ? timeBin : row.id.startsWith("deno-bundle") ? bundleDir : undefined;
    if (dep?.status === "rejected") {
      result.error = `could not be set up: ${(dep.reason as Error).message}`;
      continue;
    }
    let baseBundle: string | undefined;
    try {
      baseBundle = await baseBundles.get(row.id);
    } catch (err) {
      result.error = `could not be set up: ${(err as Error).message}`;
      continue;
    }
    const dir = `${work}/tf-${row.id}`;
    await Deno.mkdir(dir, { recursive: true });
    // Every row's TMPDIR is one directory, the one the bundle's flags name.
    const ws = new Workspace(cli, dir, {
      TMPDIR: tmp,
      ...(row.tls ? {} : { TF_DISABLE_PLUGIN_TLS: "1" }),
    });
    if (row.go) {
      const bin = (timeBin as PromiseFulfilledResult<string>).value;
      await ws.init(PROVIDER_SOURCE_DIR, { [TIME_ADDRESS]: bin.slice(0, bin.lastIndexOf("/")) });
    } else {
      await ws.init(
        baseBundle ??
          (row.root
            ? `${row.root}examples/terraform`
            : row.id.startsWith("deno-bundle")
            ? (bundleDir as PromiseFulfilledResult<string>).value
            : PROVIDER_SOURCE_DIR),
      );
    }
    await ws.config(row.go ? GO_CONFIG : DENO_CONFIG);
    spaces.set(row.id, ws);
  }

  const reset = async (ws: Workspace) => {
    for (const f of ["terraform.tfstate", "terraform.tfstate.backup", "entries"]) {
      await Deno.remove(`${ws.dir}/${f}`, { recursive: true }).catch(() => {});
    }
  };
  // Round robin, so that a noisy neighbour hurts every row alike.
  for (let i = 0; i < reps; i++) {
    for (const r of results) {
      const ws = spaces.get(r.row.id);
      if (!ws || r.error) continue;
      await reset(ws);
      const plan = await ws.run(["plan"]);
      const apply = await ws.run(["apply", "-auto-approve"]);
      for (const run of [plan, apply]) {
        if (run.code !== 0 && !r.error) {
          r.error = `${run.command} exited ${run.code}: ${
            run.output.trim().split("\n").slice(-3).join(" ")
          }`;
        }
      }
      r.planMs.push(plan.ms);
      r.applyMs.push(apply.ms);
    }
  }
  // One more of each command with go-plugin's debug log, untimed.
  for (const r of results) {
    const ws = spaces.get(r.row.id);
    if (!ws || r.error) continue;
    await reset(ws);
    for (const cmd of ["plan", "apply", "destroy"] as const) {
      const log = `${ws.dir}/tf-${cmd}.log`;
      const run = await ws.run(cmd === "plan" ? [cmd] : [cmd, "-auto-approve"], {
        TF_LOG: "debug",
        TF_LOG_PATH: log,
      });
      if (run.code !== 0) r.error ??= `${run.command} exited ${run.code}`;
      const parsed = parseLaunchLog(await Deno.readTextFile(log));
      r.launches[cmd] = parsed.launches;
      r.handshakeMs.push(...parsed.handshakeMs);
      r.sessionMs.push(...parsed.sessionMs);
    }
  }

  const goOf = (tls: boolean) => results.find((r) => r.row.go && r.row.tls === tls && !r.error);
  const cell = (r: Result, pick: (r: Result) => number[]) => {
    const m = median(pick(r));
    if (m === undefined) return "n/a";
    const go = goOf(r.row.tls);
    const g = go && !r.row.go ? median(pick(go)) : undefined;
    return g ? `${seconds(m)} (${ratio(m / g)}× Go)` : seconds(m);
  };
  const ms = (xs: number[]) => {
    const m = median(xs);
    return m === undefined ? "n/a" : `${m.toFixed(0)} ms`;
  };
  const lines = [
    `Terraform: ${cli.version}, one resource, dev_overrides (no init), whole-process wall time, ` +
    `median of ${reps}.`,
    "",
    "| provider | AutoMTLS | plan | apply | launches (plan / apply / destroy) | spawn → handshake p50 | handshake → exit p50 |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    if (r.error) {
      failures.push(`Terraform, ${r.row.label} (AutoMTLS ${r.row.tls ? "on" : "off"}): ${r.error}`);
    }
    lines.push(
      `| ${r.row.label} | ${r.row.tls ? "on" : "off"} | ${
        r.error ? `n/a: ${r.error}` : cell(r, (x) => x.planMs)
      } | ${r.error ? "" : cell(r, (x) => x.applyMs)} | ${
        r.error ? "" : `${r.launches.plan} / ${r.launches.apply} / ${r.launches.destroy}`
      } | ${r.error ? "" : ms(r.handshakeMs)} | ${r.error ? "" : ms(r.sessionMs)} |`,
    );
  }
  lines.push("");
  for (const tls of [true, false]) {
    const go = goOf(tls);
    if (!go) continue;
    for (const r of results.filter((x) => !x.row.go && x.row.tls === tls && !x.error)) {
      const parts = (["plan", "apply"] as const).map((cmd) => {
        const pick = (x: Result) => cmd === "plan" ? x.planMs : x.applyMs;
        const x = median(pick(r))! / median(pick(go))!;
        return `${cmd} ${ratio(x)}× (${x <= 1.5 ? "met" : "missed"})`;
      });
      const gap = (median(r.handshakeMs) ?? 0) - (median(go.handshakeMs) ?? 0);
      lines.push(
        `Target ≤ 1.5× the Go provider, ${r.row.label}, AutoMTLS ${tls ? "on" : "off"}: ` +
          `${parts.join(", ")}; spawn → handshake ${gap >= 0 ? "+" : ""}${
            gap.toFixed(0)
          } ms per launch ` +
          `over Go, × ${r.launches.plan} launches per plan.`,
      );
    }
  }
  lines.push("");
  return { lines, failures };
}
