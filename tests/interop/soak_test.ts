/**
 * The short CI variant of bench/soak.ts: 20,000 calls at concurrency 64 over
 * unix + AutoMTLS with the real Go host, zero errors. The RSS figures are
 * printed, not asserted (the full soak checks the steady-state growth).
 */

import { soak } from "../../bench/soak.ts";
import { assertEquals } from "../_util/host.ts";

Deno.test("soak (short): 20,000 unary calls at concurrency 64, unix + AutoMTLS, zero errors", async () => {
  const r = await soak(20_000, 64, true);
  assertEquals([r.calls, r.errors], [20_000, 0], r.firstError);
  console.log(
    `  RSS ${(r.rssFirstKb / 1024).toFixed(1)} MiB after 2,000 calls, ${
      (r.rssEndKb / 1024).toFixed(1)
    } MiB at the end; ${r.callsPerSecond.toFixed(0)} calls/s`,
  );
});
