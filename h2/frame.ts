/**
 * HTTP/2 framing (RFC 9113 section 4 and 6): frame types, flags, settings,
 * error codes, and writing frames. Reading is done in place by the
 * connection, which parses the 9-byte header itself.
 *
 * @module
 */

/** The client connection preface (RFC 9113 section 3.4). */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/** Length of a frame header. */
export const FRAME_HEADER_BYTES = 9;

/** Frame types. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Settings identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes of RST_STREAM and GOAWAY. */
export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** The initial flow-control window of every stream and connection. */
export const DEFAULT_WINDOW = 65_535;
/** The largest frame payload a peer must accept. */
export const DEFAULT_MAX_FRAME = 16_384;
/** The largest flow-control window allowed. */
export const MAX_WINDOW = 0x7fff_ffff;
/** The largest SETTINGS_MAX_FRAME_SIZE a peer may announce (2^24 - 1). */
export const MAX_FRAME_SIZE_LIMIT = 0xff_ffff;
/** Payload length of a PRIORITY frame, and of the priority fields of HEADERS. */
export const PRIORITY_BYTES = 5;
/** Payload length of a PING frame. */
export const PING_BYTES = 8;
/** Payload length of RST_STREAM and WINDOW_UPDATE frames. */
export const U32_FRAME_BYTES = 4;
/** Fixed part of a GOAWAY payload (last stream id and error code). */
export const GOAWAY_FIXED_BYTES = 8;
/** Length of one SETTINGS entry. */
export const SETTING_BYTES = 6;
/** Per-field overhead in SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 6.5.2, RFC 7541 4.1). */
export const FIELD_OVERHEAD = 32;

/** A connection error: the connection ends with GOAWAY and this code. */
export class H2ConnectionError extends Error {
  /**
   * @param code The GOAWAY error code.
   * @param message What the peer did wrong.
   */
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "H2ConnectionError";
  }
}

/** Writes a frame header at `at` in `out`. */
export function putFrameHeader(
  out: Uint8Array,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out[at + 5] = (streamId >>> 24) & 0x7f;
  out[at + 6] = (streamId >>> 16) & 0xff;
  out[at + 7] = (streamId >>> 8) & 0xff;
  out[at + 8] = streamId & 0xff;
}

/** A whole frame with the given payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  putFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

function u32(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0));
  return out;
}

/** A SETTINGS frame with the given (identifier, value) pairs. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Uint8Array {
  const payload = new Uint8Array(settings.length * 6);
  const view = new DataView(payload.buffer);
  settings.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value >>> 0);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

/** A WINDOW_UPDATE frame. */
export function windowUpdateFrame(streamId: number, increment: number): Uint8Array {
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, u32([increment]));
}

/** A RST_STREAM frame. */
export function rstStreamFrame(streamId: number, code: number): Uint8Array {
  return frame(FrameType.RST_STREAM, 0, streamId, u32([code]));
}

/** A GOAWAY frame. */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const text = new TextEncoder().encode(debug);
  const payload = new Uint8Array(8 + text.length);
  payload.set(u32([lastStreamId & MAX_WINDOW, code]));
  payload.set(text, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}
