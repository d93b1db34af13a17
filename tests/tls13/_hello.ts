/**
 * A ClientHello builder for tests: each field can be replaced, removed or
 * broken.
 *
 * @module
 */

import { handshakeMessage, vector } from "../../tls13/messages.ts";

/** Options of {@linkcode clientHelloBody}. */
export interface HelloParts {
  legacyVersion?: number;
  sessionId?: Uint8Array;
  suites?: number[];
  compression?: number[];
  /** Extensions in order: [type, data]. */
  extensions?: [number, Uint8Array][];
}

const u16 = (v: number) => new Uint8Array([v >> 8, v & 0xff]);
const u16s = (vs: number[]) => vs.flatMap((v) => [v >> 8, v & 0xff]);

/** The extensions of a TLS 1.3 ClientHello our server takes on its fast path. */
export function goodExtensions(
  share: Uint8Array = new Uint8Array(32).fill(9),
): [number, Uint8Array][] {
  return [
    [0, vector(2, new Uint8Array([0]), vector(2, new TextEncoder().encode("localhost")))],
    [10, vector(2, new Uint8Array(u16s([0x001d, 0x0017])))],
    [13, vector(2, new Uint8Array(u16s([0x0403, 0x0603, 0x0804, 0x0807])))],
    [16, vector(2, vector(1, new TextEncoder().encode("h2")))],
    [43, vector(1, new Uint8Array(u16s([0x0304, 0x0303])))],
    [51, vector(2, new Uint8Array([...u16(0x001d), ...vector(2, share)]))],
  ];
}

/** A ClientHello body. */
export function clientHelloBody(p: HelloParts = {}): Uint8Array {
  const exts = p.extensions ?? goodExtensions();
  return new Uint8Array([
    ...u16(p.legacyVersion ?? 0x0303),
    ...new Uint8Array(32).fill(7),
    ...vector(1, p.sessionId ?? new Uint8Array(32).fill(3)),
    ...vector(2, new Uint8Array(u16s(p.suites ?? [0x1301, 0x1303]))),
    ...vector(1, new Uint8Array(p.compression ?? [0])),
    ...vector(2, ...exts.map(([t, d]) => new Uint8Array([...u16(t), ...vector(2, d)]))),
  ]);
}

/** A ClientHello handshake message. */
export function clientHello(p: HelloParts = {}): Uint8Array {
  return handshakeMessage(1, clientHelloBody(p));
}
