/**
 * The GRPCBroker, plain mode, against go-plugin's own bidirectional example
 * (`examples/bidirectional`, from the Go module proxy):
 *
 * - our host launches go-plugin's Go counter plugin, serves `AddHelper`
 *   through `plugin.broker.acceptAndServe()` and passes its id in
 *   `PutRequest.add_server`; the Go plugin dials it back (plain and AutoMTLS):
 *   put, put, get gives 2;
 * - a dial nobody announces fails after the timeout with an error naming the
 *   id; killing the plugin closes the broker's listeners and removes their
 *   sockets.
 */

import { fromTsProto, implement } from "../../mod.ts";
import { BrokerError, launch } from "../../host/mod.ts";
import { AddHelperDefinition, CounterDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { buildGo } from "../_util/go.ts";
import { assert, assertEquals, socketFiles, waitNoProcesses, withTempDir } from "../_util/host.ts";

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const counterDef = fromTsProto(CounterDefinition);
const addHelperDef = fromTsProto(AddHelperDefinition);

/** go-plugin's Go counter plugin, copied into `dir` so that its path marks this test's processes. */
async function counterPlugin(dir: string): Promise<string> {
  const exe = `${dir}/counter-go`;
  await Deno.copyFile(await buildGo("countergo"), exe);
  await Deno.chmod(exe, 0o755);
  return exe;
}

for (const autoMtls of [false, true]) {
  Deno.test(`broker: our host serves AddHelper, go-plugin's Go counter plugin dials it back (${autoMtls ? "AutoMTLS" : "plain"})`, async () => {
    await withTempDir(async (dir) => {
      const lines: string[] = [];
      const plugin = await launch({
        cmd: [await counterPlugin(dir)],
        cwd: dir,
        handshake: HANDSHAKE,
        autoMtls,
        unixSocket: { dir },
        logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
      });
      const sums: [bigint, bigint][] = [];
      const addHelper = implement(addHelperDef, {
        sum: (req) => {
          sums.push([req.a, req.b]);
          return { r: req.a + req.b };
        },
      });
      try {
        const counter = plugin.client(counterDef);
        for (let i = 0; i < 2; i++) {
          const id = plugin.broker.nextId();
          const server = await plugin.broker.acceptAndServe(id, [addHelper]);
          await counter.put({ addServer: id, key: "hello", value: 1n }, { timeoutMs: 10_000 });
          await server.close();
        }
        const got = await counter.get({ key: "hello" }, { timeoutMs: 5000 });
        assertEquals(String(got.value), "2");
        assertEquals(sums.map(([a, b]) => `${a}+${b}`), ["0+1", "1+1"]);
        assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/kv_hello`)), { Value: 2 });
      } finally {
        await plugin.kill();
      }
      assertEquals((await plugin.exited).forced, false, lines.join("\n"));
      assertEquals(socketFiles(dir), [], "a broker or plugin socket was left");
      assertEquals(await waitNoProcesses(dir), []);
    });
  });
}

Deno.test("broker: a dial nobody announces fails after the timeout, naming the id", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launch({
      cmd: [await counterPlugin(dir)],
      cwd: dir,
      handshake: HANDSHAKE,
      autoMtls: false,
      logger: createLogger({ level: "off" }),
    });
    try {
      let error: unknown;
      try {
        await plugin.broker.dial(42, 100);
      } catch (err) {
        error = err;
      }
      assert(error instanceof BrokerError, String(error));
      assert(error.message.includes("broker id 42"), error.message);
    } finally {
      await plugin.kill();
    }
  });
});

Deno.test("broker: kill() closes the host's broker listeners and removes their sockets", async () => {
  await withTempDir(async (dir) => {
    const plugin = await launch({
      cmd: [await counterPlugin(dir)],
      cwd: dir,
      handshake: HANDSHAKE,
      unixSocket: { dir },
      logger: createLogger({ level: "off" }),
    });
    const addHelper = implement(addHelperDef, { sum: (req) => ({ r: req.a + req.b }) });
    await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelper]);
    await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelper]);
    assert(socketFiles(dir).length >= 2, `expected broker sockets in ${socketFiles(dir)}`);
    await plugin.kill();
    assertEquals(socketFiles(dir), []);
    let refused: unknown;
    try {
      await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelper]);
    } catch (err) {
      refused = err;
    }
    assert(refused instanceof BrokerError, "a closed broker must refuse to serve");
  });
});

for (const autoMtls of [false, true]) {
  Deno.test(`broker: a Go plugin serves AddHelper through the broker, our host dials it (${autoMtls ? "AutoMTLS" : "plain"})`, async () => {
    await withTempDir(async (dir) => {
      const exe = `${dir}/brokerpeer`;
      await Deno.copyFile(await buildGo("brokerpeer"), exe);
      await Deno.chmod(exe, 0o755);
      const plugin = await launch({
        cmd: [exe, "plugin"],
        cwd: dir,
        handshake: HANDSHAKE,
        autoMtls,
        unixSocket: { dir },
        logger: createLogger({ level: "off" }),
      });
      try {
        const { value: id } = await plugin.client(counterDef).get({ key: "id" }, {
          timeoutMs: 5000,
        });
        const conn = await plugin.broker.dial(Number(id));
        try {
          const { r } = await conn.client(addHelperDef).sum({ a: 2n, b: 3n }, { timeoutMs: 5000 });
          assertEquals(String(r), "5");
        } finally {
          conn.close();
        }
      } finally {
        await plugin.kill();
      }
      assertEquals((await plugin.exited).forced, false);
      assertEquals(await waitNoProcesses(dir), []);
    });
  });
}
