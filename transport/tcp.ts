/**
 * TCP transport: the port range the host allows, scanned in order on
 * 127.0.0.1, as go-plugin's server does.
 *
 * @module
 */

import { ENV } from "../constants.ts";
import { PermissionError, StartupError } from "../errors.ts";

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

function isPermissionDenied(err: unknown): boolean {
  return err instanceof Deno.errors.PermissionDenied ||
    /EACCES|permission denied/i.test(String((err as { code?: string })?.code ?? err));
}

/**
 * Binds the first port of the range that binds, in order, as go-plugin's
 * server does: a port in use, or one that fails for any other reason (EACCES
 * below 1024 without privileges, say), is skipped. A refusal by Deno's
 * permissions ({@linkcode PermissionError}) is no port's fault: it stops the
 * scan at once.
 *
 * @param range The range from {@linkcode readPortRange}.
 * @param tryBind Binds one port; resolves to the bound port, or to `null` if
 * that port is taken; rejects when it cannot be bound for another reason.
 * @returns The bound port.
 * @throws {StartupError} When no port of the range binds, naming the range and the last error.
 * @throws {PermissionError} When Deno refuses the listen (`--allow-net`).
 */
export async function bindInRange(
  range: PortRange,
  tryBind: (port: number) => Promise<number | null>,
): Promise<number> {
  const any = range.min === 0 && range.max === 0;
  const ports = any ? [0] : [];
  if (!any) { for (let p = Math.max(range.min, 1); p <= range.max; p++) ports.push(p); }
  let last: { port: number; err: unknown } | null = null;
  for (const port of ports) {
    try {
      const bound = await tryBind(port);
      if (bound !== null) return bound;
    } catch (err) {
      if (err instanceof PermissionError) throw err;
      last = { port, err };
    }
  }
  const span = any ? "" : ` between ${range.min} and ${range.max}`;
  if (!last) {
    throw new StartupError(
      `No free TCP port on 127.0.0.1${span}: ` +
        `free a port or have the host widen ${ENV.minPort}/${ENV.maxPort}`,
    );
  }
  const hint = isPermissionDenied(last.err) && last.port > 0 && last.port < 1024
    ? `ports below 1024 need privileges the plugin lacks; have the host set ${ENV.minPort}/${ENV.maxPort} to a range of free ports at or above 1024`
    : `free a port or have the host widen ${ENV.minPort}/${ENV.maxPort}`;
  const message = (last.err as Error)?.message ?? String(last.err);
  throw new StartupError(
    `No TCP port on 127.0.0.1${span} could be bound (last error, port ${last.port}: ${message}): ${hint}`,
    { cause: last.err },
  );
}

/**
 * Splits a TCP address as the handshake line carries it (`127.0.0.1:PORT`,
 * or `[::1]:PORT`) into its parts.
 *
 * @param address The address.
 * @returns Host name (without brackets) and port.
 */
export function splitHostPort(address: string): { hostname: string; port: number } {
  const i = address.lastIndexOf(":");
  return {
    hostname: address.slice(0, i).replace(/^\[(.*)\]$/, "$1"),
    port: Number(address.slice(i + 1)),
  };
}
