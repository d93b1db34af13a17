/**
 * Private: encoding and decoding the 12-byte yamux frame header (all fields
 * big-endian): version (8 bits), type (8), flags (16), stream id (32),
 * length (32).
 *
 * @module
 */

import { FrameType, HEADER_BYTES, SESSION_ID, YAMUX_VERSION } from "./constants.ts";

/** A decoded frame header. */
export interface Header {
  /** Protocol version (0). */
  version: number;
  /** Frame type, one of `FrameType`. */
  type: number;
  /** Flags, `Flag` bits. */
  flags: number;
  /** Stream id (0: the session). */
  streamId: number;
  /** Payload length (data), window delta (window update), opaque value (ping) or code (go-away). */
  length: number;
}

/** Writes a header into `into` at `at`. */
export function putHeader(
  into: Uint8Array,
  at: number,
  type: number,
  flags: number,
  streamId: number,
  length: number,
): void {
  const view = new DataView(into.buffer, into.byteOffset + at, HEADER_BYTES);
  view.setUint8(0, YAMUX_VERSION);
  view.setUint8(1, type);
  view.setUint16(2, flags);
  view.setUint32(4, streamId);
  view.setUint32(8, length);
}

/** Reads a header from `from` at `at` (at least 12 bytes must be there). */
export function getHeader(from: Uint8Array, at: number): Header {
  const view = new DataView(from.buffer, from.byteOffset + at, HEADER_BYTES);
  return {
    version: view.getUint8(0),
    type: view.getUint8(1),
    flags: view.getUint16(2),
    streamId: view.getUint32(4),
    length: view.getUint32(8),
  };
}

/** A frame without payload: window update, ping or go-away. */
export function controlFrame(
  type: number,
  flags: number,
  streamId: number,
  length: number,
): Uint8Array {
  const frame = new Uint8Array(HEADER_BYTES);
  putHeader(frame, 0, type, flags, streamId, length);
  return frame;
}

/** A data frame carrying a copy of `payload`. */
export function dataFrame(streamId: number, flags: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_BYTES + payload.length);
  putHeader(frame, 0, FrameType.data, flags, streamId, payload.length);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** A go-away frame with `code`. */
export function goAwayFrame(code: number): Uint8Array {
  return controlFrame(FrameType.goAway, 0, SESSION_ID, code);
}

/** Names a frame type for error messages. */
export function typeName(type: number): string {
  const name = Object.entries(FrameType).find(([, v]) => v === type)?.[0];
  return name ?? `unknown type ${type}`;
}
