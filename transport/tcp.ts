/**
 * TCP transport: the port range the host allows, scanned in order on
 * 127.0.0.1, as go-plugin's server does.
 *
 * @module
 */

import { ENV } from "../constants.ts";
import { StartupError } from "../errors.ts";

/** An inclusive port range; `{min: 0, max: 0}` means "any free port". */
export interface PortRange {
  /** Lowest port tried. */
  min: number;
  /** Highest port tried. */
  max: number;
}

function parsePort(name: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) {
    throw new StartupError(
      `${name}="${text}" is not a port number: the host must set it to an integer from 0 to 65535`,
    );
  }
  const n = Number(text.trim());
  if (n > 65535) {
    throw new StartupError(`${name}=${n} is out of range: ports go from 0 to 65535`);
  }
  return n;
}

/**
 * Reads `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`. Both unset means any port.
 *
 * @param getEnv Reads one environment variable.
 * @returns The range to scan.
 * @throws {StartupError} On non-numeric, out-of-range or inverted values.
 */
export function readPortRange(getEnv: (name: string) => string | undefined): PortRange {
  const minText = getEnv(ENV.minPort);
  const maxText = getEnv(ENV.maxPort);
  if (!minText && !maxText) return { min: 0, max: 0 };
  const min = minText ? parsePort(ENV.minPort, minText) : 0;
  const max = maxText ? parsePort(ENV.maxPort, maxText) : 0;
  if (min > max) {
    throw new StartupError(
      `${ENV.minPort}=${min} is greater than ${ENV.maxPort}=${max}: the host must give a range with min <= max`,
    );
  }
  return { min, max };
}

/**
 * Binds the first free port of the range, in order.
 *
 * @param range The range from {@linkcode readPortRange}.
 * @param tryBind Binds one port; resolves to the bound port, or to `null` if
 * that port is taken. Other errors propagate.
 * @returns The bound port.
 * @throws {StartupError} When every port of the range is taken.
 */
export async function bindInRange(
  range: PortRange,
  tryBind: (port: number) => Promise<number | null>,
): Promise<number> {
  if (range.min === 0 && range.max === 0) {
    const port = await tryBind(0);
    if (port !== null) return port;
  } else {
    for (let port = Math.max(range.min, 1); port <= range.max; port++) {
      const bound = await tryBind(port);
      if (bound !== null) return bound;
    }
  }
  throw new StartupError(
    `No free TCP port on 127.0.0.1 between ${range.min} and ${range.max}: ` +
      `free a port or have the host widen ${ENV.minPort}/${ENV.maxPort}`,
  );
}
