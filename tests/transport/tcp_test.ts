import { bindInRange, readPortRange } from "../../transport/tcp.ts";
import { PermissionError, StartupError } from "../../errors.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

const env = (vars: Record<string, string>) => (k: string) => vars[k];

Deno.test("readPortRange() reads the host's range, or any port when unset", () => {
  assertEquals(readPortRange(env({})), { min: 0, max: 0 });
  assertEquals(readPortRange(env({ PLUGIN_MIN_PORT: "10000", PLUGIN_MAX_PORT: "25000" })), {
    min: 10000,
    max: 25000,
  });
});

Deno.test("readPortRange() rejects bad values with messages naming the variable", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { PLUGIN_MIN_PORT: "abc", PLUGIN_MAX_PORT: "5" },
      /PLUGIN_MIN_PORT="abc" is not a port number/,
    ],
    [{ PLUGIN_MIN_PORT: "1", PLUGIN_MAX_PORT: "70000" }, /PLUGIN_MAX_PORT=70000 is out of range/],
    [{ PLUGIN_MIN_PORT: "20", PLUGIN_MAX_PORT: "10" }, /greater than PLUGIN_MAX_PORT=10/],
    [{ PLUGIN_MIN_PORT: "5000" }, /PLUGIN_MIN_PORT=5000 is greater than PLUGIN_MAX_PORT=0/],
    [{ PLUGIN_MIN_PORT: "-1", PLUGIN_MAX_PORT: "5" }, /not a port number/],
  ];
  for (const [vars, pattern] of cases) {
    assertThrows(() => readPortRange(env(vars)), StartupError, pattern);
  }
});

Deno.test("bindInRange() tries ports in order and takes the first free one", async () => {
  const tried: number[] = [];
  const port = await bindInRange({ min: 100, max: 105 }, (p) => {
    tried.push(p);
    return Promise.resolve(p < 103 ? null : p);
  });
  assertEquals([port, tried], [103, [100, 101, 102, 103]]);
});

Deno.test("bindInRange() reports a full range", async () => {
  let err: unknown;
  try {
    await bindInRange({ min: 7, max: 8 }, () => Promise.resolve(null));
  } catch (e) {
    err = e;
  }
  assertEquals(
    (err as Error).message,
    "No free TCP port on 127.0.0.1 between 7 and 8: free a port or have the host widen PLUGIN_MIN_PORT/PLUGIN_MAX_PORT",
  );
});

Deno.test("bindInRange() skips every port that fails to bind, not only ports in use", async () => {
  const tried: number[] = [];
  const port = await bindInRange({ min: 1020, max: 1030 }, (p) => {
    tried.push(p);
    if (p < 1024) return Promise.reject(new Deno.errors.PermissionDenied("Permission denied"));
    return Promise.resolve(p === 1024 ? null : p);
  });
  assertEquals([port, tried], [1025, [1020, 1021, 1022, 1023, 1024, 1025]]);
});

Deno.test("bindInRange() with no port bound names the range and the last error", async () => {
  let err: unknown;
  try {
    await bindInRange(
      { min: 1000, max: 1002 },
      (p) =>
        p === 1001
          ? Promise.resolve(null)
          : Promise.reject(new Deno.errors.PermissionDenied(`Permission denied (port ${p})`)),
    );
  } catch (e) {
    err = e;
  }
  assert(err instanceof StartupError, String(err));
  assertEquals(
    (err as Error).message,
    "No TCP port on 127.0.0.1 between 1000 and 1002 could be bound (last error, port 1002: " +
      "Permission denied (port 1002)): ports below 1024 need privileges the plugin lacks; " +
      "have the host set PLUGIN_MIN_PORT/PLUGIN_MAX_PORT to a range of free ports at or above 1024",
  );
  assert((err as Error).cause instanceof Deno.errors.PermissionDenied);
});

Deno.test("bindInRange() lets a Deno permission refusal through at once", async () => {
  const tried: number[] = [];
  let err: unknown;
  try {
    await bindInRange({ min: 5000, max: 5005 }, (p) => {
      tried.push(p);
      return Promise.reject(new PermissionError("--allow-net", `listening on 127.0.0.1:${p}`));
    });
  } catch (e) {
    err = e;
  }
  assert(err instanceof PermissionError, String(err));
  assertEquals(tried, [5000]);
});
