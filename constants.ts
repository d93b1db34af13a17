/**
 * Every go-plugin protocol constant in one place: environment variable
 * names, the core protocol version, service names and limits. Nothing else in
 * the library spells these strings.
 *
 * @module
 */

/**
 * The go-plugin core protocol version: field 1 of the handshake line.
 *
 * @example
 * ```ts
 * import { CORE_PROTOCOL_VERSION } from "@rpcplugin/rpcplugin/protocol";
 * console.assert(CORE_PROTOCOL_VERSION === 1);
 * ```
 */
export const CORE_PROTOCOL_VERSION = 1;

/**
 * Names of the environment variables a go-plugin host sets for its plugin,
 * by role.
 *
 * @example
 * ```ts
 * import { ENV } from "@rpcplugin/rpcplugin/protocol";
 * console.assert(ENV.clientCert === "PLUGIN_CLIENT_CERT");
 * ```
 */
export const ENV: {
  /** `PLUGIN_PROTOCOL_VERSIONS`: comma-separated app protocol versions the host supports. */
  readonly protocolVersions: "PLUGIN_PROTOCOL_VERSIONS";
  /** `PLUGIN_MIN_PORT`: lowest TCP port the plugin may listen on. */
  readonly minPort: "PLUGIN_MIN_PORT";
  /** `PLUGIN_MAX_PORT`: highest TCP port the plugin may listen on. */
  readonly maxPort: "PLUGIN_MAX_PORT";
  /** `PLUGIN_CLIENT_CERT`: the host's certificate (PEM) when AutoMTLS is on. */
  readonly clientCert: "PLUGIN_CLIENT_CERT";
  /** `PLUGIN_MULTIPLEX_GRPC`: set (`true`) when the host wants the multiplexed broker (go-plugin's `GRPCBrokerMultiplex`). */
  readonly multiplexGrpc: "PLUGIN_MULTIPLEX_GRPC";
  /** `PLUGIN_UNIX_SOCKET_DIR`: directory for the plugin's unix sockets. */
  readonly unixSocketDir: "PLUGIN_UNIX_SOCKET_DIR";
  /** `PLUGIN_UNIX_SOCKET_GROUP`: group (name or gid) that must be able to use the unix socket. */
  readonly unixSocketGroup: "PLUGIN_UNIX_SOCKET_GROUP";
} = {
  protocolVersions: "PLUGIN_PROTOCOL_VERSIONS",
  minPort: "PLUGIN_MIN_PORT",
  maxPort: "PLUGIN_MAX_PORT",
  clientCert: "PLUGIN_CLIENT_CERT",
  multiplexGrpc: "PLUGIN_MULTIPLEX_GRPC",
  unixSocketDir: "PLUGIN_UNIX_SOCKET_DIR",
  unixSocketGroup: "PLUGIN_UNIX_SOCKET_GROUP",
};

/** The transport networks the handshake line can name. */
export type Network = "unix" | "tcp";

/** The RPC protocol named in field 5 of the handshake line. */
export const PROTOCOL_GRPC = "grpc";

/** Prefix of unix socket file names, as go-plugin uses (`plugin12345`). */
export const SOCKET_NAME_PREFIX = "plugin";

/** Loopback address a TCP listener binds to and advertises. */
export const TCP_HOST = "127.0.0.1";

/** Health-check service name that go-plugin's `Client.Ping()` asks about. */
export const HEALTH_SERVICE_NAME = "plugin";

/** Largest chunk go-plugin sends on the stdio stream. */
export const STDIO_CHUNK_BYTES = 1024;

/** Default gRPC message limit both ways: Terraform uses 256 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/**
 * Default bound on the bytes the messages received on one connection's
 * streams hold together, from their prefixes (by declared size, plus what a
 * message costs besides its bytes) until their calls take them
 * (`maxPartialMessageBytes`): a stream alone may still receive a message up
 * to the message limit. 256 MiB: the 128 streams of a connection may each
 * have a 1 MiB message on the way at once (a host's 64 concurrent 1 MiB
 * calls must not fail), and a connection holds at most this, not 128 times
 * the message limit. A streaming call whose reader lags holds what arrives
 * until 1 MiB of whole messages waits unread (the message that crosses it
 * may be up to the message limit), and then what the 4 MiB of window granted
 * already lets in: up to ~100 MiB of it in empty messages (4 MiB / 5 bytes,
 * each counted 128 bytes), the heap they really take. Once the budget is
 * full, a message that would pass it is refused while others hold some: with
 * the lagging stream's window held back, that is usually another stream's,
 * one that reads. A program whose readers lag on many streams at once
 * raises it.
 */
export const DEFAULT_MAX_PARTIAL_MESSAGE_BYTES = 256 * 1024 * 1024;

/** How long the host waits after Shutdown before it SIGKILLs (ms). */
export const HOST_KILL_TIMEOUT_MS = 2000;

/** Prefix of go-plugin's own environment variables; the host scrubs inherited ones. */
export const ENV_PREFIX = "PLUGIN_";

/** Lowest TCP port a host offers by default (go-plugin's `ClientConfig.MinPort`). */
export const DEFAULT_MIN_PORT = 10000;

/** Highest TCP port a host offers by default (go-plugin's `ClientConfig.MaxPort`). */
export const DEFAULT_MAX_PORT = 25000;

/** How long the host waits for the handshake line by default (ms), as go-plugin. */
export const DEFAULT_START_TIMEOUT_MS = 60_000;

/**
 * Most bytes the host reads for the handshake line without finding a newline:
 * the 64 KiB line limit of go-plugin's `bufio.Scanner`.
 */
export const MAX_HANDSHAKE_LINE_BYTES = 64 * 1024;

/**
 * Longest plugin stderr line relayed in one piece; longer ones arrive in
 * pieces of this size (go-plugin's `PluginLogBufferSize` default).
 */
export const STDERR_LINE_BYTES = 64 * 1024;

/**
 * The environment variable that tells a host (Terraform, or `attach()`) where
 * already running plugins listen: a plugin in debug mode prints it.
 *
 * @example
 * ```ts
 * import { REATTACH_ENV } from "@rpcplugin/rpcplugin/protocol";
 * console.assert(REATTACH_ENV === "TF_REATTACH_PROVIDERS");
 * ```
 */
export const REATTACH_ENV = "TF_REATTACH_PROVIDERS";
