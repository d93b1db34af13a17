/**
 * serve()'s options that contradict each other fail at once, with a
 * TypeError naming both, before anything is started.
 */

import { serve, type ServeOptions } from "../../mod.ts";
import { kvService } from "../../examples/kv/kv.ts";
import { assert, assertEquals } from "../_util/host.ts";

const handshake = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello" };

async function rejection(options: ServeOptions): Promise<Error> {
  try {
    await serve({ ...options, exit: false });
  } catch (err) {
    return err as Error;
  }
  throw new Error("serve() did not reject");
}

Deno.test("serve(): services and versions both giving the handshake's version is a TypeError naming both", async () => {
  const kv = kvService();
  for (
    const [hs, version] of [[handshake, 1], [{ ...handshake, protocolVersion: 5 }, 5]] as const
  ) {
    const err = await rejection({ handshake: hs, services: [kv], versions: { [version]: [kv] } });
    assertEquals(err.constructor, TypeError);
    assert(
      err.message.includes(`protocol version ${version} twice`) &&
        err.message.includes("`services`") && err.message.includes(`\`versions[${version}]\``),
      err.message,
    );
  }
});

Deno.test("serve(): services next to versions for other versions is allowed (it reaches the cookie check)", async () => {
  const kv = kvService();
  const err = await rejection({ handshake, services: [kv], versions: { 2: [kv] } });
  assertEquals(err.name, "CookieError", err.message);
});

Deno.test("serve(): an unknown console mode is a TypeError listing the modes", async () => {
  const err = await rejection({
    handshake,
    services: [kvService()],
    console: "terminal" as ServeOptions["console"],
  });
  assertEquals(err.constructor, TypeError);
  assert(err.message.includes(`"both", "stdio", "hclog"`), err.message);
});
