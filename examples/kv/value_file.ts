/**
 * How the KV example reads and writes its value files, at the cost each
 * size calls for. `Deno.readFileSync` is one op, the cheapest for a small
 * file, but it reads into memory the runtime maps afresh for every call: a
 * 1 MiB file took 0.36-0.44 ms against 0.13-0.15 ms read into a
 * `Uint8Array` of its size (bench/README.md, "Bulk transfers with AutoMTLS",
 * third round), while for a 27-byte file the four ops of the second way
 * (open, fstat, read, close) cost 22 µs against 13 µs. So a large value is
 * read the second way; which values are large is known from their `Put`
 * (a hint: a key this process did not write is read the first way, which
 * is never wrong, only slower).
 *
 * @module
 */

/** Values of at least this many bytes are read into a buffer of their size, and written in pieces. */
export const LARGE_VALUE_BYTES: number = 64 << 10;
/** How many large keys are remembered; the set starts over when full (a hint, bounded). */
const HINTS = 1024;
const largeKeys = new Set<string>();

/**
 * Reads a whole file, as `Deno.readFileSync` does.
 *
 * @example
 * ```ts ignore
 * const bytes = readValue("kv_hello");
 * ```
 * @param path The file.
 * @returns Its bytes (a buffer of its own).
 * @throws {Deno.errors.NotFound} When there is no such file.
 */
export function readValue(path: string): Uint8Array {
  if (!largeKeys.has(path)) return Deno.readFileSync(path);
  using file = Deno.openSync(path);
  const size = file.statSync().size;
  const bytes = new Uint8Array(size);
  let at = 0;
  while (at < size) {
    const n = file.readSync(bytes.subarray(at));
    if (n === null) break;
    at += n;
  }
  // The example's files change only through writeValue, on this thread:
  // what fstat gave is the file.
  return at === size ? bytes : bytes.subarray(0, at);
}

/**
 * Writes `value` then `suffix` as the whole file: a large value as it is
 * (no joined copy), a small one joined and written in one op.
 *
 * @example
 * ```ts ignore
 * writeValue("kv_hello", new TextEncoder().encode("world"), new Uint8Array(0));
 * ```
 * @param path The file (created or truncated).
 * @param value The value.
 * @param suffix Bytes after it.
 */
export function writeValue(path: string, value: Uint8Array, suffix: Uint8Array): void {
  if (value.length < LARGE_VALUE_BYTES) {
    largeKeys.delete(path);
    const data = new Uint8Array(value.length + suffix.length);
    data.set(value);
    data.set(suffix, value.length);
    Deno.writeFileSync(path, data);
    return;
  }
  using file = Deno.openSync(path, { write: true, create: true, truncate: true });
  for (const part of [value, suffix]) {
    for (let at = 0; at < part.length;) at += file.writeSync(at ? part.subarray(at) : part);
  }
  if (largeKeys.size >= HINTS) largeKeys.clear();
  largeKeys.add(path);
}
