/**
 * Helpers for the certificate tests: small assertions (JSR's @std/assert is
 * not reachable here), a temporary directory, a command runner, and one
 * generated certificate per key type shared by all tests of a run (RSA 3072
 * and 4096 keys take seconds each to make).
 *
 * @module
 */

import { generateCertificate, type GeneratedCertificate, type KeyType } from "../../tls/cert.ts";

export { assert, assertEquals, run, withTempDir } from "../_util/host.ts";
export type { HostRun as RunResult } from "../_util/host.ts";

/** Asserts that `text` contains every one of `parts`. */
export function assertIncludes(text: string, parts: string[], message = ""): void {
  for (const part of parts) {
    if (!text.includes(part)) {
      throw new Error(`${message}\nmissing: ${JSON.stringify(part)}\nin:\n${text}`);
    }
  }
}

/**
 * Asserts that `fn` throws (or rejects with) an instance of `ErrorClass` and
 * returns the error for further checks.
 */
export async function assertRejects<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  messageIncludes?: string,
): Promise<E> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (!(error instanceof ErrorClass)) {
    throw new Error(`expected ${ErrorClass.name}, got ${error === undefined ? "no error" : error}`);
  }
  if (messageIncludes !== undefined && !error.message.includes(messageIncludes)) {
    throw new Error(
      `expected message to include ${JSON.stringify(messageIncludes)}: ${error.message}`,
    );
  }
  return error;
}

/** Whether `command` can be started (checked once, synchronously). */
export function hasCommand(command: string, versionArgs: string[]): boolean {
  try {
    new Deno.Command(command, { args: versionArgs, stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch {
    return false;
  }
}

const defaults = new Map<KeyType, Promise<GeneratedCertificate>>();

/**
 * A certificate with default options for `keyType`, made once per test run.
 * Treat it as read-only.
 */
export function defaultCertificate(keyType: KeyType): Promise<GeneratedCertificate> {
  let cert = defaults.get(keyType);
  if (cert === undefined) {
    cert = generateCertificate({ keyType });
    defaults.set(keyType, cert);
  }
  return cert;
}
