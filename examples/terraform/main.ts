/**
 * The example Terraform provider's entry point: what the launcher
 * `terraform-provider-example` runs (and what the bundled single file is made
 * from). Terraform starts it with its magic cookie; by hand, `-debug` starts
 * it in debug mode: it prints the `TF_REATTACH_PROVIDERS='...'` line to give
 * Terraform, and serves until Ctrl-C.
 *
 * ```sh
 * examples/terraform/terraform-provider-example -debug
 * ```
 *
 * @module
 */

import { serve } from "../../mod.ts";
import { exampleProvider, PROVIDER_ADDRESS } from "./provider.ts";
import { PROTOCOL_VERSION, providerService, TERRAFORM_HANDSHAKE } from "./tfplugin6/mod.ts";

const unknown = Deno.args.filter((a) => a !== "-debug" && a !== "--debug");
if (unknown.length > 0) {
  console.error(
    `Unknown arguments: ${unknown.join(" ")}\nUsage: terraform-provider-example [-debug]`,
  );
  Deno.exit(2);
}
const debug = unknown.length < Deno.args.length;

await serve({
  handshake: TERRAFORM_HANDSHAKE,
  versions: { [PROTOCOL_VERSION]: [providerService(exampleProvider)] },
  debug: debug ? { name: PROVIDER_ADDRESS } : false,
});
