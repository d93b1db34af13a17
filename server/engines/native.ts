/**
 * The native engine: our own HTTP/2 and gRPC server on Deno sockets, with no
 * npm package to load. Plaintext connections use `Deno.listen`; TLS uses
 * Node's `tls` module from the runtime (Deno's own TLS listener cannot ask
 * for client certificates, which AutoMTLS needs), loaded only when TLS is on.
 *
 * @module
 */

import type * as NodeTls from "node:tls";
import { after } from "../../_timer.ts";
import type { Network } from "../../constants.ts";
import type { Engine, EngineOptions, ServerTls } from "../engine.ts";
import type { ServiceImplementation } from "../../rpc/service.ts";
import type { AnyMethod } from "./_calls.ts";
import { type Route, startCall } from "../../rpc/server_call.ts";
import { H2Connection, type Transport } from "../../h2/connection.ts";

const READ_BUFFER_BYTES = 64 << 10;

/** Loads `node:tls` on first use, without an import statement. */
function nodeTls(): typeof NodeTls {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(id: "node:tls"): typeof NodeTls };
  }).process;
  return process.getBuiltinModule("node:tls");
}

/** `127.0.0.1:PORT` split into its parts. */
function hostPort(address: string): { hostname: string; port: number } {
  const i = address.lastIndexOf(":");
  return { hostname: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

function isAddrInUse(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse ||
    (err as { code?: string } | null)?.code === "EADDRINUSE";
}

/**
 * Creates the native engine, `serve()`'s default.
 *
 * @example
 * ```ts ignore
 * import { createNativeEngine, serve } from "@rpcplugin/rpcplugin";
 * await serve({
 *   handshake: { magicCookieKey: "K", magicCookieValue: "V" },
 *   engine: createNativeEngine,
 * });
 * ```
 *
 * @param options Message limits and logger.
 * @returns The engine.
 */
export function createNativeEngine(options: EngineOptions): Engine {
  const log = options.logger.named("h2");
  const routes = new Map<string, Route>();
  const callOptions = { routes, maxMessageBytes: options.maxMessageBytes, logger: options.logger };
  const connections = new Set<H2Connection>();
  const closers: (() => void)[] = [];
  const rawSockets = new Set<{ destroy(): void }>();
  let stopping = false;

  const open = (transport: Transport): H2Connection => {
    const conn = new H2Connection(transport, {
      onStream: (stream, headers) => startCall(stream, headers, callOptions),
      onClose: (c, reason) => {
        connections.delete(c);
        log.trace("connection closed", { reason });
      },
    });
    connections.add(conn);
    return conn;
  };

  const serveDenoConn = async (sock: Deno.Conn): Promise<void> => {
    const conn = open({
      async write(data) {
        let at = 0;
        while (at < data.length) at += await sock.write(at ? data.subarray(at) : data);
      },
      close() {
        try {
          sock.close();
        } catch {
          // already closed
        }
      },
    });
    if (stopping) conn.drain(AbortSignal.abort());
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (!conn.closed) {
        const n = await sock.read(buf);
        if (n === null) break;
        conn.receive(buf.subarray(0, n));
      }
    } catch (err) {
      // Reset by the peer or closed by us, unless a bug threw: say so.
      if (
        !(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset ||
          err instanceof Deno.errors.Interrupted)
      ) {
        log.error("connection failed", { error: (err as Error)?.message });
      }
    }
    conn.close("peer closed the connection");
  };

  const bindPlain = (network: Network, address: string): number => {
    let listener: Deno.Listener;
    if (network === "unix") {
      listener = Deno.listen({ transport: "unix", path: address });
    } else {
      listener = Deno.listen(hostPort(address));
    }
    closers.push(() => listener.close());
    void (async () => {
      try {
        for await (const sock of listener) void serveDenoConn(sock);
      } catch {
        // listener closed
      }
    })();
    return network === "unix" ? 0 : (listener.addr as Deno.NetAddr).port;
  };

  const bindTls = (network: Network, address: string, tls: ServerTls): Promise<number> => {
    const server = nodeTls().createServer({
      key: tls.keyPem,
      cert: tls.certPem,
      ...(tls.clientCaPem ? { ca: [tls.clientCaPem] } : {}),
      requestCert: tls.requireClientCert,
      rejectUnauthorized: tls.requireClientCert,
      minVersion: "TLSv1.2",
      ALPNProtocols: ["h2"],
    }, (sock) => {
      const conn = open({
        write: (data) =>
          new Promise((resolve, reject) =>
            sock.write(data, (err) => (err ? reject(err) : resolve()))
          ),
        close: () => sock.destroy(),
      });
      if (stopping) conn.drain(AbortSignal.abort());
      sock.on("data", (chunk: Uint8Array) => {
        try {
          conn.receive(chunk);
        } catch (err) {
          log.error("connection failed", { error: (err as Error)?.message });
          conn.close("internal error");
        }
      });
      sock.on("error", () => conn.close("TLS connection error"));
      sock.on("close", () => conn.close("peer closed the connection"));
    });
    // Sockets still in the TLS handshake are not connections yet: keep them
    // so that shutdown can close them.
    server.on("connection", (raw: { destroy(): void; once(e: "close", f: () => void): void }) => {
      rawSockets.add(raw);
      raw.once("close", () => rawSockets.delete(raw));
    });
    server.on("tlsClientError", (err: Error) => {
      log.debug("TLS handshake refused", { error: err.message });
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      const listening = () => {
        server.off("error", onError);
        closers.push(() => server.close());
        const addr = server.address();
        resolve(typeof addr === "object" && addr ? addr.port : 0);
      };
      if (network === "unix") server.listen(address, listening);
      else {
        const { hostname, port } = hostPort(address);
        server.listen(port, hostname, listening);
      }
    });
  };

  return {
    addService(service: ServiceImplementation): void {
      for (const [name, method] of Object.entries(service.definition.methods)) {
        routes.set(method.path, { method: method as AnyMethod, handler: service.handlers[name] });
      }
    },
    async bind(network: Network, address: string, tls?: ServerTls): Promise<number | null> {
      try {
        return tls ? await bindTls(network, address, tls) : bindPlain(network, address);
      } catch (err) {
        if (network === "tcp" && isAddrInUse(err)) return null;
        throw err;
      }
    },
    async shutdown(graceMs: number): Promise<void> {
      stopping = true;
      for (const close of closers.splice(0)) {
        try {
          close();
        } catch {
          // already closed
        }
      }
      const grace = new AbortController();
      const cancel = after(graceMs, () => grace.abort());
      await Promise.all([...connections].map((c) => c.drain(grace.signal)));
      cancel();
      if (connections.size) {
        log.warn("graceful stop timed out; cancelling remaining calls", { grace_ms: graceMs });
        for (const c of [...connections]) c.close("server stopped");
      }
      for (const raw of rawSockets) raw.destroy();
      rawSockets.clear();
    },
  };
}
