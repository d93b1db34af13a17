/**
 * The GRPCBroker, host role, against go-plugin's own bidirectional example
 * (`examples/bidirectional`, from the Go module proxy), plain and AutoMTLS,
 * each without and with go-plugin's broker multiplexing (our host's
 * `brokerMultiplex: true`; go-plugin's plugins answer field 7 `true`):
 *
 * - our host launches go-plugin's Go counter plugin, serves `AddHelper`
 *   through `plugin.broker.acceptAndServe()` and passes its id in
 *   `PutRequest.add_server`; the Go plugin dials it back: put, put, get
 *   gives 2 (multiplexed: it knocks, and no broker socket is made);
 * - our Go plugin fixture serves AddHelper through the broker; our host
 *   dials it;
 * - a dial nobody announces (or acknowledges, multiplexed) fails after the
 *   timeout with an error naming the id; killing the plugin closes the
 *   broker's listeners and removes their sockets.
 *
 * go-plugin's plugins never close their listener in multiplexed mode (the
 * muxer closes only the yamux session), so their socket file outlives
 * them: there the tests use our host's own socket directory (the default),
 * removed with the plugin, and check that it is gone.
 */

import { fromTsProto, implement } from "../../mod.ts";
import { BrokerError, launch, type LaunchOptions, type PluginClient } from "../../host/mod.ts";
import { AddHelperDefinition, CounterDefinition } from "../../examples/counter/gen/counter_pb.ts";
import { createLogger } from "../../log/logger.ts";
import { BROKER_MAX_ANNOUNCED } from "../../services/broker_limits.ts";
import { buildGo } from "../_util/go.ts";
import { assert, assertEquals, socketFiles, waitNoProcesses, withTempDir } from "../_util/host.ts";

const HANDSHAKE = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 };
const counterDef = fromTsProto(CounterDefinition);
const addHelperDef = fromTsProto(AddHelperDefinition);

/** A Go plugin, copied into `dir` so that its path marks this test's processes. */
async function goPlugin(dir: string, name: "countergo" | "brokerpeer"): Promise<string> {
  const exe = `${dir}/${name}`;
  await Deno.copyFile(await buildGo(name), exe);
  await Deno.chmod(exe, 0o755);
  return exe;
}

const mode = (autoMtls: boolean, mux: boolean) =>
  `${autoMtls ? "AutoMTLS" : "plain"}${mux ? ", multiplexed" : ""}`;

/** Launches a Go plugin from `dir`: sockets in `dir`, or (multiplexed) in our host's own directory. */
function launchGo(dir: string, cmd: string[], mux: boolean, extra: Partial<LaunchOptions>) {
  return launch({
    cmd,
    cwd: dir,
    handshake: HANDSHAKE,
    brokerMultiplex: mux,
    ...(mux ? {} : { unixSocket: { dir } }),
    logger: createLogger({ level: "off" }),
    ...extra,
  });
}

/** The directory of the plugin's socket. */
function socketDir(plugin: PluginClient): string {
  return plugin.address.slice(0, plugin.address.lastIndexOf("/"));
}

/**
 * After kill: no socket left in `dir`, nor, when the plugin had our host's own
 * socket directory (`ownDir`: multiplexed, or asked for), that directory.
 */
function assertNoSockets(plugin: PluginClient, dir: string, ownDir: boolean): void {
  assertEquals(socketFiles(dir), [], "a broker or plugin socket was left");
  if (!ownDir) return;
  let exists = true;
  try {
    Deno.statSync(socketDir(plugin));
  } catch {
    exists = false;
  }
  assert(!exists, `${socketDir(plugin)} was left`);
}

Deno.test("broker: go-plugin's Go plugin announcing more ids than anyone dials (plain): the oldest are dropped, one WARN", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    // Without TLS: the fixture serves its flood on bare listeners.
    const plugin = await launchGo(dir, [await goPlugin(dir, "brokerpeer"), "plugin"], false, {
      autoMtls: false,
      logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    });
    try {
      const extra = 8;
      const { value } = await plugin.client(counterDef).get({
        key: `!flood ${BROKER_MAX_ANNOUNCED + extra}`,
      }, { timeoutMs: 10_000 });
      const last = Number(value);
      const first = last - BROKER_MAX_ANNOUNCED - extra + 1;
      // The last announcement came after all the others (one stream, in order).
      const sum = async (id: number, timeoutMs?: number) => {
        const conn = await plugin.broker.dial(id, timeoutMs);
        try {
          const { r } = await conn.client(addHelperDef).sum({ a: 2n, b: 3n }, { timeoutMs: 5000 });
          return String(r);
        } finally {
          conn.close();
        }
      };
      assertEquals(await sum(last), "5");
      // The oldest went, the BROKER_MAX_ANNOUNCED newest stayed. (If our dial
      // of the last id started before its announcement arrived, that one went
      // straight to the dial and never into the table: then one fewer was
      // dropped. So the id just before the kept ones may be either way; the
      // one before it is always gone.)
      assertEquals(await sum(first + extra), "5");
      const gone = first + extra - 2;
      let error: unknown;
      try {
        await sum(gone, 300);
      } catch (err) {
        error = err;
      }
      assert(error instanceof BrokerError, `dialling dropped id ${gone} gave ${String(error)}`);
      assert(error.message.includes(`broker id ${gone}`), error.message);
      const warned = lines.filter((l) => l.includes('"@level":"warn"'));
      assertEquals(warned.length, 1, warned.join("\n"));
      assert(warned[0].includes("broker announcements dropped"), warned[0]);
    } finally {
      await plugin.kill();
    }
    assertEquals((await plugin.exited).forced, false);
    assertEquals(await waitNoProcesses(dir), []);
  });
});

for (const mux of [false, true]) {
  for (const autoMtls of [false, true]) {
    Deno.test(
      `broker: our host serves AddHelper, go-plugin's Go counter plugin dials it back (${
        mode(autoMtls, mux)
      })`,
      async () => {
        await withTempDir(async (dir) => {
          const lines: string[] = [];
          const plugin = await launchGo(dir, [await goPlugin(dir, "countergo")], mux, {
            autoMtls,
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
            assertEquals(plugin.broker.multiplexed, mux);
            const counter = plugin.client(counterDef);
            for (let i = 0; i < 2; i++) {
              const id = plugin.broker.nextId();
              const server = await plugin.broker.acceptAndServe(id, [addHelper]);
              // Multiplexed, nothing listens for it: the only socket is the plugin's.
              if (mux) assertEquals(socketFiles(socketDir(plugin)).length, 1);
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
          // Closing a brokered server the plugin just used is a normal close, never a WARN.
          assertEquals(lines.filter((l) => l.includes('"@level":"warn"')), []);
          // go-plugin's plugin logged its yamux server session, or did not.
          assertEquals(lines.join("\n").includes("initial server connection accepted"), mux);
          assertNoSockets(plugin, dir, mux);
          assertEquals(await waitNoProcesses(dir), []);
        });
      },
    );

    Deno.test(
      `broker: a Go plugin serves AddHelper through the broker, our host dials it (${
        mode(autoMtls, mux)
      })`,
      async () => {
        await withTempDir(async (dir) => {
          const lines: string[] = [];
          // Our host's own socket directory in both modes: go-plugin's plugin
          // may exit before the goroutine serving its brokered listener closes
          // (and unlinks) it; kill() removes what it leaves with the directory.
          const plugin = await launchGo(dir, [await goPlugin(dir, "brokerpeer"), "plugin"], mux, {
            autoMtls,
            unixSocket: undefined,
            logger: createLogger({ level: "debug", write: (l) => lines.push(l) }),
          });
          try {
            const { value: id } = await plugin.client(counterDef).get({ key: "id" }, {
              timeoutMs: 5000,
            });
            const conn = await plugin.broker.dial(Number(id));
            try {
              const { r } = await conn.client(addHelperDef).sum({ a: 2n, b: 3n }, {
                timeoutMs: 5000,
              });
              assertEquals(String(r), "5");
            } finally {
              conn.close();
            }
          } finally {
            await plugin.kill();
          }
          assertEquals((await plugin.exited).forced, false);
          // Multiplexed, go-plugin's plugin handed our knocked stream to its brokered listener.
          assertEquals(lines.join("\n").includes("sending conn to brokered listener"), mux);
          assertNoSockets(plugin, dir, true);
          assertEquals(await waitNoProcesses(dir), []);
        });
      },
    );
  }

  Deno.test(
    `broker: a dial nobody announces fails after the timeout, naming the id (${mode(false, mux)})`,
    async () => {
      await withTempDir(async (dir) => {
        const plugin = await launchGo(dir, [await goPlugin(dir, "countergo")], mux, {
          autoMtls: false,
        });
        try {
          let error: unknown;
          try {
            await plugin.broker.dial(42, 300);
          } catch (err) {
            error = err;
          }
          assert(error instanceof BrokerError, String(error));
          assert(error.message.includes("broker id 42"), error.message);
          assertEquals(error.message.includes("knock"), mux, error.message);
          // The broker still works after it.
          const id = plugin.broker.nextId();
          const addHelper = implement(addHelperDef, { sum: (req) => ({ r: req.a + req.b }) });
          await plugin.broker.acceptAndServe(id, [addHelper]);
          await plugin.client(counterDef).put({ addServer: id, key: "k", value: 7n }, {
            timeoutMs: 10_000,
          });
        } finally {
          await plugin.kill();
        }
        assertNoSockets(plugin, dir, mux);
        assertEquals(await waitNoProcesses(dir), []);
      });
    },
  );

  Deno.test(
    `broker: kill() closes the host's broker listeners and removes their sockets (${
      mode(true, mux)
    })`,
    async () => {
      await withTempDir(async (dir) => {
        const plugin = await launchGo(dir, [await goPlugin(dir, "countergo")], mux, {});
        const addHelper = implement(addHelperDef, { sum: (req) => ({ r: req.a + req.b }) });
        await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelper]);
        await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelper]);
        // Plain: a socket each, beside the plugin's; multiplexed: only the plugin's.
        const sockets = socketFiles(socketDir(plugin));
        assert(mux ? sockets.length === 1 : sockets.length >= 3, `sockets: ${sockets}`);
        await plugin.kill();
        assertEquals((await plugin.exited).forced, false);
        assertNoSockets(plugin, dir, mux);
        assertEquals(await waitNoProcesses(dir), []);
        let refused: unknown;
        try {
          await plugin.broker.acceptAndServe(plugin.broker.nextId(), [addHelper]);
        } catch (err) {
          refused = err;
        }
        assert(refused instanceof BrokerError, "a closed broker must refuse to serve");
      });
    },
  );
}
