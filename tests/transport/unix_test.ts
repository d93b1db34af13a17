import {
  applySocketGroup,
  checkSocketDir,
  chooseSocketPath,
  removeSocket,
  resolveGroup,
} from "../../transport/unix.ts";
import { StartupError } from "../../errors.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";

const env = (vars: Record<string, string>) => (k: string) => vars[k];

Deno.test("chooseSocketPath() prefers PLUGIN_UNIX_SOCKET_DIR, then TMPDIR, then /tmp", () => {
  assert(
    /^\/sock\/plugin\d+$/.test(
      chooseSocketPath(env({ PLUGIN_UNIX_SOCKET_DIR: "/sock/", TMPDIR: "/t" })),
    ),
    "dir",
  );
  assert(/^\/t\/plugin\d+$/.test(chooseSocketPath(env({ TMPDIR: "/t" }))), "tmpdir");
  assert(/^\/tmp\/plugin\d+$/.test(chooseSocketPath(env({}))), "default");
  assert(chooseSocketPath(env({})) !== chooseSocketPath(env({})), "random names");
});

Deno.test("chooseSocketPath() refuses a path longer than the OS allows, naming the variable", () => {
  const long = "/" + "d".repeat(100);
  assertThrows(
    () => chooseSocketPath(env({ TMPDIR: long })),
    StartupError,
    /longer than the 10\d bytes.*set TMPDIR/,
  );
  assertThrows(
    () => chooseSocketPath(env({ PLUGIN_UNIX_SOCKET_DIR: long })),
    StartupError,
    /set PLUGIN_UNIX_SOCKET_DIR to a shorter directory/,
  );
});

Deno.test("checkSocketDir() explains a missing directory or a file in its place", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertThrows(() => checkSocketDir(`${dir}/nope/plugin1`), StartupError, /does not exist/);
    await Deno.writeTextFile(`${dir}/file`, "");
    assertThrows(() => checkSocketDir(`${dir}/file/plugin1`), StartupError, /is not a directory/);
    checkSocketDir(`${dir}/plugin1`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveGroup() takes gids and group names, and rejects unknown groups", () => {
  assertEquals(resolveGroup("1234"), 1234);
  assertEquals(resolveGroup("root"), 0);
  assertThrows(
    () => resolveGroup("no-such-group-xyz"),
    StartupError,
    /names the group "no-such-group-xyz", which does not exist/,
  );
});

Deno.test("applySocketGroup() sets the group and mode 0660", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/plugin1`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const gid = Deno.statSync(dir).gid!;
    applySocketGroup(path, String(gid));
    const st = Deno.statSync(path);
    assertEquals([st.gid, st.mode! & 0o777], [gid, 0o660]);
  } finally {
    listener.close();
    removeSocket(path);
    removeSocket(path); // twice is fine
    await Deno.remove(dir, { recursive: true });
  }
});
