/**
 * Checking a plugin executable against its expected SHA-256 before running
 * it (go-plugin's `SecureConfig`).
 *
 * @module
 */

import { explainPermission } from "../errors.ts";
import { ChecksumError, ExecutableNotFoundError } from "./errors.ts";

/** Length of a SHA-256 digest in bytes. */
const SHA256_BYTES = 32;

function expectedDigest(path: string, expected: Uint8Array | string): Uint8Array {
  if (expected.length === 0) throw new ChecksumError("missing", path);
  if (typeof expected !== "string") {
    if (expected.length !== SHA256_BYTES) {
      throw new ChecksumError("invalid", path, `${expected.length} bytes`);
    }
    return expected;
  }
  const hex = expected.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    const shown = hex.length > 80 ? `${hex.slice(0, 80)}…` : hex;
    throw new ChecksumError("invalid", path, `got ${JSON.stringify(shown)}`);
  }
  return Uint8Array.fromHex(hex);
}

/** Compares two equally long byte arrays in time independent of where they differ. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Verifies that the file at `path` has the expected SHA-256. The whole file is
 * read into memory and hashed with WebCrypto; the digests are compared in
 * constant time.
 *
 * As in go-plugin, the file is checked before it is run, not while: someone
 * who can replace it between the check and the start wins the race. Keep
 * plugins in a directory only trusted users can write to.
 *
 * Requires `--allow-read` for `path`.
 *
 * @example Refuse a plugin that changed
 * ```ts
 * import { verifyChecksum } from "./checksum.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "");
 * const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
 * await verifyChecksum(path, empty);
 * await Deno.remove(path);
 * ```
 *
 * @param path The plugin executable.
 * @param expectedSha256 The expected digest: 32 bytes, or 64 hex characters (either case).
 * @throws {ChecksumError} When the digests differ (`mismatch`), none was
 * given (`missing`) or it is not a SHA-256 (`invalid`).
 * @throws {ExecutableNotFoundError} When the file does not exist.
 * @throws {PermissionError} When Deno refuses to read it.
 */
export async function verifyChecksum(
  path: string,
  expectedSha256: Uint8Array | string,
): Promise<void> {
  const expected = expectedDigest(path, expectedSha256);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ExecutableNotFoundError(path, { cause: err });
    }
    throw explainPermission(
      err,
      `reading the plugin executable "${path}" to verify its checksum`,
      "the host",
    );
  }
  const actual = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  if (!sameBytes(actual, expected)) {
    throw new ChecksumError("mismatch", path, expected.toHex(), actual.toHex());
  }
}
