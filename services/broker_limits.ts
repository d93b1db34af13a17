/**
 * The bounds on what the other side can make a broker hold, plain and
 * multiplexed, in one place, and how going over one is reported: once per
 * burst, at WARN ({@linkcode BurstWarning}).
 *
 * | What the peer feeds                                    | Bound                         | Beyond it              |
 * | ------------------------------------------------------ | ----------------------------- | ---------------------- |
 * | ConnInfos announced, not dialled yet (plain mode)      | {@linkcode BROKER_MAX_ANNOUNCED}, 5 s each | the oldest is dropped  |
 * | knocks for ids not served yet (multiplexed)            | {@linkcode BROKER_MAX_PENDING_KNOCKS}, 5 s each | refused with an error  |
 * | replies to knocks the peer does not read off the stream | {@linkcode BROKER_MAX_QUEUED} | the knock is dropped   |
 * | knocked ids waiting for their stream, per session      | {@linkcode MUX_MAX_EXPECTED}, 5 s each | refused with an error  |
 * | streams open at once, per session                      | {@linkcode MUX_MAX_STREAMS}   | reset                  |
 * | multiplexed connections to the plugin's main listener  | {@linkcode MUX_MAX_SESSIONS}  | the oldest silent one closed, else the new one |
 * | a multiplexed connection whose peer sends no yamux frame | {@linkcode MUX_SILENT_SESSION_MS} | closed                 |
 *
 * @module
 */

import type { LogFields, Logger } from "../log/logger.ts";

/** How long an announced but unclaimed ConnInfo (or a knock) is kept, and how long `dial()` waits (go-plugin: 5 s). */
export const BROKER_TIMEOUT_MS = 5000;

/** Plain mode: ConnInfos the other side announced that no dial claimed yet; beyond it the oldest is dropped. */
export const BROKER_MAX_ANNOUNCED = 64;

/** Multiplexed: knocks for ids not served yet that a broker keeps; more are refused. */
export const BROKER_MAX_PENDING_KNOCKS = 64;

/** Multiplexed: ConnInfos waiting for the broker stream to take them; a knock that would add one beyond it is dropped. */
export const BROKER_MAX_QUEUED = 128;

/** Multiplexed: knocked ids waiting for their stream, per session; a knock beyond it is refused. */
export const MUX_MAX_EXPECTED = 16;

/** Multiplexed: streams open at once on one session; a stream the peer opens beyond it is reset. */
export const MUX_MAX_STREAMS = 128;

/**
 * Multiplexed: sessions (connections) the plugin's main listener keeps open
 * at once; a connection beyond it closes the oldest one whose peer has not
 * sent a yamux frame yet, or else is closed. The host opens one (go-plugin's
 * plugins take only the first).
 */
export const MUX_MAX_SESSIONS = 8;

/**
 * Multiplexed: how long a connection to the plugin's main listener may stay
 * without a yamux frame from its peer before it is closed (as an HTTP/2
 * connection without its preface is, `H2Limits.prefaceTimeoutMs`'s default):
 * a silent socket does not hold a session's place for ever.
 */
export const MUX_SILENT_SESSION_MS = 10_000;

/**
 * One WARN per burst of refusals of one kind: the first refusal of a burst
 * logs, the others are counted; {@linkcode BurstWarning.over} ends the
 * burst (logging how many there were at DEBUG), and the next refusal warns
 * again.
 */
export class BurstWarning {
  #count = 0;

  /**
   * @param logger Where it logs.
   * @param message The WARN's message: what was refused and why.
   */
  constructor(readonly logger: Logger, readonly message: string) {}

  /** Counts one refusal; the first of a burst logs at WARN. */
  refused(fields?: LogFields): void {
    if (this.#count++ === 0) this.logger.warn(this.message, fields);
  }

  /** The burst, if any, is over (the table has room again). */
  over(): void {
    if (this.#count === 0) return;
    if (this.#count > 1) {
      this.logger.debug(`${this.message} (burst over)`, { refused: this.#count });
    }
    this.#count = 0;
  }
}
