/**
 * Benchmarks against the peers, measured side by side: `deno task bench`.
 *
 * Builds the Go benchmark host (bench/driver, a real go-plugin v1.8 host),
 * go-plugin's own Go KV plugin, a Python KV plugin on pyvider-rpcplugin (in a
 * venv under .cache/bench/) and a bundle of our Deno KV plugin; lets the
 * driver launch and measure every plugin over unix sockets with AutoMTLS off
 * and on; then measures the hosts: go-plugin's (the same driver), ours
 * (bench/host_driver.ts) and pyvider-rpcplugin's client
 * (bench/python/host_driver.py), the same phases and counts, back to back,
 * on go-plugin's Go KV plugin, and with AutoMTLS on our Deno KV plugin too
 * (pyvider's client cannot use go-plugin's P-521 certificate). Prints
 * markdown tables, plugins and hosts, never asserting a timing.
 *
 * ```sh
 * deno task bench            # the full run (several minutes)
 * deno task bench --smoke    # tiny counts, for CI
 * deno task bench --hosts    # only the host rows (under a minute)
 * deno task bench --terraform  # only the Terraform rows (bench/terraform.ts)
 * deno task bench --startup  # only the start-up rows (bench/_startup.ts), native engine
 * deno task bench --rounds=9 --round-ms=500  # more, shorter interleaved rounds
 * deno task bench --throughput --baseline=main  # only Go and the native plugin: p50, Get/s
 * ```
 *
 * Options: `--smoke`; `--hosts`; `--terraform`; `--rounds=N` and `--round-ms=N` (the
 * plugin rows' interleaved rounds and each round's time per concurrency level: 5 and
 * 1000 in a full run, 2 and 50 with `--smoke`); `--throughput`: only go-plugin's Go plugin and
 * our native plugin (source, bundle and the baselines), one launch each, no payloads, no
 * Python, grpc-js, hosts or Terraform (the throughput table in about 2 minutes); `--python=PATH` (or `BENCH_PYTHON`), the
 * interpreter the venv is made with (3.11+, default `python3`); `--baseline=REV[,REV...]`:
 * also measure the native plugin (source and bundle) of those git revisions, in the same run
 * (the "before" of a change). The driver's
 * raw JSON is kept in .cache/bench/results[-smoke].json (the hosts' in
 * results-host[-kvdeno][-smoke].json), the tables in table[-smoke][-hosts].md.
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
  benchWorkDir,
  buildDriver,
  buildGoPlugin,
  bundlePlugin,
  checkoutBaseline,
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
import { roundsTable } from "./_rounds.ts";

/** The gRPC engines our library has, each with its KV plugin script. */
const DENO_ENGINES = {
  native: "examples/kv/plugin.ts",
  "grpc-js": "examples/kv/plugin_grpcjs.ts",
} as const;

/** Counts of one run. */
interface Counts {
  launches: number;
  warmupCalls: number;
  /** Sequential Gets per round (the host rows: times `rounds`, in one run). */
  latencyCalls: number;
  /** Gets per concurrency level of the host rows (the plugin rows: `throughputMs`). */
  throughputCalls: number;
  /** How long each round of a concurrency level lasts, plugin rows. */
  throughputMs: number;
  /**
   * Interleaved rounds of the plugin rows: the latency run and each level
   * repeated, every plugin of a mode in turn; figures are medians over them.
   */
  rounds: number;
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
  latencyCalls: 2_000,
  throughputCalls: 20_000,
  throughputMs: 1_000,
  rounds: 5,
  concurrency: [1, 16, 64],
  payloads: [1 * MiB, 16 * MiB],
  payloadReps: 5,
  startTimeoutSec: 60,
  callTimeoutSec: 60,
};

const SMOKE: Counts = {
  launches: 2,
  warmupCalls: 20,
  latencyCalls: 100,
  throughputCalls: 200,
  throughputMs: 50,
  rounds: 2,
  concurrency: [1, 16, 64],
  payloads: [64 * 1024, 1 * MiB],
  payloadReps: 2,
  startTimeoutSec: 30,
  callTimeoutSec: 30,
};

type DriverTarget = DriverConfig["targets"][number];
type DriverReference = DriverConfig["references"][number];

/** The host rows: go-plugin's host, pyvider's and ours, on go-plugin's Go KV plugin. */
const HOSTS: Record<string, TargetInfo> = {
  "host-go": { label: "Go: go-plugin v1.8.0 host (bench/driver)", engine: "grpc-go", role: "go" },
  "host-deno": {
    label: "Deno: host/mod.ts launch() (bench/host_driver.ts)",
    engine: "native (h2/, rpc/)",
    role: "deno",
  },
  "host-python": {
    label: "Python: pyvider-rpcplugin 0.5.5 client (bench/python/host_driver.py)",
    engine: "grpcio (C core)",
    role: "python",
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
    const revs = option("baseline")?.split(",").filter(Boolean) ?? [];
    const baselines = [];
    for (const [i, rev] of revs.entries()) {
      const dir = `${work}/baseline-tree-${i}`;
      await Deno.mkdir(dir);
      baselines.push({ rev, root: await checkoutBaseline(rev, dir) });
    }
    const tf = await terraformSection(work, smoke ? 1 : TERRAFORM_REPS, status, baselines);
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
  // --throughput: Go and the native plugin only, the sessions without the payloads.
  const throughputOnly = !hostsOnly && !startupOnly && Deno.args.includes("--throughput");
  const counts = { ...(smoke ? SMOKE : FULL) };
  if (throughputOnly) Object.assign(counts, { launches: 1, payloads: [] });
  // --rounds=N, --round-ms=N: more (or shorter) rounds on a noisy machine.
  for (const [name, key] of [["rounds", "rounds"], ["round-ms", "throughputMs"]] as const) {
    const v = option(name);
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`--${name}=${v}: give a whole number of at least 1`);
      return 2;
    }
    counts[key] = n;
  }
  const python = option("python") ?? Deno.env.get("BENCH_PYTHON") ?? "python3";
  const began = performance.now();
  const failures: string[] = [];

  const { work, sock, dirOf } = await benchWorkDir("rpcplugin-bench-");
  try {
    status(`== building (${smoke ? "smoke" : "full"} run)`);
    const engines = Object.entries(DENO_ENGINES).filter(([e]) =>
      !(startupOnly || throughputOnly) || e === "native"
    );
    // --baseline=REV[,REV...]: those revisions' native plugin too, extracted and bundled.
    const baselineRevs = hostsOnly ? [] : option("baseline")?.split(",").filter(Boolean) ?? [];
    const baselines = baselineRevs.map(async (rev, i) => {
      const root = await checkoutBaseline(rev, await dirOf(`baseline-tree-${i}`));
      const script = DENO_ENGINES.native;
      return {
        root,
        bundle: await bundlePlugin(script, await dirOf(`bundle-baseline-${i}`), root),
      };
    });
    for (const b of baselines) b.catch(() => {});
    const [driver, goPlugin, py, ...bundles] = await Promise.allSettled([
      buildDriver(),
      buildGoPlugin(),
      startupOnly || throughputOnly
        ? Promise.reject(new Error("not with --startup or --throughput"))
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
    const pyPlugin = built(py, "the Python venv");
    const pyInfo: PythonPlugin | undefined = pyPlugin instanceof Error ? undefined : pyPlugin;

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
      if (!startupOnly && !throughputOnly) {
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
      for (const [i, rev] of baselineRevs.entries()) {
        const base = await baselines[i].then((b) => b, (err) => new Error(errorText(err)));
        const script = DENO_ENGINES.native;
        const name = script.slice(script.lastIndexOf("/") + 1);
        await add(
          `deno-run-native-baseline-${i}`,
          { label: `Deno: deno run ${name} @ ${rev}`, engine: "native", role: "deno" },
          (dir) =>
            base instanceof Error
              ? base
              : [DENO, "run", ...pluginFlags([sock, dir]), `${base.root}${script}`],
        );
        await add(
          `deno-bundle-native-baseline-${i}`,
          { label: `Deno: kv-plugin.js (bundle) @ ${rev}`, engine: "native", role: "deno" },
          (dir) =>
            base instanceof Error ? base : [DENO, "run", ...pluginFlags([sock, dir]), base.bundle],
        );
      }
      const order = Object.keys(info);
      // The plain first-call floor: a start-only stand-in, reported under the start-up rows.
      if (!throughputOnly) {
        const floorDir = await dirOf(FIRST_CALL_FLOOR);
        targets.push({
          id: FIRST_CALL_FLOOR,
          argv: [DENO, "run", ...pluginFlags([sock, floorDir]), FIRST_CALL_FLOOR_SCRIPT],
          dir: floorDir,
          env,
          startOnly: true,
          plainOnly: true,
        });
      }

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
        "deno-tls-floor": "reference: an Ed25519 key and one signature, then a line (spawn → line)",
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
      await Deno.writeTextFile(
        `${BENCH_CACHE}results${suffix}${throughputOnly ? "-throughput" : ""}.json`,
        JSON.stringify(out, null, 2),
      );

      for (const [id, error] of Object.entries(setupErrors)) {
        for (const automtls of MODES) {
          (out.results ??= []).push({ target: id, automtls, ok: false, error });
        }
      }
      const floor = out.results?.find((r) => r.target === FIRST_CALL_FLOOR);
      if (floor && !floor.ok) {
        failures.push(`the first-call floor (${FIRST_CALL_FLOOR_SCRIPT}): ${floor.error}`);
      }
      const results = (out.results ?? []).filter((r) => r.target !== FIRST_CALL_FLOOR).sort((
        a,
        b,
      ) =>
        Number(a.automtls) - Number(b.automtls) || order.indexOf(a.target) - order.indexOf(b.target)
      );
      out.results = results;
      const { table, notes } = renderTable(out, info, refLabels);
      const throughput = roundsTable(out, info);
      const startup = startupRows(out, info, floor);
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
        ...(startupOnly ? [] : ["", ...throughput]),
        "",
        ...startup,
        `Machine: ${machine(out.host)}.`,
        `Host: bench/driver on go-plugin ${out.host.goPlugin}, grpc-go ${out.host.grpcGo}, ` +
          `${out.host.goVersion}; Deno ${Deno.version.deno}` +
          (pyInfo ? `; ${pyInfo.version}` : "") + ".",
        (startupOnly
          ? `Counts: ${counts.launches} launches per plugin and mode (start phase only). `
          : `Counts: ${counts.launches} launches per plugin and mode; ${counts.rounds} ` +
            `interleaved rounds per mode, each ${counts.latencyCalls} sequential Gets and ` +
            `${counts.throughputMs} ms per concurrency level per plugin (Get p50, Get/s and ` +
            `CPU/call in both tables: medians of the ${counts.rounds} rounds; Get p99: of all ` +
            `${counts.rounds * counts.latencyCalls} sequential Gets); ` +
            `${counts.payloadReps} Puts and Gets per payload. `) +
          `Ratios: this row / the Go (Python) plugin's row in the same AutoMTLS mode. ` +
          `Measured in ${out.seconds.toFixed(0)} s.`,
        "",
      );
    }

    if (!startupOnly && !throughputOnly) {
      // The hosts, back to back on one configuration each: go-plugin's, ours, pyvider's.
      // First go-plugin's Go KV plugin in both modes (pyvider's client cannot use its
      // P-521 certificate: AutoMTLS n/a), then our Deno KV plugin with AutoMTLS, the
      // mode pyvider's client can measure only on a plugin that is not go-plugin's.
      const kvgoDir = await dirOf("host-kvgo");
      const kvdenoDir = await dirOf("host-kvdeno");
      const denoScript = `${ROOT}${DENO_ENGINES.native}`;
      const hostRuns: HostRun[] = [
        {
          id: "kvgo",
          title: "Host side: go-plugin's Go KV plugin, launched and called by go-plugin's " +
            "host, by ours and by pyvider-rpcplugin's client.",
          plugin: goBin,
          argv: goBin instanceof Error ? [] : [goBin],
          dir: kvgoDir,
          modes: MODES,
          pyviderMtls: false,
        },
        {
          id: "kvdeno",
          title: "Host side, AutoMTLS with a plugin pyvider's client can use: our Deno KV " +
            `plugin (\`deno run\` + the documented flags + ${DENO_ENGINES.native}), launched ` +
            "and called by the same three hosts.",
          plugin: DENO,
          argv: [DENO, "run", ...pluginFlags([sock, kvdenoDir]), denoScript],
          dir: kvdenoDir,
          modes: [true],
          pyviderMtls: true,
        },
      ];
      let hostSeconds = 0;
      for (const h of hostRuns) {
        const configPath = `${work}/host-config-${h.id}.json`;
        const hostConfig: DriverConfig = {
          targets: [{ id: h.id, argv: h.argv, dir: h.dir, env, pyviderMtls: h.pyviderMtls }],
          references: [],
          automtls: h.modes,
          ...counts,
          // The host drivers measure once per level, by count: so does bench/driver here.
          rounds: 1,
          throughputMs: 0,
          latencyCalls: counts.latencyCalls * counts.rounds,
        };
        await Deno.writeTextFile(configPath, JSON.stringify(hostConfig, null, 2));
        const hosts = h.plugin instanceof Error
          ? hostsNotRun(h.plugin.message, h.modes)
          : await measureHosts(
            driver.value,
            h.plugin,
            configPath,
            [sock, h.dir, configPath],
            pyPlugin,
            h.modes,
          );
        hostSeconds += hosts.seconds;
        await Deno.writeTextFile(
          `${BENCH_CACHE}results-host${h.id === "kvgo" ? "" : `-${h.id}`}${suffix}.json`,
          JSON.stringify(hosts, null, 2),
        );
        const hostTable = renderTable(hosts, HOSTS, {}, { subject: "host", columns: hostColumns });
        for (const r of hosts.results ?? []) {
          if (!r.ok && !r.notApplicable) {
            failures.push(
              `${HOSTS[r.target]?.label ?? r.target} on ${h.id} (AutoMTLS ${onOff(r)}): ${r.error}`,
            );
          }
        }
        lines.push(
          h.title,
          "",
          hostTable.table,
          "",
          ...hostTable.notes.map((n) => `n/a ${n}`),
          ...loadErrors(hosts.results ?? [], HOSTS),
          ...seeded(hosts.results ?? [], HOSTS),
          ...hostTargets(hosts, h.modes, h.id === "kvgo"),
          "",
        );
        if (h.id === "kvgo") {
          lines.push(
            ...(hostsOnly ? [`Machine: ${machine(hosts.host)}.`] : []),
            `Hosts: go-plugin ${hosts.host.goPlugin}, grpc-go ${hosts.host.grpcGo}, ` +
              `${hosts.host.goVersion}; pyvider-rpcplugin 0.5.5 on ` +
              `${pyInfo?.version ?? "(no venv)"}; ours on Deno ${Deno.version.deno}, under ` +
              `\`deno run ${hostFlags(["<plugin>"], ["<TMPDIR>", "<work dir>"]).join(" ")}\`.`,
            "",
          );
        }
      }
      lines.push(
        `The three hosts read one configuration per plugin (${counts.launches} launches per ` +
          `mode, ${
            counts.latencyCalls * counts.rounds
          } sequential Gets, ${counts.throughputCalls} Gets per ` +
          `concurrency level, ${counts.payloadReps} Puts and Gets per payload) and run back to ` +
          `back, go-plugin's first, then ours, then pyvider's, measured in ` +
          `${hostSeconds.toFixed(0)} s. Ratios: a row / go-plugin's host's row (× Go) and / ` +
          `pyvider's host's row (× Py) on the same plugin in the same AutoMTLS mode. The whole ` +
          `run took ${((performance.now() - began) / 1000).toFixed(0)} s.`,
      );
    }
    if (!hostsOnly && !startupOnly && !throughputOnly) {
      // The Terraform rows: a section of their own (bench/terraform.ts).
      const tf = await terraformSection(work, smoke ? 1 : TERRAFORM_REPS, status);
      lines.push("", ...tf.lines);
      failures.push(...tf.failures);
    }
    const text = lines.join("\n");
    await Deno.writeTextFile(
      `${BENCH_CACHE}table${suffix}${
        hostsOnly ? "-hosts" : startupOnly ? "-startup" : throughputOnly ? "-throughput" : ""
      }.md`,
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

/** One plugin the three hosts are measured on, in `modes`. */
interface HostRun {
  id: string;
  title: string;
  /** The plugin's executable, or why it could not be built. */
  plugin: string | Error;
  argv: string[];
  dir: string;
  modes: boolean[];
  /** Whether pyvider's client can use the plugin's AutoMTLS certificate. */
  pyviderMtls: boolean;
}

/** Results of the hosts that could not run, with the reason. */
function hostsNotRun(error: string, modes: boolean[]): DriverOutput {
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
      modes.map((automtls) => ({ target, automtls, ok: false, error }))
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
 * Runs go-plugin's host (bench/driver), ours (bench/host_driver.ts), then
 * pyvider-rpcplugin's client (bench/python/host_driver.py) on one
 * configuration, and merges their outputs: targets `host-go`, `host-deno`,
 * `host-python`. All make their plugins' socket directories in `dirs[0]`.
 */
async function measureHosts(
  driver: string,
  plugin: string,
  configPath: string,
  dirs: string[],
  py: PythonPlugin | Error,
  modes: boolean[],
): Promise<DriverOutput> {
  const env = { TMPDIR: dirs[0] };
  const runOne = async (
    target: string,
    label: string,
    cmd: string,
    args: string[],
    extraEnv: Record<string, string> = {},
  ): Promise<DriverOutput | string> => {
    status(`== measuring the hosts: ${label}`);
    const res = await new Deno.Command(cmd, {
      args,
      cwd: ROOT,
      env: { ...env, ...extraEnv },
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
  const python = py instanceof Error ? py.message : await runOne(
    "host-python",
    "pyvider-rpcplugin's client",
    py.python,
    [`${ROOT}bench/python/host_driver.py`, "-config", configPath],
    { PYTHONPATH: py.pythonPath },
  );
  const failed = (target: string, error: string): DriverResult[] =>
    modes.map((automtls) => ({ target, automtls, ok: false, error }));
  const base = typeof go === "string" ? hostsNotRun(go, modes) : go;
  return {
    ...base,
    results: [
      ...(typeof go === "string" ? failed("host-go", go) : go.results ?? []),
      ...(typeof deno === "string" ? failed("host-deno", deno) : deno.results ?? []),
      ...(typeof python === "string" ? failed("host-python", python) : python.results ?? []),
    ].sort((a, b) => Number(a.automtls) - Number(b.automtls)),
    seconds: [go, deno, python].reduce((t, o) => t + (typeof o === "string" ? 0 : o.seconds), 0),
  };
}

/** Get/s at concurrency 64 of one host's row. */
const c64 = (r: DriverResult) =>
  r.session?.throughput?.find((t) => t.concurrency === 64)?.perSecond;

/**
 * The issue's host targets: Get/s at c=64 ≥ 1.0× go-plugin's host, start ≤
 * 1.5×; and our host against pyvider's client, which it must surpass: start,
 * Get p50 (lower is better) and Get/s c=64 (higher is better).
 */
function hostTargets(out: DriverOutput, modes: boolean[], issueTargets: boolean): string[] {
  const lines: string[] = [];
  for (const automtls of modes) {
    const pick = (target: string) =>
      out.results?.find((r) => r.target === target && r.automtls === automtls);
    const go = pick("host-go");
    const ours = pick("host-deno");
    const py = pick("host-python");
    if (ours?.ok && py?.ok) lines.push(versusPyvider(ours, py));
    if (!issueTargets || !go?.ok || !ours?.ok) continue;
    const parts: string[] = [];
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

/** Our host / pyvider's host on start p50, Get p50 and Get/s c=64: faster or not. */
function versusPyvider(ours: DriverResult, py: DriverResult): string {
  const parts: string[] = [];
  const time = (name: string, a?: number, b?: number) => {
    if (a && b) parts.push(`${name} ${ratio(a / b)}× (${a < b ? "faster" : "slower"})`);
  };
  time("start p50", ours.startMs?.median, py.startMs?.median);
  time("Get p50", ours.session?.latency?.p50us, py.session?.latency?.p50us);
  const [a, b] = [c64(ours), c64(py)];
  if (a && b) parts.push(`Get/s c=64 ${ratio(a / b)}× (${a > b ? "faster" : "slower"})`);
  return `Versus pyvider: our host / pyvider-rpcplugin's client, AutoMTLS ${onOff(ours)}: ${
    parts.join("; ")
  }.`;
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

/** The driver's id of bench/fixtures/first_call_floor.js (a target, not a table row). */
const FIRST_CALL_FLOOR = "deno-first-call-floor";
const FIRST_CALL_FLOOR_SCRIPT = `${ROOT}bench/fixtures/first_call_floor.js`;

/** The issue's targets: start-up over an empty deno run, RSS over an empty Deno. */
function targetsVsFloor(out: DriverOutput, info: Record<string, TargetInfo>): string[] {
  const idle = out.references?.find((r) => r.id === "deno-idle");
  const empty = out.references?.find((r) => r.id === "deno-empty");
  if (!idle?.ms || !idle.rssKB) return [];
  const lines: string[] = [];
  for (const r of out.results ?? []) {
    if (info[r.target]?.role !== "deno" || !r.startMs || !r.handshakeMs) continue;
    const over = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(1)}`;
    // From the spawn (not from client.Start(), which with AutoMTLS first makes the host's
    // certificate), as the idle deno run is timed.
    const line0 = (r.spawnToLineMs ?? r.handshakeMs).median;
    const call0 = (r.spawnToCallMs ?? r.startMs).median;
    let line = `Floor: ${info[r.target].label}, ${info[r.target].engine} (AutoMTLS ${onOff(r)}) ` +
      "over the idle deno run, from the spawn: " +
      `handshake ${over(line0 - idle.ms.median)} ms, first call ` +
      `${over(call0 - idle.ms.median)} ms (issue target: ≤ 15 ms)`;
    if (empty?.ms) {
      line += `; over the empty deno run (to exit): ${over(call0 - empty.ms.median)} ms`;
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
