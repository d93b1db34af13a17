/**
 * The calls Terraform makes to the provider over its launches for `plan`,
 * `apply`, `destroy` and `import` of one entry with its data source, made
 * by our host in one launch: what bundle.ts profiles to find the functions
 * those calls compile lazily (the first connection, TLS, HTTP/2, msgpack, the
 * handlers), so that the bundle compiles them with the script.
 *
 * @module
 */

import type { ServiceClient } from "../../host/mod.ts";
import { lazyFunctionsThroughCalls } from "../../scripts/call_profile.ts";
import { exampleProvider } from "./provider.ts";
import {
  encodeDynamic,
  hasErrors,
  objectType,
  type ObjectValue,
  PROTOCOL_VERSION,
  providerDefinition,
  TERRAFORM_HANDSHAKE,
} from "./tfplugin6/mod.ts";
import type { Diagnostic, DynamicValue } from "./gen/tfplugin6/tfplugin6_pb.ts";

type Provider = ServiceClient<typeof providerDefinition>;

/** A call the provider answered with an error: the profile would miss the path Terraform takes. */
export class ProfileCallError extends Error {
  /** @param message What failed. */
  constructor(message: string) {
    super(message);
    this.name = "ProfileCallError";
  }
}

/** Throws when a response carries an error diagnostic. */
async function ok<T extends { diagnostics: Diagnostic[] }>(
  what: string,
  res: Promise<T>,
): Promise<T> {
  const r = await res;
  if (hasErrors(r.diagnostics)) {
    throw new ProfileCallError(
      `${what} answered ${r.diagnostics.map((d) => `"${d.summary}: ${d.detail}"`).join(", ")}: ` +
        "examples/terraform/first_calls.ts no longer makes the calls the provider accepts; fix its requests",
    );
  }
  return r;
}

const NO_CAPABILITIES = { deferralAllowed: false, writeOnlyAttributesAllowed: false };

/**
 * Makes Terraform's calls, in Terraform's order: schema, validation,
 * configuration, then a create, a read, a state upgrade, the data source, an
 * update, an import and a destroy of one entry.
 *
 * @param p The provider's client.
 */
export async function terraformCalls(p: Provider): Promise<void> {
  const providerConfig = encodeDynamic(
    { directory: "entries" },
    objectType(exampleProvider.schema),
  );
  const entryType = objectType(exampleProvider.resources.example_entry.schema);
  const dataType = objectType(exampleProvider.dataSources.example_entry.schema);
  const entry = (value: string): ObjectValue => ({
    id: null,
    name: "profile",
    value,
    description: null,
    revision: null,
  });
  const config = (value: string) => encodeDynamic(entry(value), entryType);
  const dataConfig = encodeDynamic(
    { name: "profile", value: null, description: null, revision: null },
    dataType,
  );
  const typeName = "example_entry";

  await ok("GetProviderSchema", p.getProviderSchema({}));
  await ok("ValidateProviderConfig", p.validateProviderConfig({ config: providerConfig }));
  await ok(
    "ValidateResourceConfig",
    p.validateResourceConfig({ typeName, config: config("a"), clientCapabilities: undefined }),
  );
  await ok(
    "ValidateDataResourceConfig",
    p.validateDataResourceConfig({ typeName, config: dataConfig }),
  );
  await ok(
    "ConfigureProvider",
    p.configureProvider({
      terraformVersion: "1.11.4",
      config: providerConfig,
      clientCapabilities: NO_CAPABILITIES,
    }),
  );
  const change = async (
    prior: DynamicValue | undefined,
    proposed: DynamicValue | undefined,
    cfg: DynamicValue | undefined,
  ): Promise<DynamicValue | undefined> => {
    const plan = await ok(
      "PlanResourceChange",
      p.planResourceChange({
        typeName,
        priorState: prior,
        proposedNewState: proposed,
        config: cfg,
        priorPrivate: new Uint8Array(),
        providerMeta: undefined,
        clientCapabilities: NO_CAPABILITIES,
        priorIdentity: undefined,
      }),
    );
    const applied = await ok(
      "ApplyResourceChange",
      p.applyResourceChange({
        typeName,
        priorState: prior,
        plannedState: plan.plannedState,
        config: cfg,
        plannedPrivate: plan.plannedPrivate,
        providerMeta: undefined,
        plannedIdentity: plan.plannedIdentity,
      }),
    );
    return applied.newState;
  };
  const created = await change(undefined, config("a"), config("a"));
  const read = await ok(
    "ReadResource",
    p.readResource({
      typeName,
      currentState: created,
      private: new Uint8Array(),
      providerMeta: undefined,
      clientCapabilities: NO_CAPABILITIES,
      currentIdentity: undefined,
    }),
  );
  await ok(
    "UpgradeResourceState",
    p.upgradeResourceState({
      typeName,
      version: 0n,
      rawState: {
        json: new TextEncoder().encode(
          JSON.stringify({ id: "profile", name: "profile", value: "a", revision: 1 }),
        ),
        flatmap: {},
      },
    }),
  );
  await ok(
    "ReadDataSource",
    p.readDataSource({
      typeName,
      config: dataConfig,
      providerMeta: undefined,
      clientCapabilities: NO_CAPABILITIES,
    }),
  );
  const updated = await change(read.newState, config("b"), config("b"));
  await ok(
    "ImportResourceState",
    p.importResourceState({
      typeName,
      id: "profile",
      clientCapabilities: NO_CAPABILITIES,
      identity: undefined,
    }),
  );
  await change(updated, undefined, undefined);
  await p.stopProvider({});
}

/**
 * The functions the provider's bundle compiles lazily through Terraform's
 * calls, with AutoMTLS on (as Terraform launches it) and off
 * (`TF_DISABLE_PLUGIN_TLS=1`).
 *
 * @param bundle The provider's bundle.
 * @param deno The deno to run it with.
 * @returns The functions' names.
 */
export function firstCallFunctions(bundle: string, deno?: string): Promise<Set<string>> {
  return lazyFunctionsThroughCalls(bundle, {
    handshake: TERRAFORM_HANDSHAKE,
    versions: [PROTOCOL_VERSION],
    autoMtls: [true, false],
    deno,
  }, (plugin) => terraformCalls(plugin.client(providerDefinition)));
}
