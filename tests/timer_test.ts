/** Tests of `_timer.ts`: the cheap one-shot timer. */

import { after } from "../_timer.ts";
import { assert, assertEquals } from "./_util/assert.ts";
import { DENO, ROOT } from "./_util/plugin.ts";

/** Runs `fn` with a ref'd timer holding the event loop, as a plugin's listener does. */
async function alive(fn: () => Promise<void>): Promise<void> {
  const hold = setInterval(() => {}, 1000);
  try {
    await fn();
  } finally {
    clearInterval(hold);
  }
}

Deno.test("after() fires once, no sooner than asked", () =>
  alive(async () => {
    const start = performance.now();
    let calls = 0;
    const fired = await new Promise<number>((resolve) =>
      after(30, () => {
        calls++;
        resolve(performance.now());
      })
    );
    assert(fired - start >= 29, `fired after ${fired - start} ms`);
    assertEquals(calls, 1);
  }));

Deno.test("after() does not fire once cancelled, and cancelling twice is harmless", () =>
  alive(async () => {
    let fired = false;
    const cancel = after(10, () => (fired = true));
    cancel();
    cancel();
    await new Promise<void>((resolve) => after(40, resolve));
    assertEquals(fired, false);
  }));

Deno.test("after(0) runs on a microtask", async () => {
  const order: string[] = [];
  after(0, () => order.push("timer"));
  order.push("sync");
  await Promise.resolve();
  await Promise.resolve();
  assertEquals(order, ["sync", "timer"]);
});

Deno.test("after() does not keep the process alive (no Node timers loaded either)", async () => {
  const script = `import { after } from "${ROOT}_timer.ts"; after(60_000, () => {});`;
  const start = performance.now();
  const out = await new Deno.Command(DENO, { args: ["eval", script], stderr: "piped" }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assert(performance.now() - start < 30_000, "the process waited for the timer");
});
