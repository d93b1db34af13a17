/**
 * A Terraform provider as plain TypeScript objects (a schema and a few
 * functions per resource type and data source), served as the
 * `tfplugin6.Provider` gRPC service: {@linkcode providerService} turns the
 * objects into the service `serve()` takes.
 *
 * What the layer does so that the provider's code does not have to:
 *
 * - answers GetProviderSchema, GetMetadata and GetResourceIdentitySchemas
 *   from the schemas, with the server capabilities `get_provider_schema_optional`
 *   (Terraform may reuse the schema it already has instead of asking every
 *   launch) and `plan_destroy` (PlanResourceChange is called for destroys too);
 * - decodes and encodes every DynamicValue by the schema (msgpack, unknowns);
 * - plans: a create makes every unset computed attribute unknown ("known after
 *   apply"); an update keeps the prior values of computed attributes marked
 *   `keepOnUpdate` and makes the others unknown; a change to a
 *   `requiresReplace` attribute is reported in `requires_replace` (and all
 *   computed attributes become unknown); destroys plan to null;
 * - applies by calling create, update or delete, and checks the result is
 *   wholly known;
 * - reads (a null result tells Terraform the object is gone), imports by id or
 *   by identity, upgrades stored state from its raw JSON (older shapes through
 *   the resource's `upgradeState`), upgrades identities;
 * - turns a thrown {@linkcode DiagnosticsError} (or {@linkcode ValueError})
 *   into the response's diagnostics, and any other error into one error
 *   diagnostic;
 * - StopProvider aborts the `signal` every call of the provider's code gets.
 *
 * @module
 */

import { implement, type ServiceImplementation } from "../../../mod.ts";
import {
  type Diagnostic,
  type DynamicValue,
  type GetProviderSchema_Response,
  ProviderDefinition,
  type ResourceIdentityData,
  type ServerCapabilities,
} from "../gen/tfplugin6/tfplugin6_pb.ts";
import { fromTsProto } from "../../../mod.ts";
import { attributePath, DiagnosticsError, errorDiagnostic, hasErrors } from "./diagnostics.ts";
import {
  type BlockSchema,
  type IdentitySchema,
  identitySchemaToProto,
  objectType,
  schemaToProto,
} from "./schema.ts";
import {
  conform,
  conformLoose,
  decodeDynamic,
  encodeDynamic,
  isWhollyKnown,
  type ObjectValue,
  UNKNOWN,
  type Value,
  ValueError,
  valuesEqual,
} from "./values.ts";

/** What every call of the provider's code gets besides its values. */
export interface CallInfo<C> {
  /** What `configure` returned; calls that need it fail with a diagnostic until then. */
  readonly client: C;
  /** Aborted when Terraform sends StopProvider (Ctrl-C) or cancels the call. */
  readonly signal: AbortSignal;
}

/** A managed resource type. */
export interface ResourceType<C> {
  /** Its schema (`version` numbers the stored state's shape). */
  readonly schema: BlockSchema;
  /** Its identity: the schema, and how to get it from a state (and an import id from it). */
  readonly identity?: {
    readonly schema: IdentitySchema;
    /** The identity of an object, from its (planned or new) state. */
    of(state: ObjectValue): ObjectValue;
    /** The import id an identity-based import stands for. */
    importId(identity: ObjectValue): string;
  };
  /** Checks a configuration (which may hold unknowns); returns diagnostics with attribute paths. */
  validate?(config: ObjectValue): Diagnostic[];
  /** Creates the object; returns its state (every attribute known). */
  create(planned: ObjectValue, info: CallInfo<C>): ObjectValue | Promise<ObjectValue>;
  /** Reads the object as it is now; null when it is gone. */
  read(state: ObjectValue, info: CallInfo<C>): ObjectValue | null | Promise<ObjectValue | null>;
  /** Updates the object in place; returns its new state. */
  update(
    prior: ObjectValue,
    planned: ObjectValue,
    info: CallInfo<C>,
  ): ObjectValue | Promise<ObjectValue>;
  /** Deletes the object. */
  delete(prior: ObjectValue, info: CallInfo<C>): void | Promise<void>;
  /** The state of an existing object named by an import id (Terraform reads it afterwards). */
  importState(id: string, info: CallInfo<C>): ObjectValue | Promise<ObjectValue>;
  /**
   * Brings stored state of an older schema version into the current shape
   * (attributes the current schema lacks are dropped afterwards, missing ones
   * become null). Without it, state of another version is refused.
   */
  upgradeState?(version: number, raw: Record<string, unknown>): Record<string, unknown>;
}

/** A data source. */
export interface DataSourceType<C> {
  /** Its schema. */
  readonly schema: BlockSchema;
  /** Checks a configuration (which may hold unknowns). */
  validate?(config: ObjectValue): Diagnostic[];
  /** Reads it: the configuration with the computed attributes filled in. */
  read(config: ObjectValue, info: CallInfo<C>): ObjectValue | Promise<ObjectValue>;
}

/** A whole provider. `C` is what `configure` makes for the other calls. */
export interface ProviderSpec<C> {
  /** The provider block's schema. */
  readonly schema: BlockSchema;
  /** Checks the provider configuration (which may hold unknowns). */
  validate?(config: ObjectValue): Diagnostic[];
  /** Configures the provider (once per launch, before any read, plan or apply). */
  configure(config: ObjectValue, terraformVersion: string): C | Promise<C>;
  /** Managed resource types by type name (`example_entry`). */
  readonly resources: { readonly [typeName: string]: ResourceType<C> };
  /** Data sources by type name. */
  readonly dataSources: { readonly [typeName: string]: DataSourceType<C> };
}

/** The capabilities this layer announces. */
export const SERVER_CAPABILITIES: ServerCapabilities = {
  planDestroy: true,
  getProviderSchemaOptional: true,
  moveResourceState: false,
  generateResourceConfig: false,
};

/** The wire definition of the service, for hosts and tests. */
export const providerDefinition = fromTsProto(ProviderDefinition);

/** Runs `fn`, turning what it throws into diagnostics. */
async function guarded<T>(
  fn: (diags: Diagnostic[]) => Promise<T> | T,
  fallback: T,
): Promise<{ result: T; diagnostics: Diagnostic[] }> {
  const diagnostics: Diagnostic[] = [];
  try {
    return { result: await fn(diagnostics), diagnostics };
  } catch (err) {
    if (err instanceof DiagnosticsError) diagnostics.push(...err.diagnostics);
    else if (err instanceof ValueError) {
      diagnostics.push(
        errorDiagnostic(
          "Invalid value",
          err.message,
          err.path.length ? err.path.map(String) : undefined,
        ),
      );
    } else {
      diagnostics.push(
        errorDiagnostic(
          "Unexpected provider error",
          err instanceof Error ? err.message : String(err),
        ),
      );
    }
    return { result: fallback, diagnostics };
  }
}

function lookup<T>(
  table: { readonly [name: string]: T },
  typeName: string,
  kind: string,
): T {
  const found = Object.hasOwn(table, typeName) ? table[typeName] : undefined;
  if (!found) throw DiagnosticsError.of(`Unknown ${kind} type "${typeName}"`);
  return found;
}

function asObject(v: Value): ObjectValue | null {
  return v === null ? null : v as ObjectValue;
}

/**
 * Serves a provider as `tfplugin6.Provider`.
 *
 * @param spec The provider.
 * @returns The service, for `serve({ versions: { 6: [service] } })`.
 */
export function providerService<C>(spec: ProviderSpec<C>): ServiceImplementation {
  const providerType = objectType(spec.schema);
  let client: { value: C } | undefined;
  const stop = new AbortController();

  const info = (signal: AbortSignal): CallInfo<C> => {
    if (!client) {
      throw DiagnosticsError.of(
        "Provider not configured",
        "Terraform called the provider before ConfigureProvider; this is a bug in Terraform or the provider.",
      );
    }
    return { client: client.value, signal: AbortSignal.any([signal, stop.signal]) };
  };

  let schemaResponse: GetProviderSchema_Response | undefined;
  const schemas = (): GetProviderSchema_Response =>
    schemaResponse ??= {
      provider: schemaToProto(spec.schema),
      resourceSchemas: Object.fromEntries(
        Object.entries(spec.resources).map(([k, r]) => [k, schemaToProto(r.schema)]),
      ),
      dataSourceSchemas: Object.fromEntries(
        Object.entries(spec.dataSources).map(([k, d]) => [k, schemaToProto(d.schema)]),
      ),
      diagnostics: [],
      providerMeta: undefined,
      serverCapabilities: SERVER_CAPABILITIES,
    };

  const identityOf = (
    r: ResourceType<C>,
    state: ObjectValue | null,
  ): ResourceIdentityData | undefined => {
    if (!r.identity || state === null) return undefined;
    const id = r.identity.of(state);
    if (!isWhollyKnown(id)) return undefined;
    return { identityData: encodeDynamic(id, objectType(r.identity.schema)) };
  };

  const encodeState = (r: ResourceType<C>, state: ObjectValue | null): DynamicValue =>
    encodeDynamic(state, objectType(r.schema));

  return implement(providerDefinition, {
    getMetadata: () => ({
      serverCapabilities: SERVER_CAPABILITIES,
      diagnostics: [],
      dataSources: Object.keys(spec.dataSources).map((typeName) => ({ typeName })),
      resources: Object.keys(spec.resources).map((typeName) => ({ typeName })),
    }),

    getProviderSchema: () => schemas(),

    getResourceIdentitySchemas: () => ({
      identitySchemas: Object.fromEntries(
        Object.entries(spec.resources).flatMap(([k, r]) =>
          r.identity ? [[k, identitySchemaToProto(r.identity.schema)]] : []
        ),
      ),
      diagnostics: [],
    }),

    validateProviderConfig: async (req) => {
      const { diagnostics } = await guarded((diags) => {
        const config = decodeDynamic(req.config, providerType) as ObjectValue;
        diags.push(...spec.validate?.(config) ?? []);
      }, undefined);
      return { diagnostics };
    },

    validateResourceConfig: async (req) => {
      const { diagnostics } = await guarded((diags) => {
        const r = lookup(spec.resources, req.typeName, "resource");
        const config = decodeDynamic(req.config, objectType(r.schema)) as ObjectValue;
        diags.push(...r.validate?.(config) ?? []);
      }, undefined);
      return { diagnostics };
    },

    validateDataResourceConfig: async (req) => {
      const { diagnostics } = await guarded((diags) => {
        const d = lookup(spec.dataSources, req.typeName, "data source");
        const config = decodeDynamic(req.config, objectType(d.schema)) as ObjectValue;
        diags.push(...d.validate?.(config) ?? []);
      }, undefined);
      return { diagnostics };
    },

    upgradeResourceState: async (req) => {
      const { result, diagnostics } = await guarded(() => {
        const r = lookup(spec.resources, req.typeName, "resource");
        const raw = req.rawState;
        if (!raw || raw.json.length === 0) {
          if (raw && Object.keys(raw.flatmap).length > 0) {
            throw DiagnosticsError.of(
              "Unsupported state format",
              "This provider reads JSON state only, not the pre-0.12 flatmap format.",
            );
          }
          return encodeState(r, null);
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder().decode(raw.json));
        } catch (err) {
          throw DiagnosticsError.of("Stored state is not JSON", (err as Error).message);
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          throw DiagnosticsError.of("Stored state is not a JSON object");
        }
        const version = Number(req.version);
        const current = r.schema.version ?? 0;
        let shaped = parsed as Record<string, unknown>;
        if (version !== current) {
          if (version > current || !r.upgradeState) {
            throw DiagnosticsError.of(
              "Unsupported state version",
              `The stored state of ${req.typeName} has schema version ${version}; this provider ` +
                `reads version ${current}${r.upgradeState ? " and older" : ""}.`,
            );
          }
          shaped = r.upgradeState(version, shaped);
        }
        return encodeDynamic(conformLoose(objectType(r.schema), shaped), objectType(r.schema));
      }, undefined);
      return { upgradedState: result, diagnostics };
    },

    upgradeResourceIdentity: async (req) => {
      const { result, diagnostics } = await guarded(() => {
        const r = lookup(spec.resources, req.typeName, "resource");
        if (!r.identity) throw DiagnosticsError.of(`${req.typeName} has no identity`);
        const type = objectType(r.identity.schema);
        const json = req.rawIdentity?.json ?? new Uint8Array();
        if (Number(req.version) !== (r.identity.schema.version ?? 0)) {
          throw DiagnosticsError.of(
            "Unsupported identity version",
            `Identity version ${req.version} of ${req.typeName} is not one this provider knows.`,
          );
        }
        const parsed = json.length ? JSON.parse(new TextDecoder().decode(json)) : null;
        return { identityData: encodeDynamic(conformLoose(type, parsed), type) };
      }, undefined);
      return { upgradedIdentity: result, diagnostics };
    },

    configureProvider: async (req) => {
      const { diagnostics } = await guarded(async (diags) => {
        const config = decodeDynamic(req.config, providerType) as ObjectValue;
        diags.push(...spec.validate?.(config) ?? []);
        if (hasErrors(diags)) return;
        client = { value: await spec.configure(config, req.terraformVersion) };
      }, undefined);
      return { diagnostics };
    },

    readResource: async (req, call) => {
      let r: ResourceType<C> | undefined;
      const { result, diagnostics } = await guarded(async () => {
        r = lookup(spec.resources, req.typeName, "resource");
        const state = asObject(decodeDynamic(req.currentState, objectType(r.schema)));
        if (state === null) return null;
        const now = await r.read(state, info(call.signal));
        return now === null ? null : asObject(conform(objectType(r.schema), now));
      }, undefined as ObjectValue | null | undefined);
      // On an error, the state Terraform had stays as it was.
      if (!r || result === undefined) {
        return {
          newState: req.currentState,
          diagnostics,
          private: req.private,
          newIdentity: req.currentIdentity,
        };
      }
      return {
        newState: encodeState(r, result),
        diagnostics,
        private: req.private,
        newIdentity: identityOf(r, result),
      };
    },

    planResourceChange: async (req) => {
      let r: ResourceType<C> | undefined;
      const { result, diagnostics } = await guarded(() => {
        r = lookup(spec.resources, req.typeName, "resource");
        const type = objectType(r.schema);
        const prior = asObject(decodeDynamic(req.priorState, type));
        const proposed = asObject(decodeDynamic(req.proposedNewState, type));
        const config = asObject(decodeDynamic(req.config, type));
        if (proposed === null) return { planned: null, replace: [] as string[] };
        const planned: Record<string, Value> = { ...proposed };
        const attrs = Object.entries(r.schema.attributes);
        const replace: string[] = [];
        if (prior === null) {
          for (const [k, a] of attrs) if (a.computed && planned[k] === null) planned[k] = UNKNOWN;
        } else {
          for (const [k, a] of attrs) {
            if (a.requiresReplace && !valuesEqual(planned[k], prior[k])) replace.push(k);
          }
          const changed = attrs.some(([k]) => !valuesEqual(planned[k], prior[k]));
          if (changed) {
            for (const [k, a] of attrs) {
              const fromConfig = config !== null && config[k] !== null;
              if (a.computed && !fromConfig && (replace.length > 0 || !a.keepOnUpdate)) {
                planned[k] = UNKNOWN;
              }
            }
          }
        }
        return { planned: planned as ObjectValue, replace };
      }, undefined);
      return {
        plannedState: r && result ? encodeState(r, result.planned) : undefined,
        requiresReplace: (result?.replace ?? []).map((k) => attributePath(k)),
        plannedPrivate: req.priorPrivate,
        diagnostics,
        plannedIdentity: r && result?.planned ? identityOf(r, result.planned) : undefined,
      };
    },

    applyResourceChange: async (req, call) => {
      let r: ResourceType<C> | undefined;
      let prior: ObjectValue | null = null;
      const { result, diagnostics } = await guarded(async () => {
        r = lookup(spec.resources, req.typeName, "resource");
        const type = objectType(r.schema);
        prior = asObject(decodeDynamic(req.priorState, type));
        const planned = asObject(decodeDynamic(req.plannedState, type));
        const call6 = info(call.signal);
        let out: ObjectValue | null;
        if (planned === null) {
          if (prior !== null) await r.delete(prior, call6);
          out = null;
        } else if (prior === null) {
          out = await r.create(planned, call6);
        } else {
          out = await r.update(prior, planned, call6);
        }
        if (out !== null && !isWhollyKnown(out)) {
          throw DiagnosticsError.of(
            "Provider returned an unknown value after apply",
            `The ${req.typeName} code left a value unknown; every attribute must be known once applied.`,
          );
        }
        return out;
      }, undefined as ObjectValue | null | undefined);
      // On an error the object is as it was before (a failed create: none).
      const state = result !== undefined ? result : prior;
      return {
        newState: r ? encodeState(r, state) : undefined,
        private: new Uint8Array(),
        diagnostics,
        newIdentity: r ? identityOf(r, state) : undefined,
      };
    },

    importResourceState: async (req, call) => {
      const { result, diagnostics } = await guarded(async () => {
        const r = lookup(spec.resources, req.typeName, "resource");
        let id = req.id;
        if (id === "" && req.identity?.identityData && r.identity) {
          const identity = decodeDynamic(
            req.identity.identityData,
            objectType(r.identity.schema),
          ) as ObjectValue;
          id = r.identity.importId(identity);
        }
        const state = await r.importState(id, info(call.signal));
        return [{
          typeName: req.typeName,
          state: encodeState(r, state),
          private: new Uint8Array(),
          identity: identityOf(r, state),
        }];
      }, []);
      return { importedResources: result, diagnostics };
    },

    readDataSource: async (req, call) => {
      const { result, diagnostics } = await guarded(async () => {
        const d = lookup(spec.dataSources, req.typeName, "data source");
        const type = objectType(d.schema);
        const config = decodeDynamic(req.config, type) as ObjectValue;
        return encodeDynamic(await d.read(config, info(call.signal)), type);
      }, undefined);
      return { state: result, diagnostics };
    },

    getFunctions: () => ({ diagnostics: [] }),

    stopProvider: () => {
      stop.abort(new Error("Terraform asked the provider to stop"));
      return { Error: "" };
    },
  });
}
