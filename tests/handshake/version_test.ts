import { negotiateVersion } from "../../handshake/version.ts";
import { assertEquals, assertThrows } from "../_util/assert.ts";

Deno.test("negotiateVersion() picks the highest common version whatever the order", () => {
  assertEquals(negotiateVersion("5,6", [4, 5, 6]), { version: 6, agreed: true, ignored: [] });
  assertEquals(negotiateVersion("6,5", [5]).version, 5);
  assertEquals(negotiateVersion(" 2 , 1 ", [1, 2, 3]).version, 2);
});

Deno.test("negotiateVersion() falls back to our lowest with no match or no list", () => {
  assertEquals(negotiateVersion("9", [4, 5]), { version: 4, agreed: false, ignored: [] });
  assertEquals(negotiateVersion(undefined, [3, 2]).version, 2);
  assertEquals(negotiateVersion("", [7]).version, 7);
});

Deno.test("negotiateVersion() skips garbage entries and reports them", () => {
  assertEquals(negotiateVersion("x,1,1.5", [1]), {
    version: 1,
    agreed: true,
    ignored: ["x", "1.5"],
  });
  assertEquals(negotiateVersion("garbage", [1]), {
    version: 1,
    agreed: false,
    ignored: ["garbage"],
  });
});

Deno.test("negotiateVersion() needs at least one version of ours", () => {
  assertThrows(() => negotiateVersion("1", []), RangeError, /serves no protocol version/);
});
