/**
 * Every yamux constant in one place: the wire format of hashicorp/yamux's
 * `spec.md` (header layout, frame types, flags, go-away codes, the initial
 * window) and our defaults, most of them those of hashicorp/yamux's
 * `DefaultConfig()`, which go-plugin uses on both ends of a multiplexed
 * connection. Nothing else in `mux/` spells these numbers.
 *
 * @module
 */

/** The only protocol version: byte 0 of every header. */
export const YAMUX_VERSION = 0;

/** Bytes of a frame header: version, type, flags (16 bits), stream id, length (32 bits each). */
export const HEADER_BYTES = 12;

/** Frame types (header byte 1). */
export const FrameType = {
  /** Stream data; `length` bytes of payload follow. */
  data: 0,
  /** Adds `length` to the receiver's send window of a stream. */
  windowUpdate: 1,
  /** Session ping; `length` is an opaque value echoed back. */
  ping: 2,
  /** Session termination or refusal of new streams; `length` is a code. */
  goAway: 3,
} as const;

/** Frame flags (header bytes 2-3). */
export const Flag = {
  /** Opens a stream (or marks a ping request). */
  syn: 0x1,
  /** Accepts a stream (or marks a ping answer). */
  ack: 0x2,
  /** Half-closes a stream: the sender sends no more data. */
  fin: 0x4,
  /** Resets a stream at once. */
  rst: 0x8,
} as const;

/** Go-away codes (the `length` of a go-away frame). */
export const GoAwayCode = {
  /** Normal termination: no new streams, existing ones go on. */
  normal: 0,
  /** The sender saw a protocol error. */
  protocolError: 1,
  /** The sender had an internal error. */
  internalError: 2,
} as const;

/** The stream id that means the session (pings and go-aways). */
export const SESSION_ID = 0;

/** Highest stream id either side may use (ids are 32-bit; yamux stops two short). */
export const MAX_STREAM_ID = 0xffff_ffff - 2;

/** Largest value of a 32-bit header field. */
export const MAX_U32 = 0xffff_ffff;

/** Every stream's window at open, both ways, in bytes (256 KiB). */
export const INITIAL_STREAM_WINDOW = 256 * 1024;

/** Defaults of `YamuxOptions`: hashicorp/yamux's `DefaultConfig()` except keepalive. */
export const YAMUX_DEFAULTS = {
  /** Streams the peer opened that wait for `accept()`; more are reset. */
  acceptBacklog: 256,
  /** Streams open at once beyond which the peer's new ones are reset; 0: no limit (yamux's). */
  maxStreams: 0,
  /** Keepalive ping interval; 0 turns keepalive off (yamux's default, which go-plugin's peers use: on, every 30 s; we answer their pings). */
  keepAliveIntervalMs: 0,
  /** A write to the connection (or a ping's answer) taking longer ends the session. */
  connectionWriteTimeoutMs: 10_000,
  /** Largest receive window we grant a stream, in bytes. */
  maxStreamWindow: INITIAL_STREAM_WINDOW,
  /** A stream we opened that the peer has not acknowledged by then ends the session; 0: never. */
  streamOpenTimeoutMs: 75_000,
  /** A stream we closed that the peer has not closed by then is reset; 0: never. */
  streamCloseTimeoutMs: 5 * 60_000,
} as const;

/**
 * How long a session ended by the peer's protocol error may take to write
 * its go-away (queued stream data is dropped first) before the connection
 * closes anyway. A clean close keeps the connection write timeout.
 */
export const PROTOCOL_ERROR_FLUSH_MS = 1000;

/** Largest data frame payload we send, in bytes (smaller frames share the connection fairly). */
export const MAX_DATA_FRAME = 128 * 1024;

/** Size of the buffer the session reads the connection into, in bytes. */
export const READ_BUFFER_BYTES = 128 * 1024;

/** Queued frames are joined into one connection write up to this many bytes. */
export const COALESCE_BYTES = 256 * 1024;

/** Bytes queued for the connection above which stream writes wait for it to drain. */
export const WRITE_HIGH_WATER = 1024 * 1024;

/**
 * Replies to the peer's frames (ping answers, resets of streams we refuse)
 * queued while no connection write completes, beyond which the peer is
 * flooding us: protocol error.
 */
export const MAX_PENDING_PONGS = 1024;

/** Size of the buffer a Node duplex over a stream reads into, in bytes. */
export const DUPLEX_READ_BYTES = 64 * 1024;
