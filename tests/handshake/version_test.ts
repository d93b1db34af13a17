import { chooseVersion, negotiateVersion } from "../../handshake/version.ts";
import { StartupError } from "../../errors.ts";
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

Deno.test("chooseVersion() fails with a message naming both sides when no version is common", () => {
  assertThrows(
    () => chooseVersion("7,8", [2, 1]),
    StartupError,
    /host supports protocol versions 7,8 \(PLUGIN_PROTOCOL_VERSIONS\) and this plugin serves 1, 2/,
  );
  assertThrows(() => chooseVersion("abc", [1]), StartupError, /="abc" lists no protocol version/);
  assertEquals(chooseVersion(undefined, [3, 2]).version, 2); // very old hosts: our lowest
  assertEquals(chooseVersion("x,2", [1, 2]).version, 2);
});

Deno.test("chooseVersion(): an empty PLUGIN_PROTOCOL_VERSIONS is no list: our lowest version, as go-plugin", () => {
  for (const empty of ["", " "]) {
    assertEquals(chooseVersion(empty, [3, 2]), { version: 2, agreed: false, ignored: [] });
  }
});
