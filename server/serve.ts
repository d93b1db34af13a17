/**
 * `serve()`: everything a go-plugin gRPC plugin does besides its own
 * services, assembled from the small pieces of this library.
 *
 * @module
 */

import { writeAllSync } from "../_io.ts";
import {
  CORE_PROTOCOL_VERSION,
  DEFAULT_MAX_MESSAGE_BYTES,
  ENV,
  type Network,
  PROTOCOL_GRPC,
  TCP_HOST,
} from "../constants.ts";
import { CookieError, explainPermission, StartupError } from "../errors.ts";
import { checkCookie, type HandshakeConfig } from "../handshake/cookie.ts";
import { buildHandshakeLine } from "../handshake/line.ts";
import type { ReattachConfig } from "../handshake/reattach.ts";
import { chooseVersion } from "../handshake/version.ts";
import { createLogger, type Logger, type LogLevel } from "../log/logger.ts";
import { chooseServerTls, type TlsOptions } from "../tls/automtls.ts";
import type { KeyType } from "../tls/cert.ts";
import { bindInRange, readPortRange } from "../transport/tcp.ts";
import {
  applySocketGroup,
  checkSocketDir,
  chooseSocketPath,
  removeSocket,
  resolveGroup,
} from "../transport/unix.ts";
import { captureConsole, CONSOLE_MODES, type ConsoleMode, releaseConsole } from "./console.ts";
import { reportCrashes, stopReportingCrashes } from "./crash.ts";
import {
  type DebugMode,
  debugMode,
  type DebugOptions,
  debugVersion,
  keepConsole,
  printReattach,
  reattachConfigOf,
  warnIgnoredTls,
} from "./debug.ts";
import { controllerService } from "../services/controller.ts";
import type { Engine, EngineFactory, ServerTls } from "./engine.ts";
import { createNativeEngine } from "./engines/native.ts";
import { healthService } from "../services/health.ts";
import { InFlight } from "./inflight.ts";
import { type RateLimit, TokenBucket } from "./ratelimit.ts";
import { type StopReason, watchLifecycle } from "./lifecycle.ts";
import type { ServiceImplementation } from "../rpc/service.ts";
import { stdioService } from "../services/stdio.ts";
import { Broker, brokerService } from "../services/broker.ts";
import { pluginBrokerListen } from "./broker_listener.ts";
import { multiplexAsked, pluginMultiplexing } from "./mux_listener.ts";
import { nodeTls } from "../h2/socket.ts";
import { checkPartialBudget } from "../rpc/message_budget.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** Cookie and default protocol version, as in go-plugin's HandshakeConfig. */
  handshake: HandshakeConfig;
  /**
   * The services served at `handshake.protocolVersion` (default 1). Give
   * either this or `versions` a list for that version, not both: serve()
   * throws a TypeError when both do.
   */
  services?: readonly ServiceImplementation[];
  /**
   * Services per app protocol version, like go-plugin's VersionedPlugins.
   * The highest version the host also lists is served. May be combined with
   * `services` when it does not list `handshake.protocolVersion`.
   */
  versions?: Readonly<Record<number, readonly ServiceImplementation[]>>;
  /**
   * Listener kind. `unix` is go-plugin's choice everywhere but Windows.
   * `tcp` listens on 127.0.0.1, in the host's PLUGIN_MIN_PORT..PLUGIN_MAX_PORT.
   * @default {"unix" (Windows: "tcp")}
   */
  transport?: Network;
  /**
   * Your own TLS certificate, like go-plugin's `ServeConfig.TLSProvider`:
   * the plugin serves TLS with it, and with `clientCaPem` also requires client
   * certificates signed by that CA. The host must be configured to trust it.
   * When the host turns AutoMTLS on (`PLUGIN_CLIENT_CERT`), AutoMTLS wins, as
   * in go-plugin.
   */
  tls?: TlsOptions;
  /**
   * Key type of the certificate made for AutoMTLS. By default it follows
   * the host: Ed25519 when the host's certificate (`PLUGIN_CLIENT_CERT`)
   * is a P-521 one for `localhost`, as go-plugin's hosts (Terraform,
   * OpenTofu) and `launch()` make, since Ed25519 keys need no one-time
   * crypto init in Deno (P-256's first key costs about 35 ms) and sign and
   * verify fastest (P-521 costs Deno 3-4 ms and a Go host 5-6 ms a launch);
   * else P-256, which every host takes (pyvider-rpcplugin's client cannot
   * use a P-521 or Ed25519 server certificate, whatever its own). Set it to
   * force one type.
   * @default {"ed25519 under a go-plugin-style P-521 host certificate, else ecdsa-p256"}
   */
  autoMtlsKeyType?: KeyType;
  /**
   * Limits calls to your services with a token bucket (`rate` calls/s on
   * average, `burst` at once); calls over it get RESOURCE_EXHAUSTED. The
   * built-in services are never limited. Off by default.
   */
  rateLimit?: RateLimit;
  /**
   * The gRPC engine. The default is the native engine (our own HTTP/2 and
   * gRPC on Deno sockets: fast start, no npm package). Pass `grpcJsEngine`
   * from `@rpcplugin/rpcplugin/grpc-js` to run on `@grpc/grpc-js` instead.
   * @default {createNativeEngine}
   */
  engine?: EngineFactory;
  /**
   * Largest gRPC message accepted or sent, in bytes.
   * @default {268435456}
   */
  maxMessageBytes?: number;
  /**
   * Most bytes the requests received on one connection's streams hold
   * together, each from its prefix (by its size, plus ~128 bytes a message
   * costs besides) until its handler takes it (a host can open 128 streams
   * and leave a large message unfinished, or unended, on each, or queue
   * many for a handler that does not read): a call whose request would pass it while other streams hold
   * some gets RESOURCE_EXHAUSTED. One request alone may still be up to
   * `maxMessageBytes`. The native engine's; grpc-js ignores it.
   * @default {268435456}
   */
  maxPartialMessageBytes?: number;
  /**
   * Lowest level of the plugin's log lines on stderr.
   * @default {"debug"}
   */
  logLevel?: LogLevel;
  /** A logger to use instead of the default stderr one. */
  logger?: Logger;
  /**
   * Where `console.*` output goes under a host (stdout is only for the
   * handshake line): `"both"` the host's stdio stream (go-plugin's
   * `SyncStdout`/`SyncStderr`) and hclog lines on stderr (logged by the
   * host at their level: `console.error` at ERROR, `console.log` at INFO);
   * `"stdio"` the stream only; `"hclog"` the log lines only. go-plugin hosts
   * discard the stream unless `SyncStdout`/`SyncStderr` are set, so only
   * `"both"` reaches every host. Output before serve() goes both ways. In
   * debug mode the console stays on the terminal.
   * @default {"both"}
   */
  console?: ConsoleMode;
  /**
   * How long in-flight calls may run after SIGTERM before they are cancelled (ms).
   * @default {10000}
   */
  gracefulStopMs?: number;
  /**
   * Whether serve() owns the process: it exits with status 1 when start-up
   * fails and 0 once stopped (1 if the engine failed to shut down; 0 for a
   * SIGTERM during start-up). Set false to embed it (tests): start-up errors
   * then reject (a SIGTERM during start-up too, with a StartupError saying
   * so) and `finished` resolves instead.
   * @default {true}
   */
  exit?: boolean;
  /**
   * Debug mode, like Terraform providers' `-debug`: start the plugin by hand
   * (under a debugger, say) and attach a host to it later. serve() then skips
   * the magic cookie, serves plaintext (it ignores `PLUGIN_CLIENT_CERT` and
   * `tls`, with a warning), serves the highest of its versions, leaves
   * `console.*` on the real stdout and stderr, prints the
   * `TF_REATTACH_PROVIDERS='...'` line hosts attach with (with `Test: true`)
   * instead of the handshake line, stops gracefully on SIGINT and SIGTERM as
   * well as on the host's Shutdown, and does not watch for a host's death.
   * `{ name }` chooses the key of the printed map: Terraform wants the
   * provider address, e.g. `registry.terraform.io/rpcplugin/example`.
   * Only this option turns it on; no environment variable does.
   * @default {false}
   */
  debug?: boolean | DebugOptions;
}

export type { ConsoleMode, DebugOptions, ReattachConfig, TlsOptions };

/** A running plugin server, returned by {@linkcode serve}. */
export interface PluginServer {
  /** `unix` or `tcp`. */
  readonly network: Network;
  /** Socket path or `127.0.0.1:PORT`, as in the handshake line. */
  readonly address: string;
  /** The negotiated app protocol version. */
  readonly protocolVersion: number;
  /**
   * How a host attaches to this server (`attach({ reattach })`), as printed
   * in debug mode. `test` is true in debug mode only; outside it, the host
   * must also speak the TLS the server uses, if any.
   */
  readonly reattachConfig: ReattachConfig;
  /** The plugin's logger (hclog JSON on stderr). */
  readonly logger: Logger;
  /**
   * The plugin's broker (go-plugin's `GRPCBroker`): dial what the host serves
   * (`dial(id)`, with the id the host put in a request), or serve services the
   * host dials (`acceptAndServe(nextId(), [...])`). Handlers reach it as
   * `call.broker`.
   */
  readonly broker: Broker;
  /**
   * Stops gracefully, as SIGTERM does. Resolves once stopped; should the
   * engine fail to shut down, that is logged at ERROR and the clean-up
   * (socket file, console, signal handlers) still runs.
   */
  stop(): Promise<void>;
  /** Resolves once the server has stopped and cleaned up. */
  readonly finished: Promise<void>;
}

/** Grace period for calls in flight when the host asks us to stop. */
const HOST_STOP_GRACE_MS = 1000;

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (err) {
    throw explainPermission(err, `reading the environment variable ${name}`);
  }
}

function servicesByVersion(options: ServeOptions): Map<number, readonly ServiceImplementation[]> {
  const map = new Map<number, readonly ServiceImplementation[]>();
  for (const [v, list] of Object.entries(options.versions ?? {})) map.set(Number(v), list);
  const version = options.handshake.protocolVersion ?? 1;
  if (options.services && map.has(version)) {
    throw new TypeError(
      `serve() got services for protocol version ${version} twice: in \`services\` ` +
        `(handshake.protocolVersion ${version}) and in \`versions[${version}]\`. ` +
        "Put them in one of the two",
    );
  }
  if (options.services || map.size === 0) map.set(version, options.services ?? []);
  for (const v of map.keys()) {
    if (!Number.isInteger(v) || v < 0) {
      throw new StartupError(
        `Protocol version "${v}" is not a non-negative integer: fix serve()'s versions`,
      );
    }
  }
  return map;
}

/** A step of the clean-up, undone in reverse order. */
type Cleanup = () => void | Promise<void>;

/** What start-up needs to know of a stop asked for before it finished. */
interface Startup {
  /** Why a stop was asked for during start-up, if it was. */
  interrupted: StopReason | null;
}

const STOP_REASON_TEXT: Record<StopReason, string> = {
  sigint: "SIGINT",
  sigterm: "SIGTERM",
  sighup: "SIGHUP",
  "parent-gone": "the host process being gone",
  "host-gone": "the host closing our stdout",
};

/** Throws once a stop was asked for during start-up: nothing may be served after it. */
function checkInterrupted(startup: Startup): void {
  if (startup.interrupted === null) return;
  throw new StartupError(
    `Start-up interrupted by ${STOP_REASON_TEXT[startup.interrupted]}: the plugin stopped ` +
      "before serving anything, and cleaned up; start it again to serve",
  );
}

function reportStartupFailure(err: unknown): void {
  const text = err instanceof CookieError
    ? err.message
    : `[ERROR] plugin failed to start: ${err instanceof Error ? err.message : String(err)}`;
  try {
    writeAllSync(Deno.stderr, text + "\n");
  } catch {
    // nowhere left to report
  }
}

/**
 * Serves a go-plugin gRPC plugin: checks the magic cookie, negotiates the
 * protocol version, listens (unix socket or TCP, honouring the host's
 * PLUGIN_* variables), registers the health, controller and stdio services
 * with yours, prints the handshake line, and stops cleanly when the host
 * asks (GRPCController/Shutdown), on SIGTERM, or when the host dies.
 * With `debug`, it runs without a host instead and prints how to attach one
 * (see {@linkcode ServeOptions.debug}).
 *
 * Requires `--allow-env`, `--allow-net` and read/write access to the socket
 * directory (see the README's "Permissions").
 *
 * @example A KV plugin for go-plugin's examples/grpc host
 * ```ts ignore
 * import { fromTsProto, implement, serve } from "@rpcplugin/rpcplugin";
 * import { KVDefinition } from "./gen/kv_pb.ts"; // generated from your .proto (README: "Writing a plugin")
 *
 * await serve({
 *   handshake: { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "hello", protocolVersion: 1 },
 *   services: [implement(fromTsProto(KVDefinition), {
 *     get: (req) => ({ value: Deno.readFileSync(`kv_${req.key}`) }),
 *     put: (req) => {
 *       Deno.writeFileSync(`kv_${req.key}`, req.value);
 *       return {};
 *     },
 *   })],
 * });
 * ```
 *
 * @param options What to serve and how.
 * @returns The running server.
 * @throws {StartupError} Only with `exit: false`; otherwise start-up errors
 * are printed on stderr and the process exits with status 1.
 * @throws {TypeError} Likewise, for options that contradict each other or
 * are not allowed: `services` and `versions` both listing the handshake's
 * protocol version, an unknown `console` mode.
 */
export async function serve(options: ServeOptions): Promise<PluginServer> {
  const ownsProcess = options.exit ?? true;
  const logger = options.logger ?? createLogger({ level: options.logLevel ?? "debug" });
  // A crash under a host: one ERROR line the host shows, then exit 1 (debug mode: Deno's own report).
  if (options.debug) stopReportingCrashes();
  else if (ownsProcess) reportCrashes(logger);
  const cleanups: Cleanup[] = [];
  // Every step runs, even after one fails.
  const cleanup = async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        logger.error("plugin clean-up step failed", { error: (err as Error)?.message });
      }
    }
  };
  const startup: Startup = { interrupted: null };
  try {
    return await start(options, logger, cleanups, cleanup, ownsProcess, startup);
  } catch (err) {
    await cleanup();
    if (!ownsProcess) throw err;
    if (startup.interrupted) Deno.exit(0); // asked to stop, not a failure
    reportStartupFailure(err);
    Deno.exit(1);
  }
}

async function start(
  options: ServeOptions,
  logger: Logger,
  cleanups: Cleanup[],
  cleanup: () => Promise<void>,
  ownsProcess: boolean,
  startup: Startup,
): Promise<PluginServer> {
  // 0. Options that contradict each other fail before anything starts.
  servicesByVersion(options);
  if (options.console !== undefined && !CONSOLE_MODES.includes(options.console)) {
    throw new TypeError(
      `serve()'s console option is ${JSON.stringify(options.console)}: use one of ` +
        CONSOLE_MODES.map((m) => `"${m}"`).join(", "),
    );
  }
  checkPartialBudget(options.maxPartialMessageBytes);
  const debug = debugMode(options.debug, options.handshake);
  // TLS set-up starts first: it is most of a launch's time, and runs beside the rest.
  // Its errors surface at step 3, after the cookie's.
  const tlsReady = debug ? undefined : (async () => await serverTls(options, logger))();
  tlsReady?.catch(() => {});

  // 1. Signals first: Ctrl-C during start-up must not kill the plugin (debug mode: it does).
  // A stop asked for during start-up ends it at the next step (serve() then rejects, or,
  // owning the process, exits 0 at once) instead of returning a half-stopped server.
  const gracefulStopMs = options.gracefulStopMs ?? 10_000;
  let onStop = (reason: StopReason): void => {
    if (startup.interrupted) return;
    startup.interrupted = reason;
    logger.debug("plugin asked to stop during start-up", { reason });
    if (ownsProcess) void cleanup().finally(() => Deno.exit(0));
  };
  const watch = watchLifecycle(logger, (reason) => onStop(reason), { debug: debug !== null });
  cleanups.push(() => watch.stop());

  // 2. Cookie and version (debug mode: no cookie, our highest version).
  const { version, services, multiplex } = debug
    ? debugServices(options)
    : negotiate(options, logger);

  // 3. TLS: AutoMTLS when the host asks for it, else the author's own, else none. While
  // AutoMTLS's key is still being made, an engine that can binds its listener (step 6).
  let tls: ServerTls | undefined;
  let serverCertDer: Uint8Array | undefined;
  const settleTls = async () => {
    if (debug) warnIgnoredTls(logger, readEnv(ENV.clientCert), options.tls);
    else ({ tls, certDer: serverCertDer } = await tlsReady!);
    checkInterrupted(startup);
  };
  const engineFactory = options.engine ?? createNativeEngine;
  const early = !debug && !multiplex && !!readEnv(ENV.clientCert); // AutoMTLS
  if (!early) await settleTls();

  // 4. Keep stdout for the handshake from here on (debug mode: the console stays).
  const stdio = debug ? keepConsole() : captureConsole(options.console, logger);
  cleanups.push(releaseConsole);
  stdio.reportDropsTo(logger);

  // 5. The gRPC server with the built-in services and the plugin's own.
  const stopping = new AbortController();
  let stopPromise: Promise<void> | null = null;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  // The broker: services handed to the host (and dialled from it) on listeners of their own.
  const network: Network = options.transport ?? (Deno.build.os === "windows" ? "tcp" : "unix");
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxPartialMessageBytes = options.maxPartialMessageBytes;
  // The broker reads the TLS when it listens or dials, after step 6 (which settles it).
  const dialTlsOf = () =>
    tls ? { certPem: tls.certPem, keyPem: tls.keyPem, caPem: tls.clientCaPem } : undefined;
  const broker = new Broker({
    listen: pluginBrokerListen({
      network,
      engine: engineFactory,
      get tls() {
        return tls;
      },
      maxMessageBytes,
      maxPartialMessageBytes,
      logger,
      readEnv,
    }),
    get dialTls() {
      return dialTlsOf();
    },
    maxMessageBytes,
    maxPartialMessageBytes,
    logger,
    program: "the plugin",
  });
  cleanups.push(() => broker.close());
  const engine: Engine = engineFactory({
    maxMessageBytes,
    maxPartialMessageBytes,
    logger,
    broker,
  });
  // Once only: stop() shuts it down with its grace; a failed start-up, at once.
  let engineDown: Promise<void> | null = null;
  const shutdownEngine = (graceMs: number) => (engineDown ??= engine.shutdown(graceMs));
  cleanups.push(() => engineDown ? undefined : shutdownEngine(0));
  const stop = (reason: string, graceMs: number): Promise<void> => {
    stopPromise ??= (async () => {
      logger.debug("plugin stopping", { reason });
      let failed = false;
      try {
        stopping.abort();
        stdio.close();
        // The host's broker stream is no call of the plugin's: it ends once the plugin's own
        // calls are over (they may still dial through the broker), not with the grace.
        void inFlight.idle(graceMs).then(() => hostDone.abort());
        await shutdownEngine(graceMs);
      } catch (err) {
        failed = true;
        logger.error("the gRPC engine failed to shut down; cleaning up anyway", {
          reason,
          error: (err as Error)?.message ?? String(err),
        });
      } finally {
        await cleanup();
        logger.debug("plugin stopped", { reason });
        finish();
        if (ownsProcess) Deno.exit(failed ? 1 : 0);
      }
    })();
    return stopPromise;
  };
  const inFlight = new InFlight();
  // The host asked us to stop and its calls are over: the broker's stream ends with the
  // stop, which then waits for nothing of the host's.
  const hostDone = new AbortController();
  engine.addService(healthService(services.map((s) => s.definition.name), stopping.signal));
  engine.addService(brokerService(broker, hostDone.signal));
  engine.addService(
    controllerService(
      () => inFlight.idle(HOST_STOP_GRACE_MS),
      () => {
        hostDone.abort();
        void stop("GRPCController/Shutdown", HOST_STOP_GRACE_MS);
      },
    ),
  );
  engine.addService(stdioService(stdio));
  const bucket = options.rateLimit ? new TokenBucket(options.rateLimit) : null;
  for (const s of services) {
    if (s.unimplemented) {
      logger.debug("methods not implemented by this plugin (they answer UNIMPLEMENTED)", {
        service: s.definition.name,
        methods: s.unimplemented.join(","),
      });
    }
    engine.addService(inFlight.track(bucket ? bucket.guard(s) : s));
  }

  // 6. Listen: the engine's listener, or in multiplexed mode one running yamux on each connection.
  const muxed = multiplex
    ? pluginMultiplexing({
      engine,
      engineFactory,
      broker,
      tls,
      dialTls: dialTlsOf(),
      maxMessageBytes,
      maxPartialMessageBytes,
      logger,
    })
    : null;
  if (muxed) cleanups.push(() => muxed.close());
  // Early (AutoMTLS): bound while the key is made, serving TLS once it is installed.
  let install: ((tls: ServerTls) => void) | undefined;
  const bindLater = early && engine.bindTlsLater
    ? async (n: Network, a: string) => {
      const bound = await engine.bindTlsLater!(n, a, true);
      install = bound.install;
      return bound.port;
    }
    : undefined;
  if (early && !bindLater) await settleTls();
  const bind: Bind = muxed ? muxed.bind : bindLater ?? ((n, a) => engine.bind(n, a, tls));
  const address = network === "unix" ? await listenUnix(bind, cleanups) : await listenTcp(bind);
  checkInterrupted(startup);
  if (bindLater) {
    await settleTls();
    install!(tls!);
  }
  const reattachConfig = reattachConfigOf(network, address, version, debug !== null);

  // 7. From now on signals and host death stop the server gracefully.
  onStop = (reason) => {
    const graceful = reason === "sigterm" || reason === "sigint" || reason === "sighup";
    void stop(reason, graceful ? gracefulStopMs : HOST_STOP_GRACE_MS);
  };

  // 8. Once, after the listener accepts: the handshake line, or the reattach text.
  announce(debug, reattachConfig, serverCertDer, multiplex ? muxed !== null : undefined);
  // After the line, in the same task: no connection is served before it, and the host is
  // reading the line and dialling meanwhile (the first log line is cold code: ~0.5 ms).
  logger.debug("plugin address", { network, address });
  if (!debug) watch.startHostProbe();

  return {
    network,
    address,
    protocolVersion: version,
    reattachConfig,
    logger,
    broker,
    stop: () => stop("stop()", gracefulStopMs),
    finished,
  };
}

/** Step 2: the cookie check and version negotiation with the host. */
function negotiate(
  options: ServeOptions,
  logger: Logger,
): { version: number; services: readonly ServiceImplementation[]; multiplex: boolean } {
  checkCookie(options.handshake, readEnv);
  const versions = servicesByVersion(options);
  const negotiated = chooseVersion(readEnv(ENV.protocolVersions), [...versions.keys()]);
  if (negotiated.ignored.length) {
    logger.warn(`ignoring non-numeric entries of ${ENV.protocolVersions}`, {
      entries: negotiated.ignored.join(","),
    });
  }
  return {
    version: negotiated.version,
    services: versions.get(negotiated.version)!,
    multiplex: multiplexAsked(readEnv(ENV.multiplexGrpc)),
  };
}

/** Step 2 in debug mode: no host to check or negotiate with. */
function debugServices(
  options: ServeOptions,
): { version: number; services: readonly ServiceImplementation[]; multiplex: boolean } {
  const versions = servicesByVersion(options);
  const version = debugVersion([...versions.keys()]);
  return { version, services: versions.get(version)!, multiplex: false };
}

/** Step 3: AutoMTLS when the host asks for it, else the author's own TLS, else none. */
function serverTls(
  options: ServeOptions,
  logger: Logger,
): Promise<{ tls?: ServerTls; certDer?: Uint8Array }> {
  const hostCert = readEnv(ENV.clientCert);
  const ready = chooseServerTls(hostCert, options.tls, options.autoMtlsKeyType);
  if (hostCert) logger.debug("configuring server automatic mTLS");
  // WebCrypto makes the key off the main thread: load the TLS server's `node:tls` meanwhile
  // (the plugin's own certificate; AutoMTLS on the native engine serves our own TLS 1.3,
  // and only a host asking for more than it serves loads `node:tls`).
  if (options.tls && !hostCert) nodeTls();
  return ready;
}

/** Step 8: tells whoever started us where we listen (field 7: whether we multiplex, if asked). */
function announce(
  debug: DebugMode | null,
  config: ReattachConfig,
  serverCertDer: Uint8Array | undefined,
  muxSupported: boolean | undefined,
): void {
  if (debug) return printReattach(debug.name, config);
  writeAllSync(
    Deno.stdout,
    buildHandshakeLine({
      coreVersion: CORE_PROTOCOL_VERSION,
      appVersion: config.protocolVersion,
      network: config.addr.network,
      address: config.addr.string,
      protocol: PROTOCOL_GRPC,
      serverCertDer,
      muxSupported,
    }),
  );
}

/** Binds the main listener: `Engine.bind` with the plugin's TLS, or the multiplexed listener's. */
type Bind = (network: Network, address: string) => Promise<number | null>;

async function listenUnix(bind: Bind, cleanups: Cleanup[]): Promise<string> {
  const group = readEnv(ENV.unixSocketGroup);
  if (group) resolveGroup(group); // fail before anything exists
  const path = chooseSocketPath(readEnv);
  cleanups.push(() => removeSocket(path));
  const onUnload = () => removeSocket(path);
  globalThis.addEventListener("unload", onUnload);
  cleanups.push(() => globalThis.removeEventListener("unload", onUnload));
  try {
    await bind("unix", path);
  } catch (err) {
    // Only now: a stat on every start is a cold op before the line, and the
    // bind fails anyway when the directory is missing or a file.
    checkSocketDir(path);
    const e = explainPermission(err, `listening on the unix socket ${path}`);
    if (e !== err) throw e;
    throw new StartupError(
      `Cannot listen on the unix socket "${path}": ${(err as Error).message}. ` +
        `Check that the directory is writable, or set ${ENV.unixSocketDir} to one that is`,
      { cause: err },
    );
  }
  if (group) applySocketGroup(path, group);
  return path;
}

async function listenTcp(bind: Bind): Promise<string> {
  const range = readPortRange(readEnv);
  const port = await bindInRange(range, async (p) => {
    try {
      return await bind("tcp", `${TCP_HOST}:${p}`);
    } catch (err) {
      throw explainPermission(err, `listening on ${TCP_HOST}:${p}`);
    }
  });
  return `${TCP_HOST}:${port}`;
}
