/**
 * The interop matrix: every host × every plugin × transport (unix, tcp) ×
 * TLS (plaintext, AutoMTLS).
 *
 * Hosts: go-plugin v1.8.0 (our Go host, tests/interop/host), ours
 * (`launch()`), pyvider-rpcplugin's client (tests/interop/pyvider_host.py).
 * Plugins: ours (the Deno KV test plugin), go-plugin's Go KV plugin,
 * pyvider-rpcplugin's KV plugin (bench/python/kv_plugin.py).
 *
 * Every cell puts a value, gets it back (with the plugin's own suffix),
 * checks the transport and TLS the host really used, stops the plugin and
 * checks how it stopped (our host: `exited` not forced, all three plugins
 * implement GRPCController/Shutdown), and that no process and no socket file
 * is left behind. A cell that cannot work because of a peer's own limit is
 * still run and must fail exactly the expected way, so a peer that changes
 * is noticed; the test prints the whole table and fails if a cell that
 * should work did not.
 *
 * @module
 */

import { createLogger, fromTsProto } from "../../mod.ts";
import { launch } from "../../host/mod.ts";
import { KVDefinition } from "../../examples/kv/gen/kv_pb.ts";
import { FIXTURE } from "../_util/fixture.ts";
import { buildGo } from "../_util/go.ts";
import {
  type HostResult,
  runHost,
  socketFiles,
  waitNoProcesses,
  withTempDir,
} from "../_util/host.ts";
import { kvGoPlugin, type PyviderVenv, pyviderVenv } from "../_util/peers.ts";
import { DENO, pluginFlags, ROOT, shQuote } from "../_util/plugin.ts";

type HostName = "go-plugin" | "ours" | "pyvider";
type PluginName = "ours" | "go-plugin" | "pyvider";
type Transport = "unix" | "tcp";
type Tls = "plain" | "mtls";

/** One cell of the matrix. */
interface Cell {
  host: HostName;
  plugin: PluginName;
  transport: Transport;
  tls: Tls;
}

/** What a host observed in a cell that got through put and get. */
interface Outcome {
  /** What Get returned. */
  value: string;
  /** Where the plugin listened, as the host saw it. */
  network: string;
  /** Whether the connection was TLS. */
  tls: boolean;
  /** How the plugin ended: clean unless it had to be force-killed. */
  stop: { clean: boolean; how: string };
}

/** A host run that failed; `output` is everything it printed. */
class HostError extends Error {
  constructor(message: string, readonly output: string) {
    super(message);
  }
}

/** How to start one plugin, with its marker argument (the cell's directory). */
interface PluginSpec {
  /** The command line; `dir` is on it so that leftover processes can be found. */
  cmd: (dir: string, transport: Transport) => string[];
  /** Extra environment its host passes on. */
  env: (transport: Transport) => Record<string, string>;
  /** The plugin's name in the suffix its KV appends to every value. */
  suffix: string;
}

const KEY = "matrix";
/** The cookie every KV plugin here checks. */
const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
/**
 * pyvider's handshake and channel-ready timeout (s; it tries the channel 3
 * times): its default for cells that must work, short where a peer's limit
 * makes the cell fail anyway.
 */
const PYVIDER_TIMEOUT_S = { works: 10, limited: 2 };
/** A pyvider host run is killed after 3 timeouts and this much more. */
const PYVIDER_SLACK_MS = 6000;
/** Cells run at once. */
const CONCURRENCY = 2;

const decoder = new TextDecoder();

function plugins(goPlugin: string, venv: PyviderVenv): Record<PluginName, PluginSpec> {
  return {
    ours: {
      cmd: (dir, t) => [DENO, "run", ...pluginFlags([dir]), ROOT + FIXTURE, `--transport=${t}`],
      env: () => ({}),
      suffix: "plugin-deno",
    },
    // go-plugin's example plugin takes no arguments and ignores them.
    "go-plugin": { cmd: (dir) => [goPlugin, dir], env: () => ({}), suffix: "plugin-go-grpc" },
    pyvider: {
      cmd: (dir) => [venv.python, venv.kvPlugin, dir],
      env: (t) => ({ PYTHONPATH: venv.pythonPath, PLUGIN_SERVER_TRANSPORTS: t }),
      suffix: "plugin-python-pyvider",
    },
  };
}

/** Everything a host runner needs for one cell. */
interface Run {
  cell: Cell;
  dir: string;
  value: string;
  plugin: PluginSpec;
  venv: PyviderVenv;
  /** Whether a peer's limit makes the cell fail (see {@linkcode limitOf}). */
  limited: boolean;
}

/** The JSON result of tests/interop/host, with the field host.ts does not declare. */
type GoHostResult = HostResult & { group_killed?: boolean };

/** go-plugin's host: one launch for the put, one for the get. */
async function goPluginHost(r: Run): Promise<Outcome> {
  const bin = await buildGo("host");
  const line = r.plugin.cmd(r.dir, r.cell.transport).map(shQuote).join(" ");
  const flags = [
    "-cmd",
    line,
    "-log-level",
    "debug",
    ...(r.cell.tls === "mtls" ? ["-automtls"] : []),
  ];
  const opts = { cwd: r.dir, env: { TMPDIR: r.dir, ...r.plugin.env(r.cell.transport) } };
  const put = await runHost(bin, [...flags, "put", KEY, r.value], opts);
  if (!put.result.ok) throw new HostError(`put: ${put.result.error}`, put.stdout + put.stderr);
  const get = await runHost(bin, [...flags, "get", KEY], opts);
  if (!get.result.ok) throw new HostError(`get: ${get.result.error}`, get.stdout + get.stderr);
  // tests/interop/host also reports whether it had to kill the process group.
  const runs = [put, get].map((x) => ({ ...x, result: x.result as GoHostResult }));
  const unclean = runs.filter((x) =>
    !x.result.exited || x.result.group_killed ||
    x.stderr.includes("plugin failed to exit gracefully")
  );
  return {
    value: get.result.value,
    network: get.result.network,
    // go-plugin's AutoMTLS host dials TLS only (a plaintext plugin fails), and
    // without it go-plugin panics on a certificate in the handshake line.
    tls: r.cell.tls === "mtls",
    stop: {
      clean: unclean.length === 0,
      how: unclean.length
        ? `Kill() forced (group_killed=${unclean[0].result.group_killed})`
        : `Kill() ${Math.max(...runs.map((x) => x.result.kill_ms))} ms`,
    },
  };
}

/** Our host: launch(), put, get, kill(), then how it exited. */
async function ourHost(r: Run): Promise<Outcome> {
  const log: string[] = [];
  const enc = new TextEncoder();
  let plugin;
  try {
    plugin = await launch({
      cmd: r.plugin.cmd(r.dir, r.cell.transport),
      handshake: HANDSHAKE,
      autoMtls: r.cell.tls === "mtls",
      cwd: r.dir,
      env: { TMPDIR: r.dir, ...r.plugin.env(r.cell.transport) },
      unixSocket: { dir: r.dir },
      startTimeoutMs: 20_000,
      logger: createLogger({ level: "debug", module: "host", write: (l) => log.push(l) }),
    });
  } catch (err) {
    throw new HostError(`launch: ${(err as Error).message}`, log.join(""));
  }
  const started = performance.now();
  let value: string;
  try {
    const kv = plugin.client(fromTsProto(KVDefinition));
    await kv.put({ key: KEY, value: enc.encode(r.value) }, { timeoutMs: 10_000 });
    value = decoder.decode((await kv.get({ key: KEY }, { timeoutMs: 10_000 })).value);
  } catch (err) {
    throw new HostError(`put/get: ${(err as Error).message}`, log.join(""));
  } finally {
    await plugin.kill();
  }
  const exit = await plugin.exited;
  const ms = Math.round(performance.now() - started);
  return {
    value,
    network: plugin.network,
    // launch() with autoMtls refuses a plugin that sends no certificate.
    tls: r.cell.tls === "mtls",
    stop: {
      clean: !exit.forced && !log.some((l) => l.includes("failed to exit gracefully")),
      how: `exited ${exit.signal ?? `code ${exit.code}`}${
        exit.forced ? ", forced" : ""
      } (${ms} ms)`,
    },
  };
}

/** Runs a command, killing it after `deadlineMs`. */
async function runBounded(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string> },
  deadlineMs: number,
): Promise<{ code: number; stdout: string; stderr: string; killed: boolean }> {
  const child = new Deno.Command(cmd, {
    args,
    ...opts,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, deadlineMs);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      killed,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** pyvider's client: put then get in one run; its DEBUG log says what it did. */
async function pyviderHost(r: Run): Promise<Outcome> {
  const timeoutS = PYVIDER_TIMEOUT_S[r.limited ? "limited" : "works"];
  const deadlineMs = 3 * timeoutS * 1000 + PYVIDER_SLACK_MS;
  const args = [
    r.venv.host,
    ...(r.cell.tls === "plain" ? ["--plain"] : []),
    "--timeout",
    `${timeoutS}`,
    "--key",
    KEY,
    "--value",
    r.value,
    "--",
    ...r.plugin.cmd(r.dir, r.cell.transport),
  ];
  const env = {
    TMPDIR: r.dir,
    PYTHONPATH: r.venv.pythonPath,
    PROVIDE_LOG_LEVEL: "DEBUG",
    ...r.plugin.env(r.cell.transport),
  };
  const res = await runBounded(r.venv.python, args, { cwd: r.dir, env }, deadlineMs);
  const output = res.stdout + res.stderr;
  const stop = pyviderStop(res.stderr);
  if (res.killed) {
    throw new HostError(`pyvider host did not exit within ${deadlineMs} ms`, output);
  }
  if (res.code !== 0) {
    const line = res.stdout.split("\n").find((l) => l.startsWith("error: "))?.slice(7) ??
      `exit ${res.code}`;
    throw new HostError(`${line} [its stop of the plugin: ${stop.how}]`, output);
  }
  const hs = res.stderr.match(
    /Handshake parsed successfully: .*?network=(\w+),.*?server_cert=(\w+)/,
  );
  if (!hs) throw new HostError("pyvider logged no parsed handshake", output);
  return {
    value: res.stdout.replace(/\n$/, ""),
    network: hs[1],
    tls: hs[2] === "present",
    stop,
  };
}

/** How pyvider's client ended the plugin, from its DEBUG log. */
function pyviderStop(log: string): Outcome["stop"] {
  if (log.includes("force killing") || log.includes("was force-killed")) {
    return { clean: false, how: "SIGKILL" };
  }
  if (log.includes("Process already terminated")) return { clean: true, how: "exited on Shutdown" };
  if (log.includes("Sent SIGTERM")) return { clean: true, how: "TERM" };
  return { clean: false, how: "not logged" };
}

const HOSTS: Record<HostName, (r: Run) => Promise<Outcome>> = {
  "go-plugin": goPluginHost,
  ours: ourHost,
  pyvider: pyviderHost,
};

/** What is left in the cell's directory and process table. */
async function leftovers(dir: string): Promise<{ processes: string[]; sockets: string[] }> {
  const processes = await waitNoProcesses(dir);
  const sockets = new Set(socketFiles(dir));
  for (const e of Deno.readDirSync(dir)) {
    if (Deno.lstatSync(`${dir}/${e.name}`).isSocket) sockets.add(e.name);
  }
  return { processes, sockets: [...sockets] };
}

/** Everything a cell produced. */
interface Result {
  outcome?: Outcome;
  error?: HostError | Error;
  /** Differences from what a working cell does (value, transport, TLS, stop). */
  problems: string[];
  left: { processes: string[]; sockets: string[] };
  ms: number;
}

/** A cell that cannot work because of a peer: why, and how it must fail. */
interface Limit {
  reason: string;
  /** What the cell must do instead. */
  expect: string;
  matches: (r: Result) => boolean;
}

const GO_UNIX_ONLY =
  "go-plugin's Go plugin listens on a unix socket on Linux whatever it is asked (go-plugin serves tcp only on Windows)";
const PYVIDER_P521 =
  "pyvider's client (grpcio's BoringSSL) cannot use go-plugin's P-521 server certificate: the Go plugin answers handshake_failure";

/** The peer limits, by cell; `null` for a cell that must work. */
function limitOf(c: Cell): Limit | null {
  if (c.host === "pyvider" && c.plugin === "go-plugin" && c.tls === "mtls") {
    return {
      reason: c.transport === "tcp" ? `${PYVIDER_P521} (and ${GO_UNIX_ONLY})` : PYVIDER_P521,
      expect: "a TLS handshake failure (SSLV3_ALERT_HANDSHAKE_FAILURE)",
      matches: (r) => !!r.error && errorOutput(r.error).includes("SSLV3_ALERT_HANDSHAKE_FAILURE"),
    };
  }
  if (c.plugin === "go-plugin" && c.transport === "tcp") {
    return {
      reason: GO_UNIX_ONLY,
      expect: "put/get work, over unix instead",
      matches: (r) =>
        !r.error && r.problems.join() === "listened on unix" && !r.left.processes.length &&
        !r.left.sockets.length,
    };
  }
  return null;
}

function errorOutput(err: Error): string {
  return err instanceof HostError ? `${err.message}\n${err.output}` : String(err);
}

/** Runs one cell in a fresh directory. */
async function runCell(cell: Cell, specs: Record<PluginName, PluginSpec>, venv: PyviderVenv) {
  return await withTempDir(async (dir): Promise<Result> => {
    const value = `v-${cell.host}-${cell.plugin}-${cell.transport}-${cell.tls}`;
    const plugin = specs[cell.plugin];
    const t0 = performance.now();
    let outcome: Outcome | undefined;
    let error: Error | undefined;
    try {
      const limited = limitOf(cell) !== null;
      outcome = await HOSTS[cell.host]({ cell, dir, value, plugin, venv, limited });
    } catch (err) {
      error = err as Error;
    }
    const ms = Math.round(performance.now() - t0);
    const problems: string[] = [];
    if (outcome) {
      const want = `${value}\n\nWritten from ${plugin.suffix}`;
      if (outcome.value !== want) problems.push(`get returned ${JSON.stringify(outcome.value)}`);
      if (outcome.network !== cell.transport) problems.push(`listened on ${outcome.network}`);
      if (outcome.tls !== (cell.tls === "mtls")) problems.push(`tls=${outcome.tls}`);
      if (!outcome.stop.clean) problems.push(`unclean stop: ${outcome.stop.how}`);
    }
    const left = await leftovers(dir);
    // Reap what a failing peer left, by pid, so that the next cells start clean.
    for (const line of left.processes) {
      try {
        Deno.kill(Number(line.trim().split(/\s+/)[0]), "SIGKILL");
      } catch {
        // already gone
      }
    }
    return { outcome, error, problems, left, ms };
  });
}

/** Runs `fn` on every item, `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: n }, worker));
}

function oneLine(s: string, max = 160): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

Deno.test("interop matrix: 3 hosts × 3 plugins × unix/tcp × plain/AutoMTLS, put/get, clean stop, nothing left", async () => {
  const t0 = performance.now();
  const [goPlugin, venv] = await Promise.all([kvGoPlugin(), pyviderVenv(), buildGo("host")]);
  const specs = plugins(goPlugin, venv);
  const hostNames = Object.keys(HOSTS) as HostName[];
  const pluginNames = Object.keys(specs) as PluginName[];
  const columns: [Transport, Tls][] = [["unix", "plain"], ["unix", "mtls"], ["tcp", "plain"], [
    "tcp",
    "mtls",
  ]];
  const cells: Cell[] = hostNames.flatMap((host) =>
    pluginNames.flatMap((plugin) =>
      columns.map(([transport, tls]) => ({ host, plugin, transport, tls }))
    )
  );
  const setupMs = Math.round(performance.now() - t0);

  const texts = new Map<Cell, string>();
  const notes: string[] = [];
  const failures: string[] = [];
  await pool(cells, CONCURRENCY, async (cell) => {
    const r = await runCell(cell, specs, venv);
    const name = `${cell.host} host × ${cell.plugin} plugin, ${cell.transport}/${cell.tls}`;
    const leftText = [
      ...r.left.processes.map((p) => `process ${oneLine(p, 80)}`),
      ...r.left.sockets.map((s) => `socket ${s}`),
    ];
    const got = r.error
      ? `error: ${oneLine(r.error.message, 400)}`
      : `${r.problems.length ? r.problems.join("; ") : "works"} (stop: ${r.outcome!.stop.how})`;
    const limit = limitOf(cell);
    let text: string;
    if (limit) {
      if (limit.matches(r)) {
        const n = notes.push(
          `[${
            notes.length + 1
          }] ${name}: n/a: ${limit.reason}. Expected ${limit.expect}; observed: ${got}` +
            (leftText.length ? `; left behind: ${leftText.join(", ")}` : ""),
        );
        text = `n/a [${n}]`;
      } else {
        const msg = `${name}: expected ${limit.expect} (${limit.reason}), got ${got}` +
          (leftText.length ? `; left behind: ${leftText.join(", ")}` : "");
        failures.push(msg);
        text = `FAIL [${notes.push(`[${notes.length + 1}] ${msg}`)}]`;
      }
    } else if (!r.error && !r.problems.length && !leftText.length) {
      text = `ok ${r.ms}ms${r.outcome!.stop.how === "TERM" ? " TERM" : ""}`;
    } else {
      const detail = r.error
        ? `${got}\n    ${oneLine(errorOutput(r.error).slice(-1200), 600)}`
        : got;
      const msg = `${name}: ${detail}${
        leftText.length ? `; left behind: ${leftText.join(", ")}` : ""
      }`;
      failures.push(msg);
      text = `FAIL [${notes.push(`[${notes.length + 1}] ${msg}`)}]`;
    }
    texts.set(cell, text);
  });

  const header = [
    "host × plugin",
    ...columns.map(([t, s]) => `${t}/${s === "mtls" ? "AutoMTLS" : s}`),
  ];
  const rows = hostNames.flatMap((host) =>
    pluginNames.map((plugin) => [
      `${host} × ${plugin}`,
      ...columns.map(([transport, tls]) =>
        texts.get(
          cells.find((c) =>
            c.host === host && c.plugin === plugin && c.transport === transport && c.tls === tls
          )!,
        )!
      ),
    ])
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join(" | ");
  console.log(
    [
      "",
      fmt(header),
      widths.map((w) => "-".repeat(w)).join("-|-"),
      ...rows.map(fmt),
      "",
      "ok Nms: put, get, clean stop, nothing left; N is the cell's wall time. TERM: pyvider's client",
      "sent SIGTERM 50 ms after Shutdown, the plugin had not exited yet, and it exited on SIGTERM.",
      ...notes,
      `setup ${setupMs} ms, ${cells.length} cells ${CONCURRENCY} at a time: ${
        Math.round(performance.now() - t0)
      } ms in all`,
    ].join("\n"),
  );
  if (failures.length) {
    throw new Error(`${failures.length} matrix cell(s) failed:\n${failures.join("\n")}`);
  }
});
