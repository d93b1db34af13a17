/**
 * Terraform's values on the wire: cty types in their JSON form (the schema's
 * `type` bytes) and values in a `DynamicValue`, msgpack (what Terraform and
 * OpenTofu send and expect) or JSON (stored state, `RawState.json`).
 *
 * The value model is plain JavaScript: `null`, strings, numbers, booleans,
 * arrays (lists, sets, tuples), plain objects (objects, maps), and
 * {@linkcode UNKNOWN} for a value not known until apply. In msgpack an unknown
 * value is extension type 0 (and, from Terraform 1.6 on, extension type 12 for
 * an unknown carrying refinements, which this layer reads as plain unknown).
 * The `dynamic` type (a value with its type attached) is not supported.
 *
 * @module
 */

// The package's ES module build, named: @msgpack/msgpack has no "exports", so Deno takes its
// "main", the CommonJS build, whose loading boots Deno's Node layer (~20 ms on every launch
// from source; bench/README.md, "Start-up", eighth round).
import { decode, encode, ExtensionCodec } from "@msgpack/msgpack/dist.esm/index.mjs";
import type { DynamicValue } from "../gen/tfplugin6/tfplugin6_pb.ts";

/** A cty type: a primitive name, or a collection / structural type in cty's JSON form. */
export type CtyType =
  | "string"
  | "number"
  | "bool"
  | readonly ["list" | "set" | "map", CtyType]
  | readonly ["object", { readonly [name: string]: CtyType }]
  | readonly ["tuple", readonly CtyType[]];

/** The one unknown value ("known after apply"). Compare with `===`. */
export const UNKNOWN: unique symbol = Symbol("unknown");

/** The type of {@linkcode UNKNOWN}. */
export type Unknown = typeof UNKNOWN;

/** A Terraform value, as this layer represents it. */
export type Value =
  | null
  | string
  | number
  | boolean
  | Unknown
  | readonly Value[]
  | { readonly [key: string]: Value };

/** An object value (a resource's state, a configuration). */
export type ObjectValue = { readonly [attribute: string]: Value };

/** A value did not match its type, or could not be decoded. */
export class ValueError extends Error {
  /** The attribute path where it went wrong, outermost first. */
  readonly path: readonly (string | number)[];

  /**
   * @param message What is wrong.
   * @param path Where.
   */
  constructor(message: string, path: readonly (string | number)[] = []) {
    super(path.length ? `${message} (at ${path.join(".")})` : message);
    this.name = "ValueError";
    this.path = path;
  }
}

/** Extension type of an unknown value in cty's msgpack. */
const MSGPACK_UNKNOWN = 0;
/** Extension type of an unknown value with refinements (cty 1.13+). */
const MSGPACK_REFINED_UNKNOWN = 12;

const codec = new ExtensionCodec();
codec.register({
  type: MSGPACK_UNKNOWN,
  // fixext 1 with a zero byte: the form cty itself writes.
  encode: (input: unknown) => (input === UNKNOWN ? new Uint8Array([0]) : null),
  decode: () => UNKNOWN,
});
codec.register({
  type: MSGPACK_REFINED_UNKNOWN,
  encode: () => null,
  decode: () => UNKNOWN,
});

/**
 * The JSON bytes of a type, for `Schema.Attribute.type`.
 *
 * @param type The type.
 * @returns UTF-8 JSON, e.g. `"string"` or `["list","number"]`.
 */
export function typeJson(type: CtyType): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(type));
}

/** Whether a value is wholly known (no {@linkcode UNKNOWN} anywhere in it). */
export function isWhollyKnown(value: Value): boolean {
  if (value === UNKNOWN) return false;
  if (value === null || typeof value !== "object") return true;
  return Object.values(value).every(isWhollyKnown);
}

/**
 * Deep equality of two values of one type (lists, tuples and sets compared in
 * order; an unknown equals only another unknown).
 */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, Value>;
  const rb = b as Record<string, Value>;
  return ka.every((k) => k in rb && valuesEqual(ra[k], rb[k]));
}

/**
 * Checks a value against a type and returns it in the canonical shape: every
 * attribute of an object present (missing ones become null, unexpected ones
 * are an error), numbers as numbers.
 *
 * @param type The type.
 * @param value The value (from msgpack, JSON, or a provider's code).
 * @param path Where this value is, for error messages.
 * @returns The value.
 * @throws {ValueError} When it does not fit the type.
 */
export function conform(type: CtyType, value: unknown, path: (string | number)[] = []): Value {
  if (value === null || value === undefined) return null;
  if (value === UNKNOWN) return UNKNOWN;
  if (typeof type === "string") {
    switch (type) {
      case "string":
        if (typeof value === "string") return value;
        break;
      case "number":
        if (typeof value === "number") return value;
        if (typeof value === "bigint") return Number(value);
        // cty writes numbers beyond float64's exact range as strings.
        if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
          return Number(value);
        }
        break;
      case "bool":
        if (typeof value === "boolean") return value;
        break;
    }
    throw new ValueError(`Expected a ${type}, got ${describe(value)}`, path);
  }
  const [kind, inner] = type;
  switch (kind) {
    case "list":
    case "set": {
      if (!Array.isArray(value)) {
        throw new ValueError(`Expected a ${kind}, got ${describe(value)}`, path);
      }
      return value.map((v, i) => conform(inner as CtyType, v, [...path, i]));
    }
    case "tuple": {
      const types = inner as readonly CtyType[];
      if (!Array.isArray(value) || value.length !== types.length) {
        throw new ValueError(`Expected a tuple of ${types.length}, got ${describe(value)}`, path);
      }
      return value.map((v, i) => conform(types[i], v, [...path, i]));
    }
    case "map": {
      if (!isRecord(value)) throw new ValueError(`Expected a map, got ${describe(value)}`, path);
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, conform(inner as CtyType, v, [...path, k])]),
      );
    }
    case "object": {
      if (!isRecord(value)) {
        throw new ValueError(`Expected an object, got ${describe(value)}`, path);
      }
      const attrs = inner as { readonly [name: string]: CtyType };
      for (const k of Object.keys(value)) {
        if (!(k in attrs)) throw new ValueError(`Unexpected attribute "${k}"`, path);
      }
      return Object.fromEntries(
        Object.entries(attrs).map(([k, t]) => [k, conform(t, value[k], [...path, k])]),
      );
    }
  }
}

/**
 * Like {@linkcode conform} for an object type, but drops attributes the type
 * does not have: what a state upgrade does with attributes an older schema
 * had.
 */
export function conformLoose(
  type: readonly ["object", { readonly [name: string]: CtyType }],
  value: unknown,
): Value {
  if (!isRecord(value)) return conform(type, value);
  const kept = Object.fromEntries(Object.entries(value).filter(([k]) => k in type[1]));
  return conform(type, kept);
}

/**
 * Decodes a `DynamicValue` (msgpack if present, else JSON) as a value of `type`.
 *
 * @param dv The wire value; absent or empty means null.
 * @param type Its type.
 * @returns The value.
 * @throws {ValueError} When it cannot be decoded or does not fit the type.
 */
export function decodeDynamic(dv: DynamicValue | undefined, type: CtyType): Value {
  if (!dv) return null;
  if (dv.msgpack.length > 0) {
    let raw: unknown;
    try {
      raw = decode(dv.msgpack, { extensionCodec: codec });
    } catch (err) {
      throw new ValueError(`Bad msgpack in DynamicValue: ${(err as Error).message}`);
    }
    return conform(type, raw);
  }
  if (dv.json.length > 0) return decodeJson(dv.json, type);
  return null;
}

/**
 * Decodes JSON bytes (stored state) as a value of `type`.
 *
 * @param bytes UTF-8 JSON.
 * @param type Its type.
 * @returns The value.
 * @throws {ValueError} When it is not JSON or does not fit the type.
 */
export function decodeJson(bytes: Uint8Array, type: CtyType): Value {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ValueError(`Bad JSON: ${(err as Error).message}`);
  }
  return conform(type, raw);
}

/**
 * Encodes a value of `type` as a msgpack `DynamicValue`, unknowns as
 * extension type 0.
 *
 * @param value The value; it is conformed to the type first.
 * @param type Its type.
 * @returns The wire value.
 * @throws {ValueError} When the value does not fit the type.
 */
export function encodeDynamic(value: Value, type: CtyType): DynamicValue {
  return {
    msgpack: encode(conform(type, value), { extensionCodec: codec }),
    json: new Uint8Array(),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v instanceof Uint8Array) return "bytes";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}
