/**
 * App protocol version negotiation, as go-plugin's server does it.
 *
 * @module
 */

import { ENV } from "../constants.ts";
import { StartupError } from "../errors.ts";

/** Result of {@linkcode negotiateVersion}. */
export interface NegotiatedVersion {
  /** The version to serve and print in field 2. */
  version: number;
  /** Whether the host listed it (false: our lowest, for the host to reject). */
  agreed: boolean;
  /** Entries of the host's list that were not integers. */
  ignored: string[];
}

/**
 * Picks the highest version we serve that the host lists. With no common
 * version (or no list at all) it returns our lowest, so that the host
 * rejects it with a message naming both sides' versions.
 *
 * @example
 * ```ts
 * import { negotiateVersion } from "@rpcplugin/rpcplugin/protocol";
 * console.assert(negotiateVersion("6,5", [4, 5]).version === 5);
 * console.assert(negotiateVersion("9", [4, 5]).version === 4);
 * ```
 *
 * @param hostList The host's `PLUGIN_PROTOCOL_VERSIONS` (order is random).
 * @param ours The versions this plugin serves.
 * @returns The chosen version and what was skipped.
 * @throws {RangeError} If `ours` is empty.
 */
export function negotiateVersion(
  hostList: string | undefined,
  ours: readonly number[],
): NegotiatedVersion {
  if (ours.length === 0) {
    throw new RangeError("The plugin serves no protocol version: give at least one");
  }
  const sorted = [...ours].sort((a, b) => b - a);
  const ignored: string[] = [];
  const offered = new Set<number>();
  for (const raw of (hostList ?? "").split(",")) {
    const text = raw.trim();
    if (text === "") continue;
    if (/^[+-]?\d+$/.test(text)) offered.add(Number(text));
    else ignored.push(text);
  }
  const match = sorted.find((v) => offered.has(v));
  if (match !== undefined) return { version: match, agreed: true, ignored };
  return { version: sorted[sorted.length - 1], agreed: false, ignored };
}

/**
 * The plugin's choice at start-up: {@linkcode negotiateVersion}, except that
 * a host list with no common version is a start-up error naming both sides.
 * (go-plugin would print its lowest version and let the host reject it; the
 * host then SIGKILLs the plugin, leaving its socket file behind.) With no list
 * at all (hosts older than 2018), or an empty one (what a go-plugin host with
 * no versioned plugin set sends), our lowest version is served, as go-plugin
 * does.
 *
 * @param hostList The host's `PLUGIN_PROTOCOL_VERSIONS`, if set.
 * @param ours The versions this plugin serves.
 * @returns The negotiated version.
 * @throws {StartupError} When the list is set, not empty, and shares no version with ours.
 */
export function chooseVersion(
  hostList: string | undefined,
  ours: readonly number[],
): NegotiatedVersion {
  // go-plugin reads an empty value as no value.
  if (hostList !== undefined && hostList.trim() === "") hostList = undefined;
  const negotiated = negotiateVersion(hostList, ours);
  if (hostList === undefined || negotiated.agreed) return negotiated;
  const served = [...ours].sort((a, b) => a - b).join(", ");
  if (!/\d/.test(hostList)) {
    throw new StartupError(
      `${ENV.protocolVersions}="${hostList}" lists no protocol version: the host must set it to comma-separated integers (this plugin serves ${served})`,
    );
  }
  throw new StartupError(
    `The host supports protocol versions ${hostList} (${ENV.protocolVersions}) and this plugin serves ${served}: ` +
      "use a plugin release that serves one of the host's versions, or upgrade the host",
  );
}
