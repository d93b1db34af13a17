/**
 * The benchmark host on our side: bench/driver's phases, with our Deno host
 * (`launch()` of host/mod.ts, on our own HTTP/2 + gRPC client) in place of
 * go-plugin's Go host. It reads the same JSON configuration (`-config FILE`,
 * bench/driver's `Config`), runs the same two phases in the same order with
 * the same counts, and prints the same JSON (`Output`) on stdout, progress on
 * stderr, so bench/run.ts and _table.ts treat both hosts alike.
 *
 * 1. start: for each AutoMTLS mode, `launches` rounds; each round launches
 *    every target once. The clock starts just before `launch()` (which, with
 *    AutoMTLS, first makes the host's certificate, then spawns the plugin)
 *    and stops when the first `KV.Get` has answered; the handshake time is
 *    when `launch()` has parsed the handshake line. Then `kill()` is timed.
 * 2. sessions: for each mode and target, one long-lived plugin: sequential
 *    latency, throughput per concurrency (N workers sharing the one
 *    connection, as N goroutines do in the Go driver), payload rates.
 *
 * Differences from the Go driver, both for want of a permission a host does
 * not need: no plugin RSS (Deno reads `/proc/<pid>/status` only with
 * `--allow-all`), so the RSS figures are 0; and `exe` is the command's base
 * name, since `launch()` spawns the command directly (no shell).
 *
 * The flags are those of a host ({@linkcode hostFlags}), plus read on the
 * configuration and read/write on the targets' working directories (the
 * seed and payload files):
 *
 * ```sh
 * TMPDIR=$WORK/sock deno run --no-prompt --allow-run=$PLUGIN --allow-env --allow-net \
 *   --allow-read=$WORK --allow-write=$WORK bench/host_driver.ts -config $WORK/config.json
 * ```
 *
 * @module
 */

import { fromTsProto } from "../mod.ts";
import { launch, type PluginClient, RpcError, type ServiceClient, Status } from "../host/mod.ts";
import { KVDefinition } from "../examples/kv/gen/kv_pb.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { after } from "../_timer.ts";
import { distOf, percentile, sorted } from "./_stats.ts";
import type { DriverOutput, DriverResult } from "./_table.ts";

/** One plugin under test (bench/driver `Target`). */
export interface DriverTarget {
  id: string;
  argv: string[];
  dir: string;
  env: Record<string, string>;
  /**
   * false when pyvider-rpcplugin's client cannot use this plugin's AutoMTLS
   * certificate (go-plugin's P-521 one): bench/python/host_driver.py then
   * reports those rows as n/a; the other drivers ignore it.
   */
  pyviderMtls?: boolean;
  /** bench/driver: the start phase only, no session (a stand-in that answers one Get). */
  startOnly?: boolean;
  /** bench/driver: with AutoMTLS off only. */
  plainOnly?: boolean;
}

/** A process that is no plugin (bench/driver `Reference`); the Go driver only. */
export interface DriverReference extends DriverTarget {
  until: "exit" | "line";
}

/** The configuration both drivers read (bench/driver `Config`). */
export interface DriverConfig {
  targets: DriverTarget[];
  references: DriverReference[];
  automtls: boolean[];
  launches: number;
  warmupCalls: number;
  latencyCalls: number;
  throughputCalls: number;
  concurrency: number[];
  payloads: number[];
  payloadReps: number;
  startTimeoutSec: number;
  callTimeoutSec: number;
  /** Only the start phase: bench/driver skips the sessions. */
  startOnly?: boolean;
  /**
   * bench/driver only (the host drivers measure each level once): the latency
   * run and each concurrency level repeated this many times, interleaved
   * across the targets; figures are medians over the rounds.
   */
  rounds?: number;
  /** bench/driver only: each round of a level lasts this long instead of `throughputCalls` calls. */
  throughputMs?: number;
}

type Session = NonNullable<DriverResult["session"]>;
type Latency = NonNullable<Session["latency"]>;
type Throughput = NonNullable<Session["throughput"]>[number];
type Payload = NonNullable<Session["payload"]>[number];

/**
 * The permission flags a host needs to launch plugins over unix sockets:
 * `--allow-run` on the plugin's executable; `--allow-env`, since the plugin
 * inherits the host's environment (read with `Deno.env.toObject()`); read and
 * write on the temp dir (`TMPDIR`), where `launch()` makes each plugin's
 * private socket directory and removes it again; and `--allow-net`: Deno 2.9
 * checks a unix socket's `connect` against the net permission
 * (`unix:<path>`), by exact path, and the path is the plugin's to choose, so
 * it cannot be narrowed. It also covers `node:tls` (AutoMTLS) on that socket.
 *
 * @param plugins The plugins' executables.
 * @param dirs The temp dir first, then any directory the host itself reads and writes.
 * @returns The flags.
 */
export function hostFlags(plugins: readonly string[], dirs: readonly string[]): string[] {
  const list = dirs.join(",");
  return [
    "--no-prompt",
    `--allow-run=${plugins.join(",")}`,
    "--allow-env",
    "--allow-net",
    `--allow-read=${list}`,
    `--allow-write=${list}`,
  ];
}

/** go-plugin's examples/grpc handshake (shared.Handshake). */
const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const KV = fromTsProto(KVDefinition);
/** The key every plugin directory holds a small value for (plugin.go `seedKey`). */
const SEED_KEY = "bench";
const enc = new TextEncoder();
const dec = new TextDecoder();
/** Status names as grpc-go spells them in errors (`ResourceExhausted`), so both drivers' notes match. */
const STATUS_NAMES = new Map<number, string>(
  Object.entries(Status).map(([k, v]) => [
    v,
    k === "OK" ? k : k.toLowerCase().replace(/(?:^|_)(\w)/g, (_, c: string) => c.toUpperCase()),
  ]),
);

function progress(message: string): void {
  console.error(`  ${message}`);
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

function errorText(err: unknown): string {
  if (err instanceof RpcError) {
    return `rpc error: code = ${STATUS_NAMES.get(err.code) ?? err.code} desc = ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function onOff(mode: boolean): string {
  return mode ? "on" : "off";
}

/** Whether `promise` settles within `ms` (with _timer.ts, not Node's timers). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timedOut = false;
  let wake!: () => void;
  const timeout = new Promise<void>((resolve) => (wake = resolve));
  const cancel = after(ms, () => {
    timedOut = true;
    wake();
  });
  await Promise.race([promise, timeout]);
  cancel();
  return !timedOut;
}

/** Keeps the last `max` characters written (plugin.go `tailBuffer`). */
class Tail {
  #text = "";
  constructor(readonly max: number) {}
  write(s: string): void {
    this.#text += s;
    if (this.#text.length > this.max) this.#text = this.#text.slice(-this.max);
  }
  toString(): string {
    return this.#text;
  }
}

/**
 * The host logger: warnings and errors into the tail (hclog at Warn in the Go
 * driver), and the moment `launch()` has parsed the handshake line (its
 * "using plugin" debug line, which is logged right after the checks).
 */
function hostLogger(tail: Tail, onHandshake: () => void): Logger {
  const base = createLogger({ level: "warn", module: "host", write: (l) => tail.write(l) });
  return {
    ...base,
    debug: (message, fields) => {
      if (message === "using plugin") onHandshake();
      base.debug(message, fields);
    },
  };
}

/** The plugins started and not yet stopped, SIGKILLed on SIGINT or SIGTERM. */
const live = new Set<Running>();

/** The driver's environment without PLUGIN_* variables, plus `extra` (plugin.go `childEnv`). */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("PLUGIN_")) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Writes kv_bench in a plugin's directory, so that its Get succeeds from the first call on. */
async function seedSmallValue(dir: string): Promise<void> {
  const path = `${dir}/kv_${SEED_KEY}`;
  try {
    await Deno.stat(path);
  } catch {
    await Deno.writeTextFile(path, "hello from the bench driver");
  }
}

/** One launched, connected plugin (plugin.go `running`). */
class Running {
  plugin!: PluginClient;
  kv!: ServiceClient<typeof KV>;
  pid = 0;
  exe = "";
  /** spawn → handshake line parsed, spawn → first successful Get, in ms. */
  handshakeMs = NaN;
  firstCallMs = NaN;
  readonly tail = new Tail(16 << 10);
  constructor(readonly callTimeoutMs: number) {}

  async get(key: string): Promise<Uint8Array> {
    return (await this.kv.get({ key }, { timeoutMs: this.callTimeoutMs })).value;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.kv.put({ key, value }, { timeoutMs: this.callTimeoutMs });
  }

  /** `kill()` as a host does, timed in ms; SIGKILL if it hangs 15 s (plugin.go `stop`). */
  async stop(): Promise<number> {
    const began = performance.now();
    const killed = this.plugin.kill();
    if (!await within(killed, 15_000)) {
      console.error(`  kill() has not returned after 15 s, sending SIGKILL to pid ${this.pid}`);
      try {
        Deno.kill(this.pid, "SIGKILL");
      } catch {
        // gone already
      }
      await within(killed, 5_000);
    }
    live.delete(this);
    return performance.now() - began;
  }

  failure(step: string, err: unknown): Error {
    const tail = this.tail.toString().trim();
    return new Error(
      tail
        ? `${step}: ${errorText(err)}\n--- plugin stderr / host log (tail) ---\n${tail}`
        : `${step}: ${errorText(err)}`,
    );
  }
}

/** Launches, connects and makes one Get (plugin.go `launch`). */
async function start(
  t: DriverTarget,
  autoMtls: boolean,
  startTimeoutMs: number,
  callTimeoutMs: number,
): Promise<Running> {
  await seedSmallValue(t.dir);
  const r = new Running(callTimeoutMs);
  const env = childEnv(t.env);
  let handshakeAt = NaN;
  const logger = hostLogger(r.tail, () => (handshakeAt = performance.now()));
  const began = performance.now();
  try {
    r.plugin = await launch({
      cmd: t.argv,
      cwd: t.dir,
      env,
      skipHostEnv: true,
      handshake: HANDSHAKE,
      autoMtls,
      startTimeoutMs,
      logger,
      stderr: (chunk) => r.tail.write(dec.decode(chunk)),
    });
  } catch (err) {
    throw r.failure("start", err);
  }
  live.add(r);
  r.pid = r.plugin.pid ?? 0;
  r.kv = r.plugin.client(KV);
  try {
    await r.get(SEED_KEY);
  } catch (err) {
    await r.stop();
    throw r.failure("first Get", err);
  }
  r.firstCallMs = performance.now() - began;
  r.handshakeMs = handshakeAt - began;
  if (r.pid === 0) {
    await r.stop();
    throw new Error("launch() reports no pid for the plugin");
  }
  r.exe = t.argv[0].slice(t.argv[0].lastIndexOf("/") + 1);
  return r;
}

/** n Get calls over c workers sharing the one connection (session.go `measureThroughput`). */
async function measureThroughput(r: Running, n: number, c: number): Promise<Throughput> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (++next <= n) {
      try {
        await r.get(SEED_KEY);
      } catch (err) {
        errors++;
        firstError ??= errorText(err);
      }
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: c }, worker));
  const seconds = (performance.now() - began) / 1000;
  return {
    concurrency: c,
    calls: n,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    seconds,
    perSecond: errors < n ? (n - errors) / seconds : 0,
  };
}

/** n unmeasured Gets over c workers. */
async function warm(r: Running, n: number, c: number): Promise<void> {
  if (n > 0) await measureThroughput(r, n, c);
}

/** n sequential Gets, each timed (session.go `measureLatency`). */
async function measureLatency(r: Running, n: number): Promise<Latency | undefined> {
  if (n <= 0) return undefined;
  const samples: number[] = [];
  const l: Latency = { calls: n, errors: 0, p50us: 0, p90us: 0, p99us: 0, meanUs: 0, maxUs: 0 };
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const began = performance.now();
    try {
      await r.get(SEED_KEY);
    } catch (err) {
      l.errors++;
      l.firstError ??= errorText(err);
      continue;
    }
    const us = (performance.now() - began) * 1000;
    samples.push(us);
    sum += us;
  }
  if (samples.length === 0) return l;
  const s = sorted(samples);
  l.p50us = percentile(s, 50);
  l.p90us = percentile(s, 90);
  l.p99us = percentile(s, 99);
  l.maxUs = s[s.length - 1];
  l.meanUs = sum / s.length;
  return l;
}

/** Bytes per median second, in MB/s (session.go `rate`). */
function rate(bytes: number, seconds: number[]): number {
  const med = percentile(sorted(seconds), 50);
  return med > 0 ? bytes / med / 1e6 : 0;
}

/** `reps` Puts of a random value, then `reps` Gets (session.go `measurePayload`). */
async function measurePayload(
  r: Running,
  dir: string,
  size: number,
  reps: number,
): Promise<Payload> {
  const p: Payload = { bytes: size };
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(value.subarray(i, i + 65536));
  const key = `payload${size}`;
  const file = `${dir}/kv_${key}`;

  const puts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const began = performance.now();
    try {
      await r.put(key, value);
    } catch (err) {
      p.putError = errorText(err);
      break;
    }
    puts.push((performance.now() - began) / 1000);
  }
  if (p.putError === undefined) {
    p.putMBps = rate(size, puts);
  } else {
    // Let Get be measured anyway, on a file of the same size.
    try {
      await Deno.writeFile(file, value);
    } catch (err) {
      p.getError = `seeding the value file: ${errorText(err)}`;
      return p;
    }
    p.seeded = true;
  }

  const gets: number[] = [];
  let got = 0;
  for (let i = 0; i < reps; i++) {
    const began = performance.now();
    try {
      got = (await r.get(key)).length;
    } catch (err) {
      p.getError = errorText(err);
      break;
    }
    gets.push((performance.now() - began) / 1000);
  }
  if (p.getError === undefined) {
    if (got < size) p.getError = `Get returned ${got} bytes, fewer than the ${size} stored`;
    else p.getMBps = rate(got, gets);
  }
  await Deno.remove(file).catch(() => {});
  return p;
}

function sizeName(n: number): string {
  return n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20} MiB` : `${n >> 10} KiB`;
}

function rateOrErr(mbps: number | undefined, err: string | undefined): string {
  return err !== undefined ? `FAILED (${firstLine(err)})` : `${(mbps ?? 0).toFixed(0)} MB/s`;
}

/** One long-lived plugin, measured at length (session.go `runSession`). */
async function runSession(
  cfg: DriverConfig,
  t: DriverTarget,
  mode: boolean,
  startTimeoutMs: number,
  callTimeoutMs: number,
): Promise<Session> {
  const r = await start(t, mode, startTimeoutMs, callTimeoutMs);
  try {
    // No plugin RSS: see the module doc.
    const s: Session = { rssStartKB: 0, rssAfterThroughputKB: 0, peakRssKB: 0 };
    await warm(r, cfg.warmupCalls, 1);
    s.latency = await measureLatency(r, cfg.latencyCalls);
    if (s.latency) {
      progress(
        `latency: ${s.latency.calls} calls, p50 ${s.latency.p50us.toFixed(0)} µs, p99 ${
          s.latency.p99us.toFixed(0)
        } µs, ${s.latency.errors} errors`,
      );
    }
    for (const c of cfg.concurrency) {
      await warm(r, cfg.warmupCalls, c);
      const tp = await measureThroughput(r, cfg.throughputCalls, c);
      (s.throughput ??= []).push(tp);
      progress(
        `throughput: concurrency ${String(c).padStart(2)}: ${
          tp.perSecond.toFixed(0).padStart(8)
        } calls/s (${tp.calls} calls, ${tp.errors} errors)`,
      );
    }
    for (const size of cfg.payloads) {
      const p = await measurePayload(r, t.dir, size, cfg.payloadReps);
      (s.payload ??= []).push(p);
      progress(
        `payload ${sizeName(size)}: Put ${rateOrErr(p.putMBps, p.putError)}, Get ${
          rateOrErr(p.getMBps, p.getError)
        }`,
      );
    }
    return s;
  } finally {
    await r.stop();
  }
}

/** The start phase, then the sessions (phases.go `run`). */
async function run(cfg: DriverConfig): Promise<DriverResult[]> {
  const startTimeoutMs = cfg.startTimeoutSec * 1000;
  const callTimeoutMs = cfg.callTimeoutSec * 1000;
  const key = (id: string, mode: boolean) => `${id}/${mode}`;
  const results: DriverResult[] = [];
  const byKey = new Map<string, DriverResult>();
  const starts = new Map<string, number[]>();
  const handshakes = new Map<string, number[]>();
  const stops = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => {
    if (!Number.isFinite(v)) return;
    const list = m.get(k) ?? [];
    list.push(v);
    m.set(k, list);
  };
  for (const mode of cfg.automtls) {
    for (const t of cfg.targets) {
      const r: DriverResult = { target: t.id, automtls: mode, ok: true };
      byKey.set(key(t.id, mode), r);
      results.push(r);
    }
  }

  // Phase 1: start-up, round robin.
  for (const mode of cfg.automtls) {
    console.error(`== start: ${cfg.launches} launches per plugin, AutoMTLS ${onOff(mode)}`);
    for (let i = 1; i <= cfg.launches; i++) {
      for (const t of cfg.targets) {
        const k = key(t.id, mode);
        const r = byKey.get(k)!;
        if (!r.ok) continue;
        const tag = `[${i}/${cfg.launches}] ${t.id.padEnd(24)} AutoMTLS ${onOff(mode).padEnd(3)}`;
        let l: Running;
        try {
          l = await start(t, mode, startTimeoutMs, callTimeoutMs);
        } catch (err) {
          r.ok = false;
          r.error = errorText(err);
          progress(`${tag} FAILED: ${firstLine(r.error)}`);
          continue;
        }
        r.exe = l.exe;
        const stopMs = await l.stop();
        push(starts, k, l.firstCallMs);
        push(handshakes, k, l.handshakeMs);
        push(stops, k, stopMs);
        progress(
          `${tag} start ${l.firstCallMs.toFixed(1).padStart(7)} ms (handshake ${
            l.handshakeMs.toFixed(1).padStart(7)
          })  stop ${stopMs.toFixed(1).padStart(6)} ms`,
        );
      }
    }
  }
  for (const [k, r] of byKey) {
    r.startMs = distOf(starts.get(k) ?? []);
    r.handshakeMs = distOf(handshakes.get(k) ?? []);
    r.stopMs = distOf(stops.get(k) ?? []);
  }

  // Phase 2: one long-lived plugin per target and mode.
  for (const mode of cfg.automtls) {
    for (const t of cfg.targets) {
      const r = byKey.get(key(t.id, mode))!;
      if (!r.ok) continue;
      console.error(`== session: ${t.id}, AutoMTLS ${onOff(mode)}`);
      try {
        r.session = await runSession(cfg, t, mode, startTimeoutMs, callTimeoutMs);
      } catch (err) {
        r.ok = false;
        r.error = errorText(err);
        progress(`FAILED: ${firstLine(r.error)}`);
      }
    }
  }
  return results;
}

/** Reads and checks the configuration, with bench/driver's defaults. */
async function readConfig(path: string): Promise<DriverConfig> {
  const cfg = JSON.parse(await Deno.readTextFile(path)) as Partial<DriverConfig>;
  if (!cfg.targets?.length) throw new Error("the configuration has no targets");
  if (cfg.references?.length) {
    throw new Error("references are timed by the Go driver only; give this driver none");
  }
  for (const t of cfg.targets) {
    if (!t.id || !t.argv?.length || !t.dir) {
      throw new Error(`target "${t.id}" needs id, argv and dir`);
    }
    t.env ??= {};
  }
  return {
    targets: cfg.targets,
    references: [],
    automtls: cfg.automtls?.length ? cfg.automtls : [false],
    launches: Math.max(1, cfg.launches ?? 1),
    warmupCalls: cfg.warmupCalls ?? 0,
    latencyCalls: cfg.latencyCalls ?? 0,
    throughputCalls: cfg.throughputCalls ?? 0,
    concurrency: cfg.concurrency ?? [],
    payloads: cfg.payloads ?? [],
    payloadReps: Math.max(1, cfg.payloadReps ?? 1),
    startTimeoutSec: (cfg.startTimeoutSec ?? 0) >= 1 ? cfg.startTimeoutSec! : 60,
    callTimeoutSec: (cfg.callTimeoutSec ?? 0) >= 1 ? cfg.callTimeoutSec! : 60,
  };
}

async function main(): Promise<number> {
  const i = Deno.args.indexOf("-config");
  const path = i >= 0 ? Deno.args[i + 1] : undefined;
  if (!path) {
    console.error("usage: host_driver.ts -config FILE");
    return 2;
  }
  let cfg: DriverConfig;
  try {
    cfg = await readConfig(path);
  } catch (err) {
    console.error(`host_driver: ${errorText(err)}`);
    return 2;
  }
  const onSignal = (sig: Deno.Signal) => () => {
    console.error(`host_driver: ${sig}: killing the plugins and exiting`);
    for (const r of live) {
      try {
        Deno.kill(r.pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    Deno.exit(130);
  };
  const signals = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);

  const began = performance.now();
  const results = await run(cfg);
  const out: DriverOutput = {
    host: {
      goVersion: "",
      goPlugin: "",
      grpcGo: "",
      deno: Deno.version.deno,
      cpus: navigator.hardwareConcurrency,
      cpuModel: "",
      memTotalKB: 0,
      kernel: "",
    },
    results,
    references: [],
    seconds: (performance.now() - began) / 1000,
    config: cfg,
  };
  for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
  const text = JSON.stringify(out, null, 2) + "\n";
  const bytes = enc.encode(text);
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
