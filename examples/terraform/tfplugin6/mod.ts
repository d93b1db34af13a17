/**
 * A small layer for writing Terraform / OpenTofu providers on rpcplugin's
 * `serve()`: plugin protocol 6 (`tfplugin6.Provider`), msgpack values with
 * unknowns, cty type JSON, diagnostics with attribute paths, state upgrades,
 * resource identity, and the handshake Terraform expects. Nothing in it is
 * specific to the example provider next to it.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@rpcplugin/rpcplugin";
 * import { providerService, TERRAFORM_HANDSHAKE } from "./tfplugin6/mod.ts";
 *
 * await serve({
 *   handshake: TERRAFORM_HANDSHAKE,
 *   versions: { 6: [providerService(myProvider)] },
 * });
 * ```
 *
 * @module
 */

import type { HandshakeConfig } from "../../../mod.ts";

export * from "./values.ts";
export * from "./diagnostics.ts";
export * from "./schema.ts";
export * from "./provider.ts";

/** The plugin protocol version this layer serves. */
export const PROTOCOL_VERSION = 6;

/**
 * The handshake Terraform and OpenTofu use with every provider: their magic
 * cookie, and protocol version 6.
 */
export const TERRAFORM_HANDSHAKE: HandshakeConfig = {
  magicCookieKey: "TF_PLUGIN_MAGIC_COOKIE",
  magicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
  protocolVersion: PROTOCOL_VERSION,
};
