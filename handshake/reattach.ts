/**
 * Reattach configurations: how a host connects to a plugin that is already
 * running (a plugin started in debug mode, or one a previous host launched).
 * Both go-plugin's `ReattachConfig` fields and Terraform's
 * `TF_REATTACH_PROVIDERS` JSON are read here, and the debug line a plugin
 * prints is written here, nowhere else.
 *
 * @module
 */

import { type Network, PROTOCOL_GRPC, REATTACH_ENV } from "../constants.ts";
import { RpcPluginError } from "../errors.ts";

/** Where a running plugin listens, and what it speaks (go-plugin's `ReattachConfig`). */
export interface ReattachConfig {
  /** RPC protocol: `grpc`. */
  protocol: string;
  /** The app protocol version the plugin serves (go-plugin's host leaves it out; we keep it). */
  protocolVersion: number;
  /** The listener. */
  addr: { network: Network; string: string };
  /** The plugin's process id, if known. */
  pid?: number;
  /**
   * A test (or debug) plugin ends on its own: `kill()` then only closes the
   * connection, with no Shutdown and no signal.
   */
  test?: boolean;
}

/** The JSON shape of one entry of `TF_REATTACH_PROVIDERS`. */
interface TfReattach {
  Protocol?: string;
  ProtocolVersion?: number;
  Pid?: number;
  Test?: boolean;
  Addr?: { Network?: string; String?: string };
}

/**
 * The JSON of a pasted `TF_REATTACH_PROVIDERS='...'` line: the name and the
 * shell's single quotes (with `'\''` escapes) taken off.
 */
function unquote(text: string): string {
  let t = text.trim();
  if (t.startsWith(`${REATTACH_ENV}=`)) t = t.slice(REATTACH_ENV.length + 1);
  if (t.startsWith("'") && t.endsWith("'")) t = t.slice(1, -1).replaceAll(`'\\''`, "'");
  return t;
}

/** A reattach configuration that cannot be used. */
export class ReattachError extends RpcPluginError {}

function fromTf(entry: TfReattach, where: string): ReattachConfig {
  const network = entry.Addr?.Network;
  const address = entry.Addr?.String;
  if ((network !== "unix" && network !== "tcp") || typeof address !== "string" || !address) {
    throw new ReattachError(
      `${where} needs "Addr": {"Network": "unix" | "tcp", "String": "<address>"}`,
    );
  }
  return {
    protocol: entry.Protocol || PROTOCOL_GRPC,
    // Terraform reads 0 (older SDKs) as 5.
    protocolVersion: entry.ProtocolVersion || 5,
    addr: { network, string: address },
    ...(typeof entry.Pid === "number" ? { pid: entry.Pid } : {}),
    test: entry.Test ?? false,
  };
}

/**
 * Reads a reattach configuration: a {@linkcode ReattachConfig}, one entry of
 * `TF_REATTACH_PROVIDERS` (`{"Protocol", "ProtocolVersion", "Pid", "Test",
 * "Addr": {"Network", "String"}}`), or the whole `TF_REATTACH_PROVIDERS` value
 * (JSON text or object, a map from provider address to entry; pick one with
 * `provider`, required when there are several).
 *
 * @example
 * ```ts
 * import { parseReattach } from "@rpcplugin/rpcplugin/host";
 * const config = parseReattach(
 *   '{"registry.terraform.io/hashicorp/time":{"Protocol":"grpc","ProtocolVersion":5,"Pid":42,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin1"}}}',
 * );
 * console.assert(config.addr.string === "/tmp/plugin1" && config.protocolVersion === 5);
 * ```
 *
 * @param input The configuration.
 * @param provider Which provider of a `TF_REATTACH_PROVIDERS` map.
 * @returns The configuration.
 * @throws {ReattachError} When it is not one of these shapes.
 */
export function parseReattach(
  input: string | ReattachConfig | Record<string, unknown>,
  provider?: string,
): ReattachConfig {
  let value: unknown = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(unquote(input));
    } catch (cause) {
      throw new ReattachError(
        "The reattach configuration is not JSON: paste the TF_REATTACH_PROVIDERS value the plugin printed",
        { cause },
      );
    }
  }
  if (typeof value !== "object" || value === null) {
    throw new ReattachError("The reattach configuration must be an object");
  }
  const obj = value as Record<string, unknown>;
  if ("addr" in obj) {
    const c = obj as unknown as ReattachConfig;
    if (c.addr?.network !== "unix" && c.addr?.network !== "tcp") {
      throw new ReattachError('The reattach configuration\'s addr.network must be "unix" or "tcp"');
    }
    return { ...c, protocol: c.protocol || PROTOCOL_GRPC, protocolVersion: c.protocolVersion || 1 };
  }
  if ("Addr" in obj) return fromTf(obj as TfReattach, "The reattach configuration");
  const names = Object.keys(obj);
  const name = provider ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined || !(name in obj)) {
    throw new ReattachError(
      provider
        ? `TF_REATTACH_PROVIDERS has no provider "${provider}" (it has ${
          names.join(", ") || "none"
        })`
        : `TF_REATTACH_PROVIDERS names ${names.length} providers (${
          names.join(", ")
        }): say which one`,
    );
  }
  return fromTf(obj[name] as TfReattach, `TF_REATTACH_PROVIDERS["${name}"]`);
}

/**
 * The `TF_REATTACH_PROVIDERS` value for one plugin: what a plugin in debug
 * mode prints, and what Terraform and `parseReattach()` read.
 *
 * @example
 * ```ts
 * import { reattachProvidersJson } from "@rpcplugin/rpcplugin/host";
 * const json = reattachProvidersJson("registry.terraform.io/me/x", {
 *   protocol: "grpc", protocolVersion: 6, addr: { network: "unix", string: "/tmp/p" }, pid: 1, test: true,
 * });
 * console.assert(JSON.parse(json)["registry.terraform.io/me/x"].Addr.String === "/tmp/p");
 * ```
 *
 * @param name The provider address (or any plugin name).
 * @param config Where the plugin listens.
 * @returns The JSON text.
 */
export function reattachProvidersJson(name: string, config: ReattachConfig): string {
  return JSON.stringify({
    [name]: {
      Protocol: config.protocol,
      ProtocolVersion: config.protocolVersion,
      Pid: config.pid ?? 0,
      Test: config.test ?? false,
      Addr: { Network: config.addr.network, String: config.addr.string },
    },
  });
}
