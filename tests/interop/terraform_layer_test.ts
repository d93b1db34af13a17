/**
 * The example provider's tfplugin6 layer (examples/terraform/tfplugin6/) on
 * its own, in process, on the bytes Terraform sends and expects:
 *
 * - an unknown value is msgpack fixext 1 of extension type 0 (`d4 00 00`),
 *   as cty writes it; type 12 (an unknown with refinements) reads as unknown;
 *   numbers written as strings (cty's big numbers) read as numbers;
 * - a value that does not fit the schema is a `ValueError` naming the path;
 * - schemas go out with cty type JSON, sorted attributes and the server
 *   capabilities `get_provider_schema_optional` and `plan_destroy`;
 *   GetMetadata and GetResourceIdentitySchemas list the resource;
 * - UpgradeResourceState reads the raw JSON state, drops attributes the
 *   schema no longer has, and refuses a newer schema version with a
 *   diagnostic;
 * - planning a create marks the computed attributes unknown, a change to
 *   `name` asks for replacement, and a destroy plans to null;
 * - a validation error carries its attribute path.
 */

import { assertEquals as assertJsonEquals, assertThrows } from "../_util/assert.ts";
import { exampleProvider } from "../../examples/terraform/provider.ts";
import {
  decodeDynamic,
  encodeDynamic,
  objectType,
  type ObjectValue,
  providerService,
  UNKNOWN,
  ValueError,
} from "../../examples/terraform/tfplugin6/mod.ts";
import {
  Diagnostic_Severity,
  type DynamicValue,
} from "../../examples/terraform/gen/tfplugin6/tfplugin6_pb.ts";

/** assertEquals that tells UNKNOWN (a symbol, which JSON.stringify drops) from anything else. */
function assertEquals(actual: unknown, expected: unknown): void {
  const show = (v: unknown) =>
    JSON.stringify(
      v,
      (_k, x) => x === UNKNOWN ? "<unknown>" : x === undefined ? "<undefined>" : x,
    ) ?? String(v);
  assertJsonEquals(show(actual), show(expected));
}

const entryType = objectType(exampleProvider.resources.example_entry.schema);
const msgpack = (bytes: number[]): DynamicValue => ({
  msgpack: new Uint8Array(bytes),
  json: new Uint8Array(),
});
// deno-lint-ignore no-explicit-any
type Handlers = Record<string, (req: any, call: any) => Promise<any>>;
const call = { signal: new AbortController().signal };

function service(): Handlers {
  return providerService(exampleProvider).handlers as unknown as Handlers;
}

Deno.test("terraform layer: unknown is msgpack extension 0; refined unknowns and string numbers read", () => {
  assertEquals([...encodeDynamic(UNKNOWN, "string").msgpack], [0xd4, 0x00, 0x00]);
  assertEquals(decodeDynamic(msgpack([0xd4, 0x00, 0x00]), "number"), UNKNOWN);
  // ext 8 (one byte of length 2, type 12): an unknown with a refinement payload.
  assertEquals(decodeDynamic(msgpack([0xc7, 0x02, 0x0c, 0x81, 0x01]), "string"), UNKNOWN);
  // "12" as a msgpack string for a number attribute.
  assertEquals(decodeDynamic(msgpack([0xa2, 0x31, 0x32]), "number"), 12);
  const v: ObjectValue = {
    id: UNKNOWN,
    name: "a",
    value: "b",
    description: null,
    revision: UNKNOWN,
  };
  assertEquals(decodeDynamic(encodeDynamic(v, entryType), entryType), v);
});

Deno.test("terraform layer: a value that does not fit the type names its path", () => {
  const err = assertThrows(
    () => encodeDynamic({ name: 1 }, entryType),
    ValueError,
  );
  assertEquals(err.path, ["name"]);
});

Deno.test("terraform layer: schema, capabilities, metadata and identity schema", async () => {
  const h = service();
  const schema = await h.getProviderSchema({}, call);
  assertEquals(schema.serverCapabilities.getProviderSchemaOptional, true);
  assertEquals(schema.serverCapabilities.planDestroy, true);
  const attrs = schema.resourceSchemas.example_entry.block.attributes;
  assertEquals(attrs.map((a: { name: string }) => a.name), [
    "description",
    "id",
    "name",
    "revision",
    "value",
  ]);
  assertEquals(new TextDecoder().decode(attrs[3].type), '"number"');
  const meta = await h.getMetadata({}, call);
  assertEquals(meta.resources, [{ typeName: "example_entry" }]);
  assertEquals(meta.dataSources, [{ typeName: "example_entry" }]);
  const ids = await h.getResourceIdentitySchemas({}, call);
  assertEquals(
    ids.identitySchemas.example_entry.identityAttributes.map((a: { name: string }) => a.name),
    ["name"],
  );
});

Deno.test("terraform layer: UpgradeResourceState from raw JSON", async () => {
  const h = service();
  const json = new TextEncoder().encode(
    JSON.stringify({ id: "a", name: "a", value: "v", revision: 2, gone: "x" }),
  );
  const ok = await h.upgradeResourceState({
    typeName: "example_entry",
    version: 0n,
    rawState: { json, flatmap: {} },
  }, call);
  assertEquals(ok.diagnostics, []);
  assertEquals(decodeDynamic(ok.upgradedState, entryType), {
    id: "a",
    name: "a",
    value: "v",
    description: null,
    revision: 2,
  });
  const newer = await h.upgradeResourceState({
    typeName: "example_entry",
    version: 7n,
    rawState: { json, flatmap: {} },
  }, call);
  assertEquals(newer.diagnostics[0].summary, "Unsupported state version");
});

Deno.test("terraform layer: plans (create, replace, destroy) and validation paths", async () => {
  const h = service();
  const enc = (v: Parameters<typeof encodeDynamic>[0]) => encodeDynamic(v, entryType);
  const config = { id: null, name: "a", value: "v", description: null, revision: null };
  const create = await h.planResourceChange({
    typeName: "example_entry",
    priorState: enc(null),
    proposedNewState: enc(config),
    config: enc(config),
    priorPrivate: new Uint8Array(),
  }, call);
  assertEquals(decodeDynamic(create.plannedState, entryType), {
    ...config,
    id: UNKNOWN,
    revision: UNKNOWN,
  });
  const prior = { id: "a", name: "a", value: "v", description: null, revision: 1 };
  const renamed = { ...prior, name: "b" };
  const replace = await h.planResourceChange({
    typeName: "example_entry",
    priorState: enc(prior),
    proposedNewState: enc(renamed),
    config: enc({ ...config, name: "b" }),
    priorPrivate: new Uint8Array(),
  }, call);
  assertEquals(replace.requiresReplace, [{ steps: [{ attributeName: "name" }] }]);
  assertEquals(decodeDynamic(replace.plannedState, entryType), {
    ...renamed,
    id: UNKNOWN,
    revision: UNKNOWN,
  });
  const destroy = await h.planResourceChange({
    typeName: "example_entry",
    priorState: enc(prior),
    proposedNewState: enc(null),
    config: enc(null),
    priorPrivate: new Uint8Array(),
  }, call);
  assertEquals(decodeDynamic(destroy.plannedState, entryType), null);
  const bad = await h.validateResourceConfig({
    typeName: "example_entry",
    config: enc({ ...config, name: "../x" }),
  }, call);
  assertEquals(bad.diagnostics.length, 1);
  assertEquals(bad.diagnostics[0].severity, Diagnostic_Severity.ERROR);
  assertEquals(bad.diagnostics[0].attribute, { steps: [{ attributeName: "name" }] });
});
