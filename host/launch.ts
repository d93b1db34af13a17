/**
 * `launch()` and `attach()`: the host side of go-plugin. Launch spawns the
 * plugin with the cookie and `PLUGIN_*` variables, reads and checks its
 * handshake line, connects (AutoMTLS by default), opens the stdio and broker
 * streams and relays its logs; attach connects to a plugin already running.
 *
 * @module
 */

import {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_START_TIMEOUT_MS,
  PROTOCOL_GRPC,
} from "../constants.ts";
import { explainPermission } from "../errors.ts";
import { DEFAULT_H2_LIMITS } from "../h2/connection.ts";
import type { HandshakeConfig } from "../handshake/cookie.ts";
import { type HandshakeInfo, parseHandshakeLine } from "../handshake/line.ts";
import { parseReattach, type ReattachConfig } from "../handshake/reattach.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import type { Channel } from "../rpc/client_call.ts";
import { Broker, BrokerError, openBrokerStream } from "../services/broker.ts";
import { hostBrokerListen } from "./broker_listener.ts";
import { checkPartialBudget } from "../rpc/message_budget.ts";
import { connectMultiplexed } from "./mux_connect.ts";
import type { ServerTls } from "../server/engine.ts";
import { derToPem } from "../tls/pem.ts";
import { relayStdio, type StdioSink } from "../services/stdio.ts";
import { makeAutoCertificate } from "../tls/autocert.ts";
import { verifyChecksum } from "./checksum.ts";
import { type ClientTls, connect, DialError } from "../rpc/connect.ts";
import { buildPluginEnv } from "./env.ts";
import { ConnectError, LaunchError } from "./errors.ts";
import { createLogRelay } from "./log_relay.ts";
import { PluginClient, type PluginExit } from "./plugin_client.ts";
import { type PluginProcess, spawnPlugin } from "./process.ts";

/** Your own TLS for the connection to the plugin, instead of AutoMTLS. */
export interface HostTlsOptions {
  /** The host's certificate, PEM (presented to the plugin). */
  certPem: string;
  /** The host's private key, PEM. */
  keyPem: string;
  /** CA certificates (PEM) that signed the plugin's certificate. */
  caPem: string;
  /** Name the plugin's certificate must carry. @default {"localhost"} */
  serverName?: string;
}

/** Options of {@linkcode launch}. */
export interface LaunchOptions {
  /** The plugin's command line: the executable and its arguments (no shell). */
  cmd?: readonly string[];
  /** Connect to a plugin already running instead of starting one (see {@linkcode attach}). */
  reattach?: ReattachConfig | string;
  /** The cookie and default app protocol version, as the plugin's `serve()` has them. */
  handshake: HandshakeConfig;
  /**
   * App protocol versions this host speaks, sent in `PLUGIN_PROTOCOL_VERSIONS`;
   * the plugin must answer one of them.
   * @default {[handshake.protocolVersion ?? 1]}
   */
  versions?: readonly number[];
  /**
   * AutoMTLS: a fresh host certificate goes to the plugin in
   * `PLUGIN_CLIENT_CERT`, the plugin must answer with its own in the
   * handshake line, and the connection is mutual TLS trusting exactly it.
   * @default {true}
   */
  autoMtls?: boolean;
  /** Your own TLS instead of AutoMTLS (the plugin must serve TLS with a certificate `caPem` signed). */
  tls?: HostTlsOptions;
  /**
   * SHA-256 of the executable (hex or bytes): the launch fails unless the file
   * matches (go-plugin's `SecureConfig`). Needs read permission on it.
   */
  checksum?: string | Uint8Array;
  /**
   * How long the plugin may take to print its handshake line (ms); connecting
   * to it (and the TLS handshake) may take as long again, and its first
   * HTTP/2 SETTINGS frame this long but at most 10 s (or the connection
   * closes and its calls fail with UNAVAILABLE).
   * @default {60000}
   */
  startTimeoutMs?: number;
  /** Extra environment variables for the plugin. */
  env?: Readonly<Record<string, string>>;
  /**
   * Start the plugin with only `env` and the protocol variables, not the host's environment.
   * @default {false}
   */
  skipHostEnv?: boolean;
  /** The plugin's working directory. */
  cwd?: string;
  /**
   * The plugin's stdin: nothing (`null`), or the host's.
   * @default {"null"}
   */
  stdin?: "null" | "inherit";
  /** Lowest TCP port the plugin may listen on. @default {10000} */
  minPort?: number;
  /** Highest TCP port the plugin may listen on. @default {25000} */
  maxPort?: number;
  /**
   * Where the plugin makes its unix socket, and which group may use it. By
   * default each plugin gets a fresh private (0700) directory, removed when it
   * is killed, so that killed plugins leave no sockets behind.
   */
  unixSocket?: { dir?: string; group?: string | number };
  /** Largest gRPC message sent or received (bytes). @default {268435456} */
  maxMessageBytes?: number;
  /**
   * Most bytes the responses received on the connection's streams hold
   * together, each from its prefix (by its size, plus ~128 bytes a message
   * costs besides) until the caller reads it or its call's status arrives:
   * a call whose response would pass it while others hold some fails with
   * RESOURCE_EXHAUSTED, its stream reset (one response alone may still be
   * up to `maxMessageBytes`).
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Where the host logs, and where the plugin's stderr lines are re-logged. */
  logger?: Logger;
  /** A raw copy of everything the plugin writes on stderr. */
  stderr?: (chunk: Uint8Array) => void;
  /** Where the plugin's stdio stream's stdout data goes (go-plugin's `SyncStdout`); default: discarded. */
  syncStdout?: StdioSink;
  /** Where the plugin's stdio stream's stderr data goes (`SyncStderr`); default: discarded. */
  syncStderr?: StdioSink;
  /**
   * Ask for go-plugin's multiplexed broker (its `GRPCBrokerMultiplex`,
   * `PLUGIN_MULTIPLEX_GRPC=true`): when the plugin answers handshake field 7
   * `true`, the host dials it once, runs a yamux session on that
   * connection, and the main connection and every broker connection are
   * streams of it (TLS inside each under AutoMTLS); no broker socket is
   * made. A plugin that does not answer `true` is used in plain mode
   * (logged at INFO; go-plugin's host fails instead). Not with `reattach`.
   * @default {false}
   */
  brokerMultiplex?: boolean;
  /**
   * Whether {@linkcode cleanupPlugins} kills this plugin (go-plugin's `Managed`).
   * Every launched plugin is killed when the host process exits, managed or not.
   * @default {false}
   */
  managed?: boolean;
}

/** Options of {@linkcode attach}. */
export interface AttachOptions {
  /** Where the plugin runs: a {@linkcode ReattachConfig}, or `TF_REATTACH_PROVIDERS` JSON. */
  reattach: ReattachConfig | string;
  /** Which provider of a `TF_REATTACH_PROVIDERS` map with several. */
  provider?: string;
  /** Largest gRPC message sent or received (bytes). @default {268435456} */
  maxMessageBytes?: number;
  /**
   * Most bytes the responses received on the connection's streams hold
   * together, each from its prefix (by its size, plus ~128 bytes a message
   * costs besides) until the caller reads it or its call's status arrives:
   * a call whose response would pass it while others hold some fails with
   * RESOURCE_EXHAUSTED, its stream reset (one response alone may still be
   * up to `maxMessageBytes`).
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /** Where the host logs. */
  logger?: Logger;
  /** Where stdio stream data goes. */
  syncStdout?: StdioSink;
  /** Where stdio stream data goes. */
  syncStderr?: StdioSink;
  /** Whether {@linkcode cleanupPlugins} ends it. @default {false} */
  managed?: boolean;
  /** How long connecting may take (ms). @default {10000} */
  timeoutMs?: number;
}

/** A refused handshake or connection: its error is made after the plugin is reaped. */
class Refusal {
  constructor(readonly error: () => LaunchError) {}
}

/** What the host logs when a process the plugin started holds its stdout or stderr after it exited. */
export const STILL_HELD =
  "plugin exited, but a process it started still holds its stdout or stderr: no longer read (that process is left running)";

/** Who needs the flags a permission error names. */
const HOST = "the host";

/** Key type of the AutoMTLS host certificate (see its use in {@linkcode launch}). */
const HOST_KEY_TYPE = "ecdsa-p521";

const managed = new Set<PluginClient>();
/** Every live launched plugin, killed at the host's exit. */
const live = new Map<PluginClient, () => void>();
/**
 * What the host's exit must undo besides live plugins: launches under way
 * (a socket directory made, the process perhaps started, no client yet:
 * their process killed, their directory removed) and the broker socket
 * directories of attached plugins.
 */
const atExit = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  globalThis.addEventListener("unload", () => {
    for (const undo of atExit) undo();
    for (const killNow of live.values()) killNow();
  });
}

/**
 * Kills every plugin launched or attached with `managed: true` (go-plugin's
 * `CleanupClients`).
 *
 * @example
 * ```ts ignore
 * import { cleanupPlugins, launch } from "@rpcplugin/rpcplugin/host";
 * await launch({ cmd: ["./plugin"], handshake, managed: true });
 * await cleanupPlugins();
 * ```
 */
export async function cleanupPlugins(): Promise<void> {
  await Promise.all([...managed].map((p) => p.kill()));
}

function defaultLogger(name: string): Logger {
  return createLogger({ level: "info", module: name });
}

function executableName(cmd: readonly string[]): string {
  const first = cmd[0] ?? "plugin";
  return first.slice(first.lastIndexOf("/") + 1) || "plugin";
}

/** Resolves a bare command name on the PATH, for the checksum. */
function resolveOnPath(name: string, env: Record<string, string>): string {
  if (name.includes("/")) return name;
  for (const dir of (env.PATH ?? "").split(":")) {
    if (!dir) continue;
    try {
      const candidate = `${dir}/${name}`;
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // not here
    }
  }
  return name;
}

function checkLaunchOptions(options: LaunchOptions): readonly string[] {
  const cmd = options.cmd;
  if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((a) => typeof a !== "string")) {
    throw new TypeError(
      'launch() needs cmd: the plugin\'s command line as an array of strings, e.g. ["./my-plugin"] (no shell)',
    );
  }
  if (!options.handshake?.magicCookieKey || !options.handshake.magicCookieValue) {
    throw new TypeError(
      "launch() needs handshake.magicCookieKey and handshake.magicCookieValue: the cookie the plugin checks",
    );
  }
  if (options.tls && options.autoMtls === true) {
    throw new TypeError("launch() takes tls or autoMtls: true, not both");
  }
  return cmd;
}

/** The checks go-plugin's host makes on the handshake line, as launch errors. */
function checkHandshake(
  info: HandshakeInfo,
  versions: readonly number[],
  autoMtls: boolean,
): string | null {
  if (!versions.includes(info.appVersion)) {
    return `Incompatible API version with plugin. Plugin version: ${info.appVersion}, Client versions: [${
      versions.join(" ")
    }]. Launch it with a versions list that includes ${info.appVersion}, or update the plugin`;
  }
  if (info.protocol !== PROTOCOL_GRPC) {
    return `Unsupported plugin protocol "${info.protocol}": this host speaks only grpc (netrpc plugins need a Go host)`;
  }
  if (autoMtls && !info.serverCertDer) {
    return "The host asked for AutoMTLS (PLUGIN_CLIENT_CERT), but the plugin's handshake line has no certificate: " +
      "the plugin does not support AutoMTLS. Launch it with autoMtls: false to talk to it in plaintext";
  }
  return null;
}

/**
 * Launches a go-plugin plugin and connects to it.
 *
 * Requires `--allow-run` (the plugin), `--allow-env` (the host's environment
 * for the plugin; not with `skipHostEnv`), `--allow-read` and `--allow-write`
 * on the socket directory (the temp dir by default), `--allow-read` on the
 * executable when `checksum` is set, and `--allow-net` for TCP plugins.
 *
 * @example
 * ```ts ignore
 * import { launch } from "@rpcplugin/rpcplugin/host";
 * import { fromTsProto } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 *
 * const plugin = await launch({
 *   cmd: ["./kv-go-grpc"],
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
 * });
 * const kv = plugin.client(fromTsProto(KVDefinition));
 * await kv.put({ key: "a", value: new TextEncoder().encode("1") }, { timeoutMs: 1000 });
 * await plugin.kill();
 * ```
 *
 * @param options The command, cookie, versions and the rest.
 * @returns The connected plugin.
 * @throws {LaunchError} (and its subclasses) when the plugin cannot be started, exits, times out,
 *   prints a handshake line this host refuses, or cannot be connected to.
 */
export async function launch(options: LaunchOptions): Promise<PluginClient> {
  if (options.reattach !== undefined) {
    if (options.cmd !== undefined) throw new TypeError("launch() takes cmd or reattach, not both");
    if (options.brokerMultiplex) {
      throw new TypeError(
        "launch() takes brokerMultiplex or reattach, not both: go-plugin's multiplexed broker does not support reattaching",
      );
    }
    return attach({ ...options, reattach: options.reattach });
  }
  const cmd = checkLaunchOptions(options);
  const logger = options.logger ?? defaultLogger(`plugin.${executableName(cmd)}`);
  const versions = options.versions ?? [options.handshake.protocolVersion ?? 1];
  const autoMtls = !options.tls && (options.autoMtls ?? true);
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxPartialMessageBytes = checkPartialBudget(options.maxPartialMessageBytes);
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  // P-521, as go-plugin's hosts make theirs: its key costs Deno no one-time
  // crypto init (P-256's first key does, ~35 ms), and a plugin of ours
  // answers with Ed25519 to it (tls/automtls.ts defaultKeyType). Every plugin we
  // run takes it: go-plugin's, pyvider-rpcplugin's (which does not verify it)
  // and ours (tests/interop/host_kv_test.ts, host_pyvider_test.ts).
  const hostCert = autoMtls ? await makeAutoCertificate(HOST_KEY_TYPE) : undefined;
  // Our own socket directory, unless one was given: removed with the plugin.
  let ownDir: string | undefined;
  if (options.unixSocket?.dir === undefined) {
    try {
      ownDir = await Deno.makeTempDir({ prefix: "rpcplugin-" });
    } catch (err) {
      throw explainPermission(err, "making the plugin's socket directory in the temp dir", HOST);
    }
  }
  const removeDir = () => {
    if (!ownDir) return;
    try {
      Deno.removeSync(ownDir, { recursive: true });
    } catch {
      // already gone
    }
  };
  let proc: PluginProcess | undefined;
  // Should the host exit before the launch ends (a test runner's exit, Deno.exit() from
  // elsewhere), the process and the directory do not outlive it.
  const abandon = () => {
    try {
      proc?.kill("SIGKILL");
    } catch {
      // the exit goes on
    }
    removeDir();
  };
  installExitHook();
  atExit.add(abandon);
  try {
    const env = buildPluginEnv({
      handshake: options.handshake,
      protocolVersions: versions,
      minPort: options.minPort,
      maxPort: options.maxPort,
      env: options.env,
      skipHostEnv: options.skipHostEnv,
      clientCertPem: hostCert?.certPem,
      unixSocketDir: ownDir ?? options.unixSocket?.dir,
      unixSocketGroup: options.unixSocket?.group,
      multiplexGrpc: options.brokerMultiplex,
    });
    if (options.checksum !== undefined) {
      await verifyChecksum(resolveOnPath(cmd[0], env), options.checksum);
    }
    proc = spawnPlugin({
      cmd,
      env,
      cwd: options.cwd,
      stdin: options.stdin ?? "null",
      startTimeoutMs,
      onStderrLine: createLogRelay(logger),
      stderr: options.stderr,
      onPipesHeld: () => logger.warn(STILL_HELD, { pid: proc?.pid ?? 0 }),
    });
    const line = await proc.handshakeLine;
    // Made once the process is gone, so that the stderr tail is complete.
    const fail = (message: string, cause?: unknown, Kind = LaunchError): never => {
      throw new Refusal(() =>
        new Kind(message, { line, stderrTail: proc!.stderrTail() }, { cause })
      );
    };
    let info: HandshakeInfo;
    try {
      info = parseHandshakeLine(line);
    } catch (err) {
      return fail((err as Error).message, err);
    }
    const refusal = checkHandshake(info, versions, autoMtls);
    if (refusal) fail(refusal);
    logger.debug("using plugin", { version: info.appVersion });
    let tls: ClientTls | undefined;
    if (hostCert) {
      tls = {
        certPem: hostCert.certPem,
        keyPem: hostCert.keyPem,
        serverCertDer: info.serverCertDer,
      };
    } else if (options.tls) {
      tls = { ...options.tls };
    }
    const brokerTls: ServerTls | undefined = hostCert && info.serverCertDer
      ? {
        certPem: hostCert.certPem,
        keyPem: hostCert.keyPem,
        clientCaPem: derToPem(info.serverCertDer, "CERTIFICATE"),
        requireClientCert: true,
      }
      : undefined;
    const broker = new Broker({
      listen: hostBrokerListen({
        dir: (ownDir ?? options.unixSocket?.dir)!,
        tls: brokerTls,
        maxMessageBytes,
        maxPartialMessageBytes,
        logger,
      }),
      dialTls: tls,
      maxMessageBytes,
      maxPartialMessageBytes,
      logger,
      program: HOST,
    });
    const multiplexed = options.brokerMultiplex === true && info.muxSupported === true;
    if (options.brokerMultiplex && !multiplexed) {
      logger.info(
        "the plugin does not offer broker multiplexing (its handshake line's field 7 is not true): using plain mode",
      );
    }
    // A plugin that accepts and never speaks HTTP/2 (no SETTINGS) is given up on within the
    // start timeout, 10 s at most: its calls then fail with UNAVAILABLE, none waits forever.
    const prefaceTimeoutMs = Math.min(startTimeoutMs, DEFAULT_H2_LIMITS.prefaceTimeoutMs);
    const onError = (err: unknown) =>
      logger.error("connection to the plugin failed", { error: String(err) });
    let channel: Channel;
    let closeSession: (() => Promise<void>) | undefined;
    try {
      if (multiplexed) {
        ({ channel, close: closeSession } = await connectMultiplexed({
          network: info.network,
          address: info.address,
          tls,
          serverTls: brokerTls,
          broker,
          maxMessageBytes,
          maxPartialMessageBytes,
          timeoutMs: startTimeoutMs,
          prefaceTimeoutMs,
          logger,
          onError,
        }));
      } else {
        channel = await connect({
          network: info.network,
          address: info.address,
          tls,
          maxMessageBytes,
          maxPartialMessageBytes,
          timeoutMs: startTimeoutMs,
          prefaceTimeoutMs,
          onError,
        });
      }
    } catch (err) {
      if (!(err instanceof DialError)) throw err;
      return fail(err.message, err, ConnectError);
    }
    const started = proc;
    const processExited = started.exited.then((s) => {
      logger.info("plugin process exited", { id: started.pid, code: s.code });
      return { code: s.signal ? null : s.code, signal: s.signal };
    });
    return finishConnect({
      channel,
      info,
      logger,
      options,
      pid: started.pid,
      signal: (sig) => started.kill(sig),
      processExited,
      processReaped: started.status,
      removeDir,
      closeSession,
      connectionOnly: false,
      owned: true,
      broker,
    });
  } catch (err) {
    if (proc) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    removeDir();
    if (err instanceof Refusal) throw err.error();
    throw explainPermission(err, "launching the plugin", HOST);
  } finally {
    // Succeeded: the client's exit hook (finishConnect) has it now.
    atExit.delete(abandon);
  }
}

interface Connected {
  channel: Channel;
  info: { network: HandshakeInfo["network"]; address: string; appVersion: number };
  logger: Logger;
  options: {
    syncStdout?: StdioSink;
    syncStderr?: StdioSink;
    managed?: boolean;
  };
  pid?: number;
  signal?: (sig: Deno.Signal) => void;
  processExited: Promise<{ code: number | null; signal: Deno.Signal | null }>;
  processReaped?: Promise<unknown>;
  removeDir: () => void;
  /** Ends the multiplexed connection, if there is one. */
  closeSession?: () => Promise<void>;
  connectionOnly: boolean;
  /** Whether we started the process (then it is killed when the host exits). */
  owned: boolean;
  /** The host's broker. */
  broker: Broker;
}

/** Opens the stdio and broker streams and makes the client. */
function finishConnect(c: Connected): PluginClient {
  const streams = new AbortController();
  void relayStdio(
    c.channel,
    { stdout: c.options.syncStdout, stderr: c.options.syncStderr },
    c.logger,
    streams.signal,
  );
  void openBrokerStream(c.channel, c.broker, c.logger, streams.signal);
  const forget = () => {
    managed.delete(client);
    live.delete(client);
  };
  const client: PluginClient = new PluginClient({
    channel: c.channel,
    network: c.info.network,
    address: c.info.address,
    protocolVersion: c.info.appVersion,
    pid: c.pid,
    logger: c.logger,
    streams,
    connectionOnly: c.connectionOnly,
    signal: c.signal,
    processExited: c.processExited,
    processReaped: c.processReaped,
    broker: c.broker,
    cleanup: async () => {
      forget();
      await c.closeSession?.();
      c.removeDir();
    },
  });
  if (c.options.managed) managed.add(client);
  if (c.owned && c.signal) {
    installExitHook();
    live.set(client, () => {
      c.signal?.("SIGKILL");
      c.removeDir();
    });
  }
  void client.exited.then(() => {
    c.channel.close("the plugin exited");
    streams.abort();
  });
  return client;
}

/**
 * Connects to a plugin that is already running, from its reattach
 * configuration: what `reattachConfig()` of another host gave, or the
 * `TF_REATTACH_PROVIDERS` JSON a plugin in debug mode printed. No handshake,
 * no environment, no TLS (go-plugin does not combine reattach and AutoMTLS).
 * `kill()` of a `test` plugin only closes the connection; otherwise it sends
 * Shutdown and, after 2 s, SIGKILL to the pid.
 *
 * @example
 * ```ts ignore
 * import { attach } from "@rpcplugin/rpcplugin/host";
 * const plugin = await attach({ reattach: Deno.env.get("TF_REATTACH_PROVIDERS")! });
 * await plugin.ping();
 * await plugin.kill();
 * ```
 *
 * @param options The configuration and limits.
 * @returns The connected plugin.
 * @throws {ReattachError} For a configuration that cannot be used.
 * @throws {LaunchError} When nothing accepts at the address.
 */
export async function attach(options: AttachOptions): Promise<PluginClient> {
  const config = typeof options.reattach === "string"
    ? parseReattach(options.reattach, options.provider)
    : parseReattach(options.reattach as ReattachConfig);
  if (config.protocol !== PROTOCOL_GRPC) {
    throw new LaunchError(
      `Unsupported plugin protocol "${config.protocol}" in the reattach configuration: this host speaks only grpc`,
    );
  }
  const logger = options.logger ?? defaultLogger("plugin");
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxPartialMessageBytes = checkPartialBudget(options.maxPartialMessageBytes);
  // The broker's sockets, if it serves any, go in a directory of our own: made once (the
  // listens that ask for it at once share it), removed with the client or at the host's exit,
  // and not made any more once the client is gone.
  let madeDir: string | undefined;
  let making: Promise<string> | undefined;
  let dirDone = false;
  const removeMadeDir = () => {
    dirDone = true;
    atExit.delete(removeMadeDir);
    if (!madeDir) return;
    try {
      Deno.removeSync(madeDir, { recursive: true });
    } catch {
      // already gone
    }
  };
  const brokerDir = () =>
    making ??= Deno.makeTempDir({ prefix: "rpcplugin-" }).then((dir) => {
      madeDir = dir;
      if (dirDone) {
        removeMadeDir();
        throw new BrokerError("The connection to the plugin is closed: its broker serves nothing");
      }
      installExitHook();
      atExit.add(removeMadeDir);
      return dir;
    });
  let closed!: () => void;
  const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
  let channel: Channel;
  try {
    channel = await connect({
      network: config.addr.network,
      address: config.addr.string,
      maxMessageBytes,
      maxPartialMessageBytes,
      timeoutMs: options.timeoutMs ?? 10_000,
      onClose: () => closed(),
    });
  } catch (err) {
    throw new LaunchError(
      `Could not reattach to the plugin at ${config.addr.network}:${config.addr.string}: ${
        (err as Error).message
      }. Is it still running?`,
      {},
      { cause: err },
    );
  }
  const pid = config.pid;
  const signal = pid && !config.test
    ? (sig: Deno.Signal) => {
      try {
        Deno.kill(pid, sig);
      } catch {
        // already gone
      }
    }
    : undefined;
  return finishConnect({
    channel,
    info: {
      network: config.addr.network,
      address: config.addr.string,
      appVersion: config.protocolVersion,
    },
    logger,
    options,
    pid,
    signal,
    processExited: connectionClosed.then((): Omit<PluginExit, "forced"> => ({
      code: null,
      signal: null,
    })),
    removeDir: removeMadeDir,
    connectionOnly: config.test ?? false,
    owned: false,
    broker: new Broker({
      listen: hostBrokerListen({
        dir: brokerDir,
        maxMessageBytes,
        maxPartialMessageBytes,
        logger,
      }),
      maxMessageBytes,
      maxPartialMessageBytes,
      logger,
      program: HOST,
    }),
  });
}
