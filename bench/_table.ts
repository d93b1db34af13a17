/**
 * Turns the driver's JSON into the one markdown table the benchmarks print:
 * one row per plugin, engine and AutoMTLS mode, plus the reference rows;
 * every figure absolute and as a ratio to the Go plugin and to the Python
 * plugin in the same mode.
 *
 * @module
 */

/** A distribution as the driver reports it. */
export interface Dist {
  n: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  samples: number[];
}

/** One target in one mode (bench/driver Result). */
export interface DriverResult {
  target: string;
  automtls: boolean;
  ok: boolean;
  error?: string;
  /** `ok` is false because the host cannot do this at all (`error` says why): not a failure. */
  notApplicable?: boolean;
  exe?: string;
  startMs?: Dist;
  handshakeMs?: Dist;
  /** `startMs` and `handshakeMs` from the spawn, not from client.Start() (go-plugin's host). */
  spawnToCallMs?: Dist;
  /** See {@linkcode DriverResult.spawnToCallMs}. */
  spawnToLineMs?: Dist;
  stopMs?: Dist;
  session?: {
    error?: string;
    rssStartKB: number;
    rssAfterThroughputKB: number;
    peakRssKB: number;
    latency?: {
      calls: number;
      errors: number;
      firstError?: string;
      p50us: number;
      p90us: number;
      p99us: number;
      meanUs: number;
      maxUs: number;
      /** The plugin's CPU time per call (µs); absent when /proc could not tell. */
      cpuUsPerCall?: number;
      /**
       * bench/driver's interleaved rounds, in the order they ran (then `p50us` and
       * `cpuUsPerCall` are their medians); absent from the host drivers.
       */
      rounds?: { calls: number; errors: number; p50us: number; cpuUsPerCall?: number }[];
    };
    throughput?: {
      concurrency: number;
      calls: number;
      errors: number;
      firstError?: string;
      seconds: number;
      perSecond: number;
      rssAfterKB?: number;
      /** The plugin's CPU time per call (µs); absent when /proc could not tell. */
      cpuUsPerCall?: number;
      /**
       * bench/driver's interleaved rounds, in the order they ran (then `perSecond` and
       * `cpuUsPerCall` are their medians); absent from the host drivers.
       */
      rounds?: {
        calls: number;
        errors: number;
        seconds: number;
        perSecond: number;
        cpuUsPerCall?: number;
      }[];
    }[];
    payload?: {
      bytes: number;
      putMBps?: number;
      putError?: string;
      getMBps?: number;
      getError?: string;
      seeded?: boolean;
      /** The plugin's CPU µs per call (schedstat, all threads). */
      putCpuUs?: number;
      getCpuUs?: number;
      /** The host's (the driver's) CPU µs per call. */
      putHostCpuUs?: number;
      getHostCpuUs?: number;
      /** The plugin's minor page faults per call (fresh memory touched). */
      putFaults?: number;
      getFaults?: number;
    }[];
  };
}

/** A reference process (bench/driver RefResult). */
export interface DriverRef {
  id: string;
  until: "exit" | "line";
  ok: boolean;
  error?: string;
  ms?: Dist;
  rssKB?: number;
}

/** The driver's whole output. */
export interface DriverOutput {
  host: {
    goVersion: string;
    goPlugin: string;
    grpcGo: string;
    /** Deno's version, when bench/host_driver.ts (our host) measured. */
    deno?: string;
    cpus: number;
    cpuModel: string;
    memTotalKB: number;
    kernel: string;
  };
  results: DriverResult[] | null;
  references: DriverRef[] | null;
  seconds: number;
  config: {
    concurrency: number[];
    payloads: number[];
    launches: number;
    latencyCalls: number;
    throughputCalls: number;
    payloadReps: number;
    /** bench/driver: each round of a level lasts this long (instead of `throughputCalls`). */
    throughputMs?: number;
    /** bench/driver: interleaved rounds of the latency run and of each level. */
    rounds?: number;
  };
}

/** What a row is, for the labels and the ratios. */
export interface TargetInfo {
  /** Label of the plugin column. */
  label: string;
  /** gRPC engine column. */
  engine: string;
  /** `go` and `python` rows are the references of the ratios. */
  role: "go" | "python" | "deno";
}

/** Why a CPU-per-call cell is empty. */
const NO_CPU = "the plugin's CPU time could not be read from /proc/<pid>/stat";

/** A cell: a number, or the reason there is none. */
type Cell = number | { na: string } | undefined;

interface Metric {
  header: string;
  /** Formats a value with its unit. */
  unit: (v: number) => string;
  result: (r: DriverResult) => Cell;
  ref?: (r: DriverRef) => Cell;
}

/** Formats a byte count as KiB or MiB. */
export function sizeName(bytes: number): string {
  return bytes >= 1 << 20 && bytes % (1 << 20) === 0
    ? `${bytes / (1 << 20)} MiB`
    : `${Math.round(bytes / 1024)} KiB`;
}

function fixed(v: number): string {
  return v >= 99.95 ? v.toFixed(0) : v >= 9.995 ? v.toFixed(1) : v.toFixed(2);
}

function msUnit(v: number): string {
  return `${fixed(v)} ms`;
}

function usUnit(v: number): string {
  return `${v.toFixed(0)} µs`;
}

function perSecUnit(v: number): string {
  return `${Math.round(v).toLocaleString("en-US")}/s`;
}

function mbpsUnit(v: number): string {
  return `${v.toFixed(0)} MB/s`;
}

function mibUnit(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MiB`;
}

/** Formats a ratio with two significant figures or so. */
export function ratio(v: number): string {
  if (!Number.isFinite(v)) return "∞";
  return v >= 9.95 ? v.toFixed(0) : v >= 0.995 ? v.toFixed(1) : v.toFixed(2);
}

function sessionNa(r: DriverResult): Cell {
  if (!r.ok) return { na: firstLine(r.error ?? "failed") };
  if (!r.session) return { na: "no session" };
  return undefined;
}

function metrics(out: DriverOutput): Metric[] {
  const list: Metric[] = [
    {
      header: "start p50",
      unit: msUnit,
      result: (r) => r.startMs?.median ?? { na: firstLine(r.error ?? "no start") },
      ref: (r) => r.ms?.median ?? { na: firstLine(r.error ?? "failed") },
    },
    {
      header: "start p90",
      unit: msUnit,
      result: (r) => r.startMs?.p90 ?? { na: firstLine(r.error ?? "no start") },
      ref: (r) => r.ms?.p90 ?? { na: firstLine(r.error ?? "failed") },
    },
    {
      header: "stop p50",
      unit: msUnit,
      result: (r) => r.stopMs?.median ?? { na: firstLine(r.error ?? "no start") },
    },
    {
      header: "Get p50",
      unit: usUnit,
      result: (r) => sessionNa(r) ?? latency(r, (l) => l.p50us),
    },
    {
      header: "Get p99",
      unit: usUnit,
      result: (r) => sessionNa(r) ?? latency(r, (l) => l.p99us),
    },
  ];
  for (const c of out.config.concurrency) {
    list.push({
      header: `Get/s c=${c}`,
      unit: perSecUnit,
      result: (r) =>
        level(r, c, (tp) => {
          if (tp.errors > 0 && tp.errors === tp.calls) {
            return { na: `all calls failed: ${firstLine(tp.firstError ?? "")}` };
          }
          return tp.perSecond; // partial errors are reported in the notes
        }),
    });
  }
  // The plugin's CPU per call: steadier than the rates on a shared machine.
  list.push({
    header: "CPU/call seq",
    unit: usUnit,
    result: (r) => sessionNa(r) ?? latency(r, (l) => l.cpuUsPerCall ?? { na: NO_CPU }),
  });
  for (const c of out.config.concurrency) {
    list.push({
      header: `CPU/call c=${c}`,
      unit: usUnit,
      result: (r) => level(r, c, (tp) => tp.cpuUsPerCall ?? { na: NO_CPU }),
    });
  }
  for (const size of out.config.payloads) {
    for (const op of ["Put", "Get"] as const) {
      list.push({
        header: `${op} ${sizeName(size)}`,
        unit: mbpsUnit,
        result: (r) => {
          const na = sessionNa(r);
          if (na) return na;
          const p = r.session?.payload?.find((x) => x.bytes === size);
          if (!p) return { na: "not measured" };
          const err = op === "Put" ? p.putError : p.getError;
          if (err) return { na: firstLine(err) };
          return op === "Put" ? p.putMBps : p.getMBps;
        },
      });
    }
  }
  list.push(
    {
      header: "RSS start",
      unit: mibUnit,
      result: (r) => sessionNa(r) ?? (r.session?.rssStartKB || { na: "not measured" }),
      ref: (r) => r.rssKB || undefined,
    },
    {
      header: "RSS after load",
      unit: mibUnit,
      result: (r) => sessionNa(r) ?? (r.session?.rssAfterThroughputKB || { na: "not measured" }),
    },
    {
      header: "peak RSS",
      unit: mibUnit,
      result: (r) => sessionNa(r) ?? (r.session?.peakRssKB || { na: "not measured" }),
    },
  );
  return list;
}

/** A figure of one concurrency level of a session. */
function level(
  r: DriverResult,
  concurrency: number,
  pick: (tp: NonNullable<NonNullable<DriverResult["session"]>["throughput"]>[number]) => Cell,
): Cell {
  const na = sessionNa(r);
  if (na) return na;
  const tp = r.session?.throughput?.find((t) => t.concurrency === concurrency);
  return tp ? pick(tp) : { na: "not measured" };
}

function latency(
  r: DriverResult,
  pick: (l: NonNullable<NonNullable<DriverResult["session"]>["latency"]>) => Cell,
): Cell {
  const l = r.session?.latency;
  if (!l) return { na: "not measured" };
  if (l.errors === l.calls) return { na: `all calls failed: ${firstLine(l.firstError ?? "")}` };
  return pick(l);
}

function firstLine(s: string): string {
  return s.split("\n")[0].trim();
}

/** The rendered table and the notes that go under it. */
export interface Rendered {
  table: string;
  notes: string[];
}

/** Options of {@linkcode renderTable}. */
export interface TableOptions {
  /** Header of the first column. @default {"plugin"} */
  subject?: string;
  /** Which figure columns to keep, by header (`start p50`, `Get/s c=64`, ...). @default all */
  columns?: (header: string) => boolean;
}

/**
 * Renders the table.
 *
 * @param out The driver's output.
 * @param targets What each target id is.
 * @param refLabels Labels of the reference rows, by id.
 * @param options First column's header, columns kept.
 * @returns The markdown table and the numbered n/a reasons.
 */
export function renderTable(
  out: DriverOutput,
  targets: Record<string, TargetInfo>,
  refLabels: Record<string, string>,
  options: TableOptions = {},
): Rendered {
  const keep = options.columns ?? (() => true);
  const ms = metrics(out).filter((m) => keep(m.header));
  const results = out.results ?? [];
  const reasons: string[] = [];
  const note = (reason: string): string => {
    let i = reasons.indexOf(reason);
    if (i < 0) {
      reasons.push(reason);
      i = reasons.length - 1;
    }
    return `n/a [${i + 1}]`;
  };
  const byRole = (role: "go" | "python", mode: boolean) =>
    results.find((r) => targets[r.target]?.role === role && r.automtls === mode);

  const render = (cell: Cell, unit: (v: number) => string, goCell: Cell, pyCell: Cell) => {
    if (cell === undefined) return "";
    if (typeof cell !== "number") return note(cell.na);
    const parts: string[] = [];
    if (typeof goCell === "number" && goCell > 0) parts.push(`${ratio(cell / goCell)}× Go`);
    if (typeof pyCell === "number" && pyCell > 0) parts.push(`${ratio(cell / pyCell)}× Py`);
    return parts.length ? `${unit(cell)} (${parts.join(", ")})` : unit(cell);
  };

  const header = [options.subject ?? "plugin", "engine", "AutoMTLS", ...ms.map((m) => m.header)];
  const rows: string[][] = [];
  for (const r of results) {
    const info = targets[r.target] ?? { label: r.target, engine: "?", role: "deno" };
    const go = byRole("go", r.automtls);
    const py = byRole("python", r.automtls);
    rows.push([
      info.label,
      info.engine,
      r.automtls ? "on" : "off",
      ...ms.map((m) =>
        render(
          m.result(r),
          m.unit,
          go && info.role !== "go" ? m.result(go) : undefined,
          py && info.role !== "python" ? m.result(py) : undefined,
        )
      ),
    ]);
  }
  const go = byRole("go", false);
  const py = byRole("python", false);
  for (const ref of out.references ?? []) {
    rows.push([
      refLabels[ref.id] ?? ref.id,
      "—",
      "—",
      ...ms.map((m) =>
        m.ref
          ? render(
            m.ref(ref),
            m.unit,
            go ? m.result(go) : undefined,
            py ? m.result(py) : undefined,
          )
          : ""
      ),
    ]);
  }
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const table = [
    line(header),
    line(header.map((_, i) => (i < 3 ? "---" : "---:"))),
    ...rows.map(line),
  ].join("\n");
  return { table, notes: reasons.map((r, i) => `[${i + 1}] ${r}`) };
}
