/**
 * Schemas as a provider writes them (attributes by name, with their cty type
 * and role) and their wire form (`tfplugin6.Schema`), plus the identity
 * schema of a managed resource.
 *
 * @module
 */

import {
  type ResourceIdentitySchema,
  type Schema,
  type Schema_Attribute,
  StringKind,
} from "../gen/tfplugin6/tfplugin6_pb.ts";
import { type CtyType, typeJson } from "./values.ts";

/** One attribute of a block. Exactly one of `required`, `optional`, `computed` (or `optional` with `computed`). */
export interface AttributeSchema {
  /** Its type. */
  readonly type: CtyType;
  /** Markdown description. */
  readonly description?: string;
  /** Must be set in configuration. */
  readonly required?: boolean;
  /** May be set in configuration. */
  readonly optional?: boolean;
  /** Set by the provider (with `optional`: when the configuration leaves it out). */
  readonly computed?: boolean;
  /** Hidden in plans and output. */
  readonly sensitive?: boolean;
  /** Managed resources: a change to it replaces the object instead of updating it. */
  readonly requiresReplace?: boolean;
  /**
   * Managed resources, computed attributes: keeps its prior value when the
   * object is updated in place (otherwise it is unknown, "known after
   * apply", in every plan that changes the object).
   */
  readonly keepOnUpdate?: boolean;
}

/** A block's schema: its attributes by name (nested blocks are not supported by this layer). */
export interface BlockSchema {
  /** Version of the stored state's shape, for UpgradeResourceState (managed resources). */
  readonly version?: number;
  /** Markdown description. */
  readonly description?: string;
  /** The attributes. */
  readonly attributes: { readonly [name: string]: AttributeSchema };
}

/** The identity of a managed resource (Terraform 1.12+, OpenTofu 1.12+): what names one object. */
export interface IdentitySchema {
  /** Version of the identity's shape. */
  readonly version?: number;
  /** The identity attributes. */
  readonly attributes: {
    readonly [name: string]: {
      readonly type: CtyType;
      readonly description?: string;
      /** Needed for an identity-based import. */
      readonly requiredForImport?: boolean;
    };
  };
}

/** The object type of a block. */
export type ObjectType = readonly ["object", { readonly [name: string]: CtyType }];

/**
 * The cty object type of a block's values.
 *
 * @param block The block.
 * @returns `["object", { name: type, ... }]`.
 */
export function objectType(block: BlockSchema | IdentitySchema): ObjectType {
  return [
    "object",
    Object.fromEntries(Object.entries(block.attributes).map(([k, a]) => [k, a.type])),
  ];
}

/**
 * The wire form of a block's schema.
 *
 * @param block The block.
 * @returns `tfplugin6.Schema`.
 */
export function schemaToProto(block: BlockSchema): Schema {
  const version = BigInt(block.version ?? 0);
  return {
    version,
    block: {
      version,
      attributes: Object.entries(block.attributes)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, a]): Schema_Attribute => ({
          name,
          type: typeJson(a.type),
          description: a.description ?? "",
          required: a.required ?? false,
          optional: a.optional ?? false,
          computed: a.computed ?? false,
          sensitive: a.sensitive ?? false,
          descriptionKind: StringKind.MARKDOWN,
          deprecated: false,
          writeOnly: false,
        })),
      blockTypes: [],
      description: block.description ?? "",
      descriptionKind: StringKind.MARKDOWN,
      deprecated: false,
    },
  };
}

/**
 * The wire form of an identity schema.
 *
 * @param identity The identity.
 * @returns `tfplugin6.ResourceIdentitySchema`.
 */
export function identitySchemaToProto(identity: IdentitySchema): ResourceIdentitySchema {
  return {
    version: BigInt(identity.version ?? 0),
    identityAttributes: Object.entries(identity.attributes).map(([name, a]) => ({
      name,
      type: typeJson(a.type),
      requiredForImport: a.requiredForImport ?? false,
      optionalForImport: !(a.requiredForImport ?? false),
      description: a.description ?? "",
    })),
  };
}
