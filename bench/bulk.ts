/**
 * Only the bulk rows of `deno task bench`: Put and Get of 1 MiB and 16 MiB
 * values through go-plugin's host (bench/driver), on go-plugin's Go KV
 * plugin, pyvider-rpcplugin's and ours (`deno run examples/kv/plugin.ts`,
 * native engine), plus the same plugin of other revisions (`--baseline=REV`).
 * The driver measures one plugin after the other, so the run is repeated
 * `--runs` times with the order rotated, and each figure is the median over
 * the runs (each run's figure is itself the median of `--reps` transfers).
 * Prints a markdown table with ratios to Go and to pyvider, then the CPU
 * time per call of the plugin and of the host (the driver), which a shared
 * machine's noise moves less than the rates, and the plugin's page faults
 * per call (the fresh memory it touched); asserts nothing.
 *
 * ```sh
 * deno run -A bench/bulk.ts                     # AutoMTLS on, 5 runs of 5 transfers
 * deno run -A bench/bulk.ts --baseline=main --automtls=both --runs=7
 * deno run -A bench/bulk.ts --sizes=1 --reps=9   # the 1 MiB rows alone, 9 transfers each
 * # profile this tree's plugin alone: flags for its `deno run`, a command before it
 * deno run -A bench/bulk.ts --only=deno --plugin-flags=--cpu-prof,--cpu-prof-dir=/tmp/prof
 * deno run -A bench/bulk.ts --only=deno --wrap="strace -f -c -o /tmp/strace.txt"
 * ```
 *
 * @module
 */

import { DENO, pluginFlags, ROOT } from "../tests/_util/plugin.ts";
import {
  BENCH_CACHE,
  benchWorkDir,
  buildDriver,
  buildGoPlugin,
  checkoutBaseline,
  preparePython,
} from "./_setup.ts";
import type { DriverOutput } from "./_table.ts";

const MiB = 1 << 20;

function option(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return Deno.args.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

function whole(name: string, fallback: number): number {
  const n = Number(option(name, String(fallback)));
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name}: give a whole number of at least 1`);
    Deno.exit(2);
  }
  return n;
}

/** The value sizes, in MiB (`--sizes=1` for the 1 MiB rows alone). */
const PAYLOADS = option("sizes", "1,16").split(",").map((n) => {
  const mib = Number(n);
  if (!Number.isInteger(mib) || mib < 1) {
    console.error("--sizes: give whole numbers of MiB, comma-separated (1,16)");
    Deno.exit(2);
  }
  return mib * MiB;
});
const runs = whole("runs", 5);
const reps = whole("reps", 5);
const modeArg = option("automtls", "on");
const modes = modeArg === "both" ? [false, true] : [modeArg !== "off"];
const revs = option("baseline", "").split(",").filter(Boolean);
/** Extra flags for the Deno plugins' `deno run` (profiling). */
const pluginExtra = option("plugin-flags", "").split(",").filter(Boolean);
/** A command (space-separated) the Deno plugins run under: `strace -c -f -o FILE`, `perf stat -o FILE`. */
const wrap = option("wrap", "").split(" ").filter(Boolean);
/** Only these targets (ids: go, python, deno, deno-0...). */
const only = option("only", "").split(",").filter(Boolean);

interface Target {
  id: string;
  label: string;
  argv: string[];
  dir: string;
  env: Record<string, string>;
}

const { work, sock, dirOf } = await benchWorkDir("rpcplugin-bulk-");
try {
  console.error("== building the driver, go-plugin's KV plugin, the pyvider venv");
  const [driver, goBin, py] = await Promise.all([
    buildDriver(),
    buildGoPlugin(),
    preparePython(Deno.env.get("BENCH_PYTHON") ?? "python3"),
  ]);
  const env = { TMPDIR: sock };
  const targets: Target[] = [
    { id: "go", label: "Go: go-plugin plugin-go-grpc", argv: [goBin], dir: "", env },
    {
      id: "python",
      label: "Python: pyvider-rpcplugin 0.5.5",
      argv: [py.python, `${ROOT}bench/python/kv_plugin.py`],
      dir: "",
      env: { ...env, PYTHONPATH: py.pythonPath },
    },
  ];
  const deno = async (id: string, label: string, root: string) => {
    const dir = await dirOf(id);
    targets.push({
      id,
      label,
      argv: [
        ...wrap,
        DENO,
        "run",
        ...pluginExtra,
        ...pluginFlags([sock, dir]),
        `${root}examples/kv/plugin.ts`,
      ],
      dir,
      env,
    });
  };
  await deno("deno", "Deno: deno run plugin.ts (this tree)", ROOT);
  for (const [i, rev] of revs.entries()) {
    const root = await checkoutBaseline(rev, await dirOf(`tree-${i}`));
    await deno(`deno-${i}`, `Deno: deno run plugin.ts @ ${rev}`, root);
  }
  for (const t of targets) if (!t.dir) t.dir = await dirOf(t.id);
  if (only.length) targets.splice(0, targets.length, ...targets.filter((t) => only.includes(t.id)));

  /** figures[`${id} ${automtls} ${bytes} ${put|get}`] = MB/s of each run. */
  const figures = new Map<string, number[]>();
  /** The same keys: [plugin, host] CPU µs and the plugin's page faults per call, of each run. */
  const cpu = new Map<string, [number, number, number][]>();
  const errors = new Map<string, string>();
  for (let run = 0; run < runs; run++) {
    const order = targets.map((_, i) => targets[(i + run) % targets.length]);
    const config = {
      targets: order.map(({ id, argv, dir, env }) => ({ id, argv, dir, env })),
      references: [],
      automtls: modes,
      launches: 1,
      warmupCalls: 20,
      latencyCalls: 20,
      throughputCalls: 20,
      rounds: 1,
      concurrency: [1],
      payloads: PAYLOADS,
      payloadReps: reps,
      startTimeoutSec: 60,
      callTimeoutSec: 120,
    };
    const configPath = `${work}/config.json`;
    await Deno.writeTextFile(configPath, JSON.stringify(config));
    console.error(`== run ${run + 1}/${runs}: ${order.map((t) => t.id).join(", ")}`);
    const res = await new Deno.Command(driver, {
      args: ["-config", configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!res.success) throw new Error(`the driver failed (exit ${res.code})`);
    const out: DriverOutput = JSON.parse(new TextDecoder().decode(res.stdout));
    for (const r of out.results ?? []) {
      for (const p of r.session?.payload ?? []) {
        for (
          const [dir, mbps, err, plugin, host, faults] of [
            ["put", p.putMBps, p.putError, p.putCpuUs, p.putHostCpuUs, p.putFaults],
            ["get", p.getMBps, p.getError, p.getCpuUs, p.getHostCpuUs, p.getFaults],
          ] as const
        ) {
          const key = `${r.target} ${r.automtls} ${p.bytes} ${dir}`;
          if (err) errors.set(key, err.split("\n")[0]);
          else if (mbps) figures.set(key, [...(figures.get(key) ?? []), mbps]);
          if (!err && plugin && host) {
            cpu.set(key, [...(cpu.get(key) ?? []), [plugin, host, faults ?? 0]]);
          }
        }
      }
    }
  }
  await Deno.mkdir(BENCH_CACHE, { recursive: true });
  await Deno.writeTextFile(
    `${BENCH_CACHE}bulk.json`,
    JSON.stringify({ mbps: Object.fromEntries(figures), cpu: Object.fromEntries(cpu) }, null, 1),
  );

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const cols = PAYLOADS.flatMap((b) => [`${b / MiB} MiB`].flatMap((n) => [["put", n], ["get", n]]));
  /** One markdown table: a row per target and mode, a cell per size and direction. */
  const table = (title: string, cell: (key: (id: string) => string, id: string) => string) => {
    console.log(title);
    console.log(
      `| plugin | AutoMTLS | ${
        cols.map(([d, n]) => `${d === "put" ? "Put" : "Get"} ${n}`).join(" | ")
      } |`,
    );
    console.log(`| --- | --- | ${cols.map(() => "---:").join(" | ")} |`);
    for (const automtls of modes) {
      for (const t of targets) {
        const cells = PAYLOADS.flatMap((bytes) =>
          (["put", "get"] as const).map((dir) =>
            cell((id) => `${id} ${automtls} ${bytes} ${dir}`, t.id)
          )
        );
        console.log(`| ${t.label} | ${automtls ? "on" : "off"} | ${cells.join(" | ")} |`);
      }
    }
  };
  table(
    `${runs} runs (order rotated), each the median of ${reps} transfers; MB/s, median ` +
      `over the runs [min-max] (× Go, × pyvider in the same mode)\n`,
    (key, id) => {
      const xs = figures.get(key(id));
      if (!xs?.length) return `n/a (${errors.get(key(id)) ?? "no figure"})`;
      const m = median(xs);
      const ref = (other: string) => {
        const r = figures.get(key(other));
        return r?.length && other !== id ? `${(m / median(r)).toFixed(2)}× ${other}` : "";
      };
      const ratios = [ref("go"), ref("python")].filter(Boolean).join(", ");
      return `${m.toFixed(0)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]` +
        (ratios ? ` (${ratios})` : "");
    },
  );
  table(
    `\nCPU ms per call, plugin / host (the driver), and the plugin's page faults per call: ` +
      `the medians over the runs (CPU × pyvider's in the same mode, plugin / host)\n`,
    (key, id) => {
      const xs = cpu.get(key(id));
      if (!xs?.length) return "n/a";
      const plugin = median(xs.map((x) => x[0]));
      const host = median(xs.map((x) => x[1]));
      const py = cpu.get(key("python"));
      const ratio = py?.length && id !== "python"
        ? ` (${(plugin / median(py.map((x) => x[0]))).toFixed(2)}× / ${
          (host / median(py.map((x) => x[1]))).toFixed(2)
        }×)`
        : "";
      const faults = median(xs.map((x) => x[2]));
      return `${(plugin / 1e3).toFixed(2)} / ${(host / 1e3).toFixed(2)}${ratio}, ${
        faults.toFixed(0)
      } faults`;
    },
  );
} finally {
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
