/**
 * Every go-plugin protocol constant in one place: environment variable
 * names, the core protocol version, service names and limits. Nothing else in
 * the library spells these strings.
 *
 * @module
 */

/** The go-plugin core protocol version: field 1 of the handshake line. */
export const CORE_PROTOCOL_VERSION = 1;

/** Environment variables the host sets for its plugin. */
export const ENV = {
  /** Comma-separated app protocol versions the host supports. */
  protocolVersions: "PLUGIN_PROTOCOL_VERSIONS",
  /** Lowest TCP port the plugin may listen on. */
  minPort: "PLUGIN_MIN_PORT",
  /** Highest TCP port the plugin may listen on. */
  maxPort: "PLUGIN_MAX_PORT",
  /** The host's certificate (PEM) when AutoMTLS is on. */
  clientCert: "PLUGIN_CLIENT_CERT",
  /** Set (`true`) when the host wants the multiplexed broker (go-plugin's `GRPCBrokerMultiplex`). */
  multiplexGrpc: "PLUGIN_MULTIPLEX_GRPC",
  /** Directory for the plugin's unix sockets. */
  unixSocketDir: "PLUGIN_UNIX_SOCKET_DIR",
  /** Group (name or gid) that must be able to use the unix socket. */
  unixSocketGroup: "PLUGIN_UNIX_SOCKET_GROUP",
} as const;

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
 */
export const REATTACH_ENV = "TF_REATTACH_PROVIDERS";
