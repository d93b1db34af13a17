/**
 * Terraform diagnostics: errors and warnings with an optional attribute path,
 * which Terraform turns into "on main.tf line N, in resource ...:" with the
 * attribute's line of configuration underlined.
 *
 * @module
 */

import {
  type AttributePath,
  type Diagnostic,
  Diagnostic_Severity,
} from "../gen/tfplugin6/tfplugin6_pb.ts";

/** One step of an attribute path: an attribute name, or a map key / list index. */
export type PathStep = string | { key: string } | { index: number };

/**
 * The wire form of an attribute path.
 *
 * @param steps Attribute names (strings), map keys (`{ key }`), list indexes (`{ index }`).
 * @returns The path.
 */
export function attributePath(...steps: PathStep[]): AttributePath {
  return {
    steps: steps.map((s) =>
      typeof s === "string"
        ? { attributeName: s }
        : "key" in s
        ? { elementKeyString: s.key }
        : { elementKeyInt: BigInt(s.index) }
    ),
  };
}

/**
 * An error diagnostic.
 *
 * @param summary One line.
 * @param detail More, or "".
 * @param path The attribute it is about, if any.
 * @returns The diagnostic.
 */
export function errorDiagnostic(summary: string, detail = "", path?: PathStep[]): Diagnostic {
  return {
    severity: Diagnostic_Severity.ERROR,
    summary,
    detail,
    attribute: path ? attributePath(...path) : undefined,
  };
}

/**
 * A warning diagnostic.
 *
 * @param summary One line.
 * @param detail More, or "".
 * @param path The attribute it is about, if any.
 * @returns The diagnostic.
 */
export function warningDiagnostic(summary: string, detail = "", path?: PathStep[]): Diagnostic {
  return { ...errorDiagnostic(summary, detail, path), severity: Diagnostic_Severity.WARNING };
}

/**
 * Thrown by a provider's code to end the call with these diagnostics (the
 * layer answers the RPC with them instead of a gRPC error, as Terraform
 * expects).
 */
export class DiagnosticsError extends Error {
  /** What Terraform is told. */
  readonly diagnostics: readonly Diagnostic[];

  /** @param diagnostics At least one error. */
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map((d) => d.summary).join("; "));
    this.name = "DiagnosticsError";
    this.diagnostics = diagnostics;
  }

  /**
   * One error diagnostic, as an exception.
   *
   * @param summary One line.
   * @param detail More, or "".
   * @param path The attribute it is about, if any.
   * @returns The error, to throw.
   */
  static of(summary: string, detail = "", path?: PathStep[]): DiagnosticsError {
    return new DiagnosticsError([errorDiagnostic(summary, detail, path)]);
  }
}

/** Whether a list holds an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === Diagnostic_Severity.ERROR);
}
