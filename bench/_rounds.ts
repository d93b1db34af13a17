/**
 * The throughput table: sequential Get p50 and Get/s per concurrency level
 * of every plugin, each the median of bench/driver's interleaved rounds with
 * the spread of the rounds (min–max), and the ratio to go-plugin's Go plugin
 * two ways: of the medians, and the median (and min–max) of the per-round
 * ratios, a round of a plugin divided by the Go plugin's same round, which
 * ran within seconds of it. Under it, the rounds of Get/s at the highest
 * concurrency in the order they ran, to show the drift.
 *
 * @module
 */

import { type DriverOutput, type DriverResult, ratio, type TargetInfo } from "./_table.ts";
import { percentile, sorted } from "./_stats.ts";

/** One figure of one row: a value per round (NaN where the round failed). */
type Rounds = number[];

/** The nearest-rank median of the finite values (NaN when there are none). */
function median(values: readonly number[]): number {
  const ok = values.filter(Number.isFinite);
  return ok.length ? percentile(sorted(ok), 50) : NaN;
}

function spread(values: readonly number[]): [number, number] | undefined {
  const ok = sorted(values.filter(Number.isFinite));
  return ok.length ? [ok[0], ok[ok.length - 1]] : undefined;
}

/** Sequential Get p50 per round (µs), or the single figure of a driver without rounds. */
function p50Rounds(r: DriverResult): Rounds | undefined {
  const l = r.session?.latency;
  if (!l || l.errors === l.calls) return undefined;
  if (!l.rounds?.length) return [l.p50us];
  return l.rounds.map((x) => (x.calls > x.errors ? x.p50us : NaN));
}

/** The plugin's CPU µs per call per round at concurrency `c`. */
function cpuRounds(r: DriverResult, c: number): Rounds | undefined {
  const tp = r.session?.throughput?.find((t) => t.concurrency === c);
  if (!tp?.cpuUsPerCall) return undefined;
  if (!tp.rounds?.length) return [tp.cpuUsPerCall];
  return tp.rounds.map((x) => x.cpuUsPerCall || NaN);
}

/** Get/s per round at concurrency `c`. */
function rateRounds(r: DriverResult, c: number): Rounds | undefined {
  const tp = r.session?.throughput?.find((t) => t.concurrency === c);
  if (!tp || tp.errors === tp.calls) return undefined;
  if (!tp.rounds?.length) return [tp.perSecond];
  return tp.rounds.map((x) => (x.perSecond > 0 ? x.perSecond : NaN));
}

/** A figure with its unit, and the short form of the spread. */
interface Unit {
  full: (v: number) => string;
  short: (v: number) => string;
}
const US: Unit = { full: (v) => `${v.toFixed(0)} µs`, short: (v) => v.toFixed(0) };
const CPU: Unit = { full: (v) => `${v.toFixed(1)} µs`, short: (v) => v.toFixed(1) };
const RATE: Unit = {
  full: (v) => `${Math.round(v).toLocaleString("en-US")}/s`,
  short: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(0)),
};

/** `median (min–max)` of a row's rounds. */
function valueCell(values: Rounds | undefined, unit: Unit): string {
  if (!values) return "n/a";
  const m = median(values);
  const s = spread(values);
  if (!Number.isFinite(m) || !s) return "n/a";
  return values.length > 1
    ? `${unit.full(m)} (${unit.short(s[0])}–${unit.short(s[1])})`
    : unit.full(m);
}

/** `ratio of medians · median of round ratios (min–max)` against the Go row. */
function ratioCell(values: Rounds | undefined, go: Rounds | undefined): string {
  if (!values || !go) return "n/a";
  const ofMedians = median(values) / median(go);
  if (!Number.isFinite(ofMedians)) return "n/a";
  const perRound = values.map((v, i) => v / go[i]).filter(Number.isFinite);
  if (values.length < 2 || perRound.length < 2) return `${ratio(ofMedians)}×`;
  const s = spread(perRound)!;
  return `${ratio(ofMedians)}× · ${ratio(median(perRound))}× (${ratio(s[0])}–${ratio(s[1])}×)`;
}

/**
 * Renders the throughput table and the per-round lines.
 *
 * @param out The driver's output.
 * @param info Labels of the targets; the Go plugin's role is `go`.
 * @returns Markdown lines (none when no session ran).
 */
export function roundsTable(out: DriverOutput, info: Record<string, TargetInfo>): string[] {
  const results = (out.results ?? []).filter((r) => r.session && info[r.target]);
  if (!results.length) return [];
  const levels = out.config.concurrency;
  const rounds = out.config.rounds ?? 1;
  const goOf = (automtls: boolean) =>
    results.find((r) => info[r.target].role === "go" && r.automtls === automtls);
  const per = out.config.throughputMs
    ? `${out.config.throughputMs} ms per level`
    : `${out.config.throughputCalls} Gets per level`;
  const top = levels[levels.length - 1];
  const lines = [
    `Throughput and latency under go-plugin's Go host: each figure is the median of ${rounds} ` +
    `interleaved round${rounds === 1 ? "" : "s"} (each round: ${out.config.latencyCalls} ` +
    `sequential Gets, then ${per}, every plugin of the mode in turn), with the rounds' ` +
    `min–max in parentheses. × Go: the ratio of the medians · the median of the per-round ` +
    `ratios (this plugin's round i / the Go plugin's round i, measured seconds apart) and ` +
    `their min–max. For Get p50 and CPU/call lower is better, for Get/s higher. CPU/call: ` +
    `the plugin's CPU time per call at the highest concurrency, the steadiest figure on a ` +
    `shared machine.`,
    "",
    `| plugin | engine | AutoMTLS | Get p50 | × Go | ${
      levels.map((c) => `Get/s c=${c} | × Go`).join(" | ")
    } | CPU/call c=${top} | × Go |`,
    `| --- | --- | --- | --: | --: | ${levels.map(() => "--: | --:").join(" | ")} | --: | --: |`,
  ];
  for (const r of results) {
    const about = info[r.target];
    const go = about.role === "go" ? undefined : goOf(r.automtls);
    const vs = (mine: Rounds | undefined, theirs: Rounds | undefined) =>
      about.role === "go" ? "—" : go ? ratioCell(mine, theirs) : "n/a";
    const cells = [
      valueCell(p50Rounds(r), US),
      vs(p50Rounds(r), go && p50Rounds(go)),
      ...levels.flatMap((c) => [
        valueCell(rateRounds(r, c), RATE),
        vs(rateRounds(r, c), go && rateRounds(go, c)),
      ]),
      valueCell(cpuRounds(r, top), CPU),
      vs(cpuRounds(r, top), go && cpuRounds(go, top)),
    ];
    lines.push(
      `| ${about.label} | ${about.engine} | ${r.automtls ? "on" : "off"} | ${cells.join(" | ")} |`,
    );
  }
  if (rounds > 1 && top !== undefined) {
    lines.push("", `Get/s c=${top} round by round (in the order they ran):`, "");
    for (const r of results) {
      const v = rateRounds(r, top);
      if (!v) continue;
      lines.push(
        `- ${info[r.target].label}, ${info[r.target].engine}, AutoMTLS ${
          r.automtls ? "on" : "off"
        }: ${v.map((x) => (Number.isFinite(x) ? RATE.short(x) : "failed")).join(", ")}`,
      );
    }
  }
  return lines;
}
