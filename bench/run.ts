/**
 * Benchmarks against the peers, measured side by side: `deno task bench`.
 *
 * Builds the Go benchmark host (bench/driver, a real go-plugin v1.8 host),
 * go-plugin's own Go KV plugin, a Python KV plugin on pyvider-rpcplugin (in a
 * venv under .cache/bench/) and a bundle of our Deno KV plugin; lets the
 * driver launch and measure every plugin over unix sockets with AutoMTLS off
 * and on; then measures the hosts: go-plugin's (the same driver) and ours
 * (bench/host_driver.ts, the same phases and counts), back to back, both on
 * go-plugin's Go KV plugin. Prints two markdown tables, plugins and hosts,
 * never asserting a timing.
 *
 * ```sh
 * deno task bench            # the full run (several minutes)
 * deno task bench --smoke    # tiny counts, for CI
 * deno task bench --hosts    # only the host rows (under a minute)
 * deno task bench --terraform  # only the Terraform rows (bench/terraform.ts)
 * deno task bench --startup  # only the start-up rows (bench/_startup.ts), native engine
 * ```
 *
 * Options: `--smoke`; `--hosts`; `--terraform`; `--python=PATH` (or `BENCH_PYTHON`), the
 * interpreter the venv is made with (3.11+, default `python3`). The driver's
 * raw JSON is kept in .cache/bench/results[-smoke].json (the hosts' in
 * results-host[-smoke].json), the tables in table[-smoke][-hosts].md.
 *
 * Exits 1 only when a plugin or a host fails outright (does not build, start
 * or answer its first call); figures a plugin cannot give are printed as n/a
 * with the reason.
 *
 * @module
 */

import { DENO, pluginFlags, ROOT } from "../tests/_util/plugin.ts";
import {
  BENCH_CACHE,
  buildDriver,
  buildGoPlugin,
  bundlePlugin,
  preparePython,
  type PythonPlugin,
} from "./_setup.ts";
import {
  type DriverOutput,
  type DriverResult,
  ratio,
  renderTable,
  type TargetInfo,
} from "./_table.ts";
import { type DriverConfig, hostFlags } from "./host_driver.ts";
import { terraformSection } from "./terraform.ts";
import { startupRows } from "./_startup.ts";

/** The gRPC engines our library has, each with its KV plugin script. */
const DENO_ENGINES = {
  native: "examples/kv/plugin.ts",
  "grpc-js": "examples/kv/plugin_grpcjs.ts",
} as const;

/** Counts of one run. */
interface Counts {
  launches: number;
  warmupCalls: number;
  latencyCalls: number;
  throughputCalls: number;
  concurrency: number[];
  payloads: number[];
  payloadReps: number;
  startTimeoutSec: number;
  callTimeoutSec: number;
}

const MiB = 1 << 20;

/** AutoMTLS off, then on. */
const MODES = [false, true];

const FULL: Counts = {
  launches: 20,
  warmupCalls: 500,
  latencyCalls: 10_000,
  throughputCalls: 20_000,
  concurrency: [1, 16, 64],
  payloads: [1 * MiB, 16 * MiB],
  payloadReps: 5,
  startTimeoutSec: 60,
  callTimeoutSec: 60,
};

const SMOKE: Counts = {
  launches: 2,
  warmupCalls: 20,
  latencyCalls: 200,
  throughputCalls: 200,
  concurrency: [1, 16, 64],
  payloads: [64 * 1024, 1 * MiB],
  payloadReps: 2,
  startTimeoutSec: 30,
  callTimeoutSec: 30,
};

type DriverTarget = DriverConfig["targets"][number];
type DriverReference = DriverConfig["references"][number];

/** The host rows: go-plugin's host and ours, on go-plugin's Go KV plugin. */
const HOSTS: Record<string, TargetInfo> = {
  "host-go": { label: "Go: go-plugin v1.8.0 host (bench/driver)", engine: "grpc-go", role: "go" },
  "host-deno": {
    label: "Deno: host/mod.ts launch() (bench/host_driver.ts)",
    engine: "native (h2/, rpc/)",
    role: "deno",
  },
};

/**
 * The host table's columns: the plugin's RSS and CPU are the same plugin's
 * under both hosts (and our host does not read them).
 */
const hostColumns = (header: string) => !header.includes("RSS") && !header.startsWith("CPU");

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function status(message: string) {
  console.error(message);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** nproc, CPU model, memory and kernel, as the driver read them from /proc. */
function machine(host: DriverOutput["host"]): string {
  return `${host.cpus} CPUs (nproc), ${host.cpuModel || "unknown CPU"}, ` +
    `${(host.memTotalKB / 1024 / 1024).toFixed(1)} GiB memory, Linux ${host.kernel || "?"}`;
}

/** Timed runs of each Terraform command per provider in a full run (`--smoke`: 1). */
const TERRAFORM_REPS = 5;

/** `--terraform`: only the Terraform rows. */
async function terraformOnly(smoke: boolean): Promise<number> {
  const work = await Deno.makeTempDir({ dir: "/tmp", prefix: "rpcplugin-bench-" });
  try {
    const tf = await terraformSection(work, smoke ? 1 : TERRAFORM_REPS, status);
    const text = tf.lines.join("\n");
    await Deno.mkdir(BENCH_CACHE, { recursive: true });
    await Deno.writeTextFile(
      `${BENCH_CACHE}table${smoke ? "-smoke" : ""}-terraform.md`,
      text + "\n",
    );
    console.log(text);
    for (const f of tf.failures) console.error(`- ${f}`);
    return tf.failures.length ? 1 : 0;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function main(): Promise<number> {
  const smoke = Deno.args.includes("--smoke");
  if (Deno.args.includes("--terraform")) return await terraformOnly(smoke);
  const hostsOnly = Deno.args.includes("--hosts");
  // --startup: the start phase only (no sessions, no Python, no hosts, no Terraform).
  const startupOnly = !hostsOnly && Deno.args.includes("--startup");
  const counts = smoke ? SMOKE : FULL;
  const python = option("python") ?? Deno.env.get("BENCH_PYTHON") ?? "python3";
  const began = performance.now();
  const failures: string[] = [];

  // A short path: unix socket paths must stay under 108 bytes.
  const work = await Deno.makeTempDir({ dir: "/tmp", prefix: "rpcplugin-bench-" });
  try {
    const sock = `${work}/sock`;
    await Deno.mkdir(sock);
    const dirOf = async (id: string) => {
      const dir = `${work}/${id}`;
      await Deno.mkdir(dir, { recursive: true });
      return dir;
    };

    status(`== building (${smoke ? "smoke" : "full"} run)`);
    const engines = Object.entries(DENO_ENGINES).filter(([e]) => !startupOnly || e === "native");
    const [driver, goPlugin, py, ...bundles] = await Promise.allSettled([
      buildDriver(),
      buildGoPlugin(),
      hostsOnly || startupOnly
        ? Promise.reject(new Error(`not with --${hostsOnly ? "hosts" : "startup"}`))
        : preparePython(python),
      ...(hostsOnly
        ? []
        : engines.map(async ([engine, script]) =>
          bundlePlugin(script, await dirOf(`bundle-${engine}`))
        )),
    ]);
    if (driver.status === "rejected") {
      console.error(`The benchmark host did not build: ${errorText(driver.reason)}`);
      return 1;
    }
    status(`   setup took ${((performance.now() - began) / 1000).toFixed(1)} s`);
    const env = { TMPDIR: sock };
    const built = <T>(r: PromiseSettledResult<T>, what: string): T | Error =>
      r.status === "fulfilled"
        ? r.value
        : new Error(`${what} could not be set up: ${errorText(r.reason)}`);
    const goBin = built(goPlugin, "the Go plugin");
    const suffix = smoke ? "-smoke" : "";
    await Deno.mkdir(BENCH_CACHE, { recursive: true });
    const lines: string[] = [];
    let pyInfo: PythonPlugin | undefined;

    if (!hostsOnly) {
      // Every plugin under test, in table order; one that could not be set up
      // keeps its row, with the reason.
      const targets: DriverTarget[] = [];
      const info: Record<string, TargetInfo> = {};
      const setupErrors: Record<string, string> = {};
      const add = async (
        id: string,
        about: TargetInfo,
        argv: (dir: string) => string[] | Error,
        extraEnv: Record<string, string> = {},
      ) => {
        info[id] = about;
        const dir = await dirOf(id);
        const cmd = argv(dir);
        if (cmd instanceof Error) setupErrors[id] = cmd.message;
        else targets.push({ id, argv: cmd, dir, env: { ...env, ...extraEnv } });
      };
      await add(
        "go",
        { label: "Go: go-plugin plugin-go-grpc", engine: "grpc-go", role: "go" },
        () => goBin instanceof Error ? goBin : [goBin],
      );
      const pyPlugin = built(py, "the Python plugin");
      pyInfo = pyPlugin instanceof Error ? undefined : pyPlugin;
      if (!startupOnly) {
        await add(
          "python",
          { label: "Python: pyvider-rpcplugin 0.5.5", engine: "grpcio (C core)", role: "python" },
          () =>
            pyPlugin instanceof Error
              ? pyPlugin
              : [pyPlugin.python, `${ROOT}bench/python/kv_plugin.py`],
          pyPlugin instanceof Error ? {} : { PYTHONPATH: pyPlugin.pythonPath },
        );
      }
      for (const [i, [engine, script]] of engines.entries()) {
        const bundled = built(bundles[i] as PromiseSettledResult<string>, "the Deno bundle");
        await add(
          `deno-run-${engine}`,
          {
            label: `Deno: deno run ${script.slice(script.lastIndexOf("/") + 1)}`,
            engine,
            role: "deno",
          },
          (dir) => [DENO, "run", ...pluginFlags([sock, dir]), `${ROOT}${script}`],
        );
        await add(
          `deno-bundle-${engine}`,
          { label: "Deno: deno run kv-plugin.js (bundle)", engine, role: "deno" },
          (dir) =>
            bundled instanceof Error
              ? bundled
              : [DENO, "run", ...pluginFlags([sock, dir]), bundled],
        );
      }
      const order = Object.keys(info);

      const refDir = await dirOf("ref");
      const refFlags = pluginFlags([sock, refDir]);
      const references: DriverReference[] = [
        {
          id: "deno-empty",
          argv: [DENO, "run", ...refFlags, `${ROOT}bench/fixtures/empty.ts`],
          dir: refDir,
          env,
          until: "exit",
        },
        {
          id: "deno-idle",
          argv: [DENO, "run", ...refFlags, `${ROOT}bench/fixtures/idle.ts`],
          dir: refDir,
          env,
          until: "line",
        },
        {
          id: "deno-tls-floor",
          argv: [DENO, "run", ...refFlags, `${ROOT}bench/fixtures/tls_floor.ts`],
          dir: refDir,
          env,
          until: "line",
        },
      ];
      const refLabels: Record<string, string> = {
        "deno-empty": "reference: empty deno run (spawn → exit)",
        "deno-idle": "reference: idle deno run (spawn → first line)",
        "deno-tls-floor": "reference: P-256 key + node:tls, then a line (spawn → line)",
      };

      const configPath = `${work}/config.json`;
      const config: DriverConfig = {
        targets,
        references,
        automtls: MODES,
        ...counts,
        startOnly: startupOnly,
      };
      await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
      status(`== measuring ${targets.length} plugins, AutoMTLS off and on`);
      const run = await new Deno.Command(driver.value, {
        args: ["-config", configPath],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!run.success) {
        console.error(`The benchmark host failed (exit ${run.code}).`);
        return 1;
      }
      const out: DriverOutput = JSON.parse(new TextDecoder().decode(run.stdout));
      await Deno.writeTextFile(`${BENCH_CACHE}results${suffix}.json`, JSON.stringify(out, null, 2));

      for (const [id, error] of Object.entries(setupErrors)) {
        for (const automtls of MODES) {
          (out.results ??= []).push({ target: id, automtls, ok: false, error });
        }
      }
      const results = (out.results ?? []).sort((a, b) =>
        Number(a.automtls) - Number(b.automtls) || order.indexOf(a.target) - order.indexOf(b.target)
      );
      out.results = results;
      const { table, notes } = renderTable(out, info, refLabels);
      const startup = startupRows(out, info);
      for (const r of results) {
        if (!r.ok) {
          failures.push(`${info[r.target]?.label ?? r.target} (AutoMTLS ${onOff(r)}): ${r.error}`);
        }
      }
      for (const ref of out.references ?? []) {
        if (!ref.ok) failures.push(`${refLabels[ref.id] ?? ref.id}: ${ref.error}`);
      }
      lines.push(
        ...(startupOnly ? [] : [table, ""]),
        ...(startupOnly ? [] : notes.map((n) => `n/a ${n}`)),
        ...loadErrors(results, info),
        ...seeded(results, info),
        ...(startupOnly ? [] : targetsVsFloor(out, info)),
        "",
        ...startup,
        `Machine: ${machine(out.host)}.`,
        `Host: bench/driver on go-plugin ${out.host.goPlugin}, grpc-go ${out.host.grpcGo}, ` +
          `${out.host.goVersion}; Deno ${Deno.version.deno}` +
          (pyInfo ? `; ${pyInfo.version}` : "") + ".",
        (startupOnly
          ? `Counts: ${counts.launches} launches per plugin and mode (start phase only). `
          : `Counts: ${counts.launches} launches per plugin and mode; ${counts.latencyCalls} ` +
            `sequential Gets; ${counts.throughputCalls} Gets per concurrency level; ` +
            `${counts.payloadReps} Puts and Gets per payload. `) +
          `Ratios: this row / the Go (Python) plugin's row in the same AutoMTLS mode. ` +
          `Measured in ${out.seconds.toFixed(0)} s.`,
        "",
      );
    }

    if (!startupOnly) {
      // The hosts, back to back on one configuration: go-plugin's, then ours.
      const hostDir = await dirOf("host-kvgo");
      const hostConfigPath = `${work}/host-config.json`;
      const hostConfig: DriverConfig = {
        targets: goBin instanceof Error ? [] : [{ id: "kvgo", argv: [goBin], dir: hostDir, env }],
        references: [],
        automtls: MODES,
        ...counts,
      };
      await Deno.writeTextFile(hostConfigPath, JSON.stringify(hostConfig, null, 2));
      const hosts = goBin instanceof Error
        ? hostsNotRun(goBin.message)
        : await measureHosts(driver.value, goBin, hostConfigPath, [sock, hostDir, hostConfigPath]);
      await Deno.writeTextFile(
        `${BENCH_CACHE}results-host${suffix}.json`,
        JSON.stringify(hosts, null, 2),
      );
      const hostTable = renderTable(hosts, HOSTS, {}, { subject: "host", columns: hostColumns });
      for (const r of hosts.results ?? []) {
        if (!r.ok) {
          failures.push(`${HOSTS[r.target]?.label ?? r.target} (AutoMTLS ${onOff(r)}): ${r.error}`);
        }
      }

      lines.push(
        "Host side: go-plugin's Go KV plugin, launched and called by go-plugin's host and by ours.",
        "",
        hostTable.table,
        "",
        ...hostTable.notes.map((n) => `n/a ${n}`),
        ...loadErrors(hosts.results ?? [], HOSTS),
        ...seeded(hosts.results ?? [], HOSTS),
        ...hostTargets(hosts),
        "",
        ...(hostsOnly ? [`Machine: ${machine(hosts.host)}.`] : []),
        `Hosts: go-plugin ${hosts.host.goPlugin}, grpc-go ${hosts.host.grpcGo}, ` +
          `${hosts.host.goVersion}; ours on Deno ${Deno.version.deno}, under ` +
          `\`deno run ${hostFlags(["<plugin>"], ["<TMPDIR>", "<work dir>"]).join(" ")}\`. ` +
          `Both read one configuration (${counts.launches} launches per mode, ` +
          `${counts.latencyCalls} sequential Gets, ${counts.throughputCalls} Gets per ` +
          `concurrency level, ${counts.payloadReps} Puts and Gets per payload) and run back to ` +
          `back, go-plugin's first, measured in ${hosts.seconds.toFixed(0)} s. Ratios: our ` +
          `host's row / go-plugin's host's row in the same AutoMTLS mode. The whole run took ` +
          `${((performance.now() - began) / 1000).toFixed(0)} s.`,
      );
    }
    if (!hostsOnly && !startupOnly) {
      // The Terraform rows: a section of their own (bench/terraform.ts).
      const tf = await terraformSection(work, smoke ? 1 : TERRAFORM_REPS, status);
      lines.push("", ...tf.lines);
      failures.push(...tf.failures);
    }
    const text = lines.join("\n");
    await Deno.writeTextFile(
      `${BENCH_CACHE}table${suffix}${hostsOnly ? "-hosts" : startupOnly ? "-startup" : ""}.md`,
      text + "\n",
    );
    console.log(text);

    if (failures.length > 0) {
      console.error(`\nFailed outright (${failures.length}):`);
      for (const f of failures) console.error(`- ${f}`);
      return 1;
    }
    return 0;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** Results of both hosts that could not run, with the reason. */
function hostsNotRun(error: string): DriverOutput {
  return {
    host: {
      goVersion: "",
      goPlugin: "",
      grpcGo: "",
      cpus: 0,
      cpuModel: "",
      memTotalKB: 0,
      kernel: "",
    },
    results: Object.keys(HOSTS).flatMap((target) =>
      MODES.map((automtls) => ({ target, automtls, ok: false, error }))
    ),
    references: [],
    seconds: 0,
    config: {
      concurrency: [],
      payloads: [],
      launches: 0,
      latencyCalls: 0,
      throughputCalls: 0,
      payloadReps: 0,
    },
  };
}

/**
 * Runs go-plugin's host (bench/driver), then ours (bench/host_driver.ts) on
 * one configuration, and merges their outputs: target `host-go`, then
 * `host-deno`. Both make their plugins' socket directories in `dirs[0]`.
 */
async function measureHosts(
  driver: string,
  plugin: string,
  configPath: string,
  dirs: string[],
): Promise<DriverOutput> {
  const env = { TMPDIR: dirs[0] };
  const runOne = async (
    target: string,
    label: string,
    cmd: string,
    args: string[],
  ): Promise<DriverOutput | string> => {
    status(`== measuring the hosts: ${label}`);
    const res = await new Deno.Command(cmd, {
      args,
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!res.success) return `${label} failed (exit ${res.code})`;
    const out: DriverOutput = JSON.parse(new TextDecoder().decode(res.stdout));
    for (const r of out.results ?? []) r.target = target;
    return out;
  };
  const go = await runOne("host-go", "go-plugin's host", driver, ["-config", configPath]);
  const deno = await runOne("host-deno", "our host", DENO, [
    "run",
    ...hostFlags([plugin], dirs),
    `${ROOT}bench/host_driver.ts`,
    "-config",
    configPath,
  ]);
  const failed = (target: string, error: string): DriverResult[] =>
    MODES.map((automtls) => ({ target, automtls, ok: false, error }));
  const base = typeof go === "string" ? hostsNotRun(go) : go;
  return {
    ...base,
    results: [
      ...(typeof go === "string" ? failed("host-go", go) : go.results ?? []),
      ...(typeof deno === "string" ? failed("host-deno", deno) : deno.results ?? []),
    ].sort((a, b) => Number(a.automtls) - Number(b.automtls)),
    seconds: (typeof go === "string" ? 0 : go.seconds) +
      (typeof deno === "string" ? 0 : deno.seconds),
  };
}

/** The host targets: Get/s at c=64 ≥ 1.0× go-plugin's host, start ≤ 1.5×. */
function hostTargets(out: DriverOutput): string[] {
  const lines: string[] = [];
  for (const automtls of MODES) {
    const pick = (target: string) =>
      out.results?.find((r) => r.target === target && r.automtls === automtls);
    const go = pick("host-go");
    const ours = pick("host-deno");
    if (!go?.ok || !ours?.ok) continue;
    const parts: string[] = [];
    const c64 = (r: DriverResult) =>
      r.session?.throughput?.find((t) => t.concurrency === 64)?.perSecond;
    const [oursTp, goTp] = [c64(ours), c64(go)];
    if (oursTp && goTp) {
      const x = oursTp / goTp;
      parts.push(`Get/s c=64 ${ratio(x)}× (target ≥ 1.0×: ${x >= 1 ? "met" : "missed"})`);
    }
    const [oursStart, goStart] = [ours.startMs?.median, go.startMs?.median];
    if (oursStart && goStart) {
      const x = oursStart / goStart;
      parts.push(`start p50 ${ratio(x)}× (target ≤ 1.5×: ${x <= 1.5 ? "met" : "missed"})`);
    }
    if (parts.length) {
      lines.push(
        `Target: our host / go-plugin's host, AutoMTLS ${automtls ? "on" : "off"}: ${
          parts.join("; ")
        }.`,
      );
    }
  }
  return lines;
}

function onOff(r: DriverResult): string {
  return r.automtls ? "on" : "off";
}

/** Calls that failed while the plugin otherwise worked. */
function loadErrors(results: DriverResult[], info: Record<string, TargetInfo>): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const label = `${info[r.target]?.label ?? r.target} (AutoMTLS ${onOff(r)})`;
    const l = r.session?.latency;
    if (l && l.errors > 0) {
      lines.push(
        `Errors: ${label}: ${l.errors} of ${l.calls} sequential Gets failed: ${l.firstError}`,
      );
    }
    for (const t of r.session?.throughput ?? []) {
      if (t.errors > 0) {
        lines.push(
          `Errors: ${label}: ${t.errors} of ${t.calls} Gets at concurrency ${t.concurrency} failed: ${t.firstError}`,
        );
      }
    }
  }
  return lines;
}

/** Payloads whose Put failed, whose Get was measured on a file the driver wrote. */
function seeded(results: DriverResult[], info: Record<string, TargetInfo>): string[] {
  const lines: string[] = [];
  for (const r of results) {
    for (const p of r.session?.payload ?? []) {
      if (p.seeded) {
        lines.push(
          `Note: ${info[r.target]?.label ?? r.target} (AutoMTLS ${onOff(r)}): the ` +
            `${p.bytes >> 20} MiB Put failed, so the driver wrote the value file itself ` +
            `and Get was measured on it.`,
        );
      }
    }
  }
  return lines;
}

/** The targets: start-up over an empty deno run, RSS over an empty Deno. */
function targetsVsFloor(out: DriverOutput, info: Record<string, TargetInfo>): string[] {
  const idle = out.references?.find((r) => r.id === "deno-idle");
  const empty = out.references?.find((r) => r.id === "deno-empty");
  if (!idle?.ms || !idle.rssKB) return [];
  const lines: string[] = [];
  for (const r of out.results ?? []) {
    if (info[r.target]?.role !== "deno" || !r.startMs || !r.handshakeMs) continue;
    const over = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(1)}`;
    let line = `Floor: ${info[r.target].label}, ${info[r.target].engine} (AutoMTLS ${onOff(r)}) ` +
      "over the idle deno run: " +
      `handshake ${over(r.handshakeMs.median - idle.ms.median)} ms, first call ` +
      `${over(r.startMs.median - idle.ms.median)} ms (issue target: ≤ 15 ms)`;
    if (empty?.ms) {
      line += `; over the empty deno run (to exit): ${over(r.startMs.median - empty.ms.median)} ms`;
    }
    if (r.session?.rssStartKB) {
      line += `; RSS ${over((r.session.rssStartKB - idle.rssKB) / 1024)} MiB over the idle ` +
        `Deno (target: ≤ 10 MB)`;
    }
    lines.push(line + ".");
  }
  return lines;
}

if (import.meta.main) {
  Deno.exit(await main());
}
