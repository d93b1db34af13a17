/**
 * Soak: the real Go host (go-plugin v1.8.0, AutoMTLS on, unix socket) sends
 * unary Get calls at concurrency 64 to the Deno KV plugin, and we compare the
 * plugin's RSS after the first tenth of the calls with its RSS at the end.
 * Passes with zero errors and growth within 10%.
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
  growth: number;
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
    return {
      calls: r.result.calls,
      errors: r.result.errors,
      firstError: r.result.first_error,
      rssFirstKb: first,
      rssEndKb: end,
      growth: first ? (end - first) / first : NaN,
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
  console.log(`
| calls | errors | RSS after ${calls / 10} | RSS at end | growth | calls/s |
| --: | --: | --: | --: | --: | --: |
| ${r.calls} | ${r.errors} | ${(r.rssFirstKb / 1024).toFixed(1)} MiB | ${
    (r.rssEndKb / 1024).toFixed(1)
  } MiB | ${(r.growth * 100).toFixed(1)}% | ${r.callsPerSecond.toFixed(0)} |`);
  const ok = r.errors === 0 && r.growth <= 0.10;
  console.log(
    ok
      ? "\nPASS: zero errors, RSS growth within 10%"
      : `\nFAIL: ${r.errors} errors (${r.firstError}), growth ${(r.growth * 100).toFixed(1)}%`,
  );
  if (!ok) Deno.exit(1);
}
