/**
 * Soak: the real Go host (go-plugin v1.8.0, AutoMTLS on, unix socket) sends
 * unary Get calls at concurrency 64 to the Deno KV plugin, and reads the
 * plugin's RSS after every tenth of the calls. Passes with zero errors, RSS
 * growth from the first tenth (the warm-up: V8's heap and the allocator find
 * their size there) to the end within 10%, and over the second half of the
 * calls within 5% (a steady leak would show there as much as anywhere).
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
  /** Growth from half the calls to the end. */
  secondHalfGrowth: number;
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
    const half = tenths[4] ?? 0;
    return {
      calls: r.result.calls,
      errors: r.result.errors,
      firstError: r.result.first_error,
      rssFirstKb: first,
      rssEndKb: end,
      rssTenthsKb: tenths,
      growth: first ? (end - first) / first : NaN,
      secondHalfGrowth: half ? (end - half) / half : NaN,
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
  console.log(`
| calls | errors | RSS after ${calls / 10} | RSS after ${
    calls / 2
  } | RSS at end | growth after the first tenth | growth over the second half | calls/s |
| --: | --: | --: | --: | --: | --: | --: | --: |
| ${r.calls} | ${r.errors} | ${mib(r.rssFirstKb)} | ${mib(r.rssTenthsKb[4] ?? 0)} | ${
    mib(r.rssEndKb)
  } | ${pct(r.growth)} | ${pct(r.secondHalfGrowth)} | ${r.callsPerSecond.toFixed(0)} |

RSS after each tenth: ${r.rssTenthsKb.map((kb) => (kb / 1024).toFixed(1)).join(", ")} MiB`);
  const ok = r.errors === 0 && r.growth <= 0.10 && r.secondHalfGrowth <= 0.05;
  console.log(
    ok
      ? "\nPASS: zero errors, RSS growth within 10% after the first tenth and within 5% over the second half"
      : `\nFAIL: ${r.errors} errors (${r.firstError}), growth ${
        pct(r.growth)
      } after the first tenth ` +
        `(at most 10%), ${pct(r.secondHalfGrowth)} over the second half (at most 5%)`,
  );
  if (!ok) Deno.exit(1);
}
