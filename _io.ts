/**
 * Private: writing a whole text synchronously to stdout or stderr (a single
 * `writeSync` may write only part of it).
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Writes all of `text` to `file`.
 *
 * @param file `Deno.stdout` or `Deno.stderr`.
 * @param text What to write.
 */
export function writeAllSync(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}
