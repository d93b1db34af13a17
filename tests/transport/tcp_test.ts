import { bindInRange, readPortRange } from "../../transport/tcp.ts";
import { StartupError } from "../../errors.ts";
import { assertEquals, assertThrows } from "../_util/assert.ts";

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
