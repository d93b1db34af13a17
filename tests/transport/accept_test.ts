/**
 * transport/accept.ts's listener on a unix socket: a connection whose
 * handler throws is closed and logged, and the listener keeps accepting.
 * (Failed accepts: tests/server/accept_errors_test.ts; the bound:
 * tests/server/connection_limit_test.ts.)
 */

import { listenPlain } from "../../transport/accept.ts";
import { createLogger } from "../../log/logger.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";

Deno.test("listenPlain(): a handler that throws gets its socket closed and an ERROR; the next connection is served", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const log = createLogger({ level: "error", write: (l) => lines.push(l) });
    const served = Promise.withResolvers<Deno.Conn>();
    let calls = 0;
    const path = `${dir}/plugin.sock`;
    const listener = listenPlain("unix", path, (sock) => {
      if (++calls === 1) throw new Error("the handler has a bug");
      served.resolve(sock);
      return new Promise(() => {});
    }, log);
    const first = await Deno.connect({ transport: "unix", path });
    const second = await Deno.connect({ transport: "unix", path });
    try {
      assertEquals(await first.read(new Uint8Array(8)).catch(() => null), null);
      const sock = await served.promise;
      sock.close();
      assertEquals(lines.length, 1, lines.join(""));
      assert(lines[0].includes("the handler has a bug"), lines[0]);
    } finally {
      first.close();
      second.close();
      listener.close();
    }
  });
});
