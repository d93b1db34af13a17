/** Tests of `host/checksum.ts`: verifying a plugin executable's SHA-256. */

import { verifyChecksum } from "../../host/checksum.ts";
import { ChecksumError, ExecutableNotFoundError, LaunchError } from "../../host/errors.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { withTempDir } from "../_util/host.ts";

/** sha256("plugin binary\n") */
const DIGEST = "1f4b8ad2d54c4a3ed83c7bf0e2b0fc0d7fb1b1e3b5ff5bb1a5b6a1e1e44f1c8b";

async function digestOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

function withPlugin(fn: (path: string, hex: string) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const bytes = new TextEncoder().encode("plugin binary\n");
    const path = `${dir}/plugin`;
    await Deno.writeFile(path, bytes);
    await fn(path, await digestOf(bytes));
  });
}

Deno.test("verifyChecksum() accepts the right digest as hex (either case) or bytes", () =>
  withPlugin(async (path, hex) => {
    assert(hex !== DIGEST, "the test digest constant must be a wrong one");
    await verifyChecksum(path, hex);
    await verifyChecksum(path, hex.toUpperCase());
    await verifyChecksum(path, Uint8Array.fromHex(hex));
  }));

Deno.test("verifyChecksum() rejects another digest with go-plugin's text and both digests", () =>
  withPlugin(async (path, hex) => {
    const err = await rejection(verifyChecksum(path, DIGEST));
    assert(err instanceof ChecksumError && err instanceof LaunchError, String(err));
    assertEquals(err.reason, "mismatch");
    assertEquals([err.expected, err.actual], [DIGEST, hex]);
    assert(/^Checksums did not match for plugin ".*plugin"/.test(err.message), err.message);
    assert(err.message.includes(DIGEST) && err.message.includes(hex), err.message);
  }));

Deno.test("verifyChecksum() rejects a missing or malformed expected digest before reading", async () => {
  const cases: [Uint8Array | string, string, RegExp][] = [
    ["", "missing", /^No checksum provided for plugin/],
    [new Uint8Array(0), "missing", /^No checksum provided/],
    ["abc", "invalid", /is not a SHA-256 \(got "abc"\)/],
    ["z".repeat(64), "invalid", /is not a SHA-256/],
    [new Uint8Array(20), "invalid", /is not a SHA-256 \(20 bytes\)/],
  ];
  for (const [expected, reason, pattern] of cases) {
    const err = await rejection(verifyChecksum("/nonexistent/plugin", expected));
    assert(err instanceof ChecksumError, String(err));
    assertEquals(err.reason, reason);
    assert(pattern.test(err.message), err.message);
  }
});

Deno.test("verifyChecksum() reports a missing executable", async () => {
  const err = await rejection(verifyChecksum("/nonexistent/plugin", DIGEST));
  assert(err instanceof ExecutableNotFoundError, String(err));
  assert(err.message.includes('"/nonexistent/plugin"'), err.message);
});
