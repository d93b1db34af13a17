/**
 * Soak: the real Go host (go-plugin v1.8.0, AutoMTLS on, unix socket) sends
 * unary Get calls at concurrency 64 to the Deno KV plugin, and reads the
 * plugin's RSS after every tenth of the calls. Passes with zero errors and
 * steady-state RSS growth, from 3/10 of the calls to the end, of at most
 * 8 MiB: past the warm-up (where V8's heap and the allocator find their
 * size) a plateau stays within a few MiB (the allocator grows in steps of
 * ~4 MiB), while a leak of 12 bytes per call would take the last 700,000 of
 * a million calls past 8 MiB. The growth after the first tenth (the old
 * criterion, 10%) is printed too.
 *
 * ```sh
 * deno task soak                # 1,000,000 calls
 * deno task soak --calls=50000  # shorter
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { buildGo } from "../tests/_util/go.ts";
import { denoRunLine } from "../tests/_util/plugin.ts";
import { runHost } from "../tests/_util/host.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    calls: { type: "string", default: "1000000" },
    concurrency: { type: "string", default: "64" },
    "no-automtls": { type: "boolean", default: false },
  },
});

/** Steady-state RSS growth allowed, from 3/10 of the calls to the end (see the module doc). */
const STEADY_GROWTH_KB = 8 << 10;

/** Result of one soak run. */
export interface SoakResult {
  calls: number;
  errors: number;
  firstError: string;
  rssFirstKb: number;
  rssEndKb: number;
  /** RSS after each tenth of the calls. */
  rssTenthsKb: number[];
  growth: number;
  /** RSS growth from 3/10 of the calls to the end, in KiB: the steady state. */
  steadyGrowthKb: number;
  callsPerSecond: number;
}

/**
 * Runs the soak.
 *
 * @param calls Number of calls.
 * @param concurrency Concurrent callers.
 * @param autoMtls Whether the host turns AutoMTLS on.
 * @returns The figures.
 */
export async function soak(
  calls: number,
  concurrency: number,
  autoMtls: boolean,
): Promise<SoakResult> {
  const host = await buildGo("host");
  const dir = await Deno.makeTempDir({ prefix: "rpcplugin-soak-" });
  try {
    await Deno.writeTextFile(`${dir}/kv_k`, "soak value");
    // `exec` so that the pid go-plugin reports is the plugin's own (dash forks otherwise).
    const cmd = "exec " + denoRunLine("examples/kv/plugin.ts", [dir]);
    const args = ["-cmd", cmd, ...(autoMtls ? ["-automtls"] : []), "-log-level", "info"];
    const r = await runHost(host, [...args, "soak", `${calls}`, `${concurrency}`, "k"], {
      cwd: dir,
      env: { TMPDIR: dir },
    });
    if (!r.result.ok && r.result.errors === 0) {
      throw new Error(`soak failed: ${r.result.error}\n${r.stderr}`);
    }
    const first = r.result.rss_first_kb ?? 0;
    const end = r.result.rss_end_kb ?? 0;
    const tenths = r.result.rss_tenths_kb ?? [];
    const warm = tenths[2] ?? 0;
    return {
      calls: r.result.calls,
      errors: r.result.errors,
      firstError: r.result.first_error,
      rssFirstKb: first,
      rssEndKb: end,
      rssTenthsKb: tenths,
      growth: first ? (end - first) / first : NaN,
      steadyGrowthKb: warm ? end - warm : NaN,
      callsPerSecond: r.result.calls / ((r.result.elapsed_ms ?? 1) / 1000),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const calls = Number(values.calls);
  const autoMtls = !values["no-automtls"];
  console.log(
    `soak: ${calls} Get calls, concurrency ${values.concurrency}, unix socket, AutoMTLS ${
      autoMtls ? "on" : "off"
    }`,
  );
  const r = await soak(calls, Number(values.concurrency), autoMtls);
  const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const warmAt = (3 * calls) / 10;
  console.log(`
| calls | errors | RSS after ${
    calls / 10
  } | RSS after ${warmAt} | RSS at end | growth after the first tenth | growth from ${warmAt} to the end | calls/s |
| --: | --: | --: | --: | --: | --: | --: | --: |
| ${r.calls} | ${r.errors} | ${mib(r.rssFirstKb)} | ${mib(r.rssTenthsKb[2] ?? 0)} | ${
    mib(r.rssEndKb)
  } | ${pct(r.growth)} | ${mib(r.steadyGrowthKb)} | ${r.callsPerSecond.toFixed(0)} |

RSS after each tenth: ${r.rssTenthsKb.map((kb) => (kb / 1024).toFixed(1)).join(", ")} MiB`);
  const ok = r.errors === 0 && r.steadyGrowthKb <= STEADY_GROWTH_KB;
  console.log(
    ok
      ? `\nPASS: zero errors, RSS growth from ${warmAt} calls to the end within ${
        STEADY_GROWTH_KB >> 10
      } MiB`
      : `\nFAIL: ${r.errors} errors (${r.firstError}), RSS growth from ${warmAt} calls to the end ` +
        `${mib(r.steadyGrowthKb)} (at most ${STEADY_GROWTH_KB >> 10} MiB)`,
  );
  if (!ok) Deno.exit(1);
}
