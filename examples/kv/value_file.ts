/**
 * How the KV example writes its value files. A `Put` stores the value and
 * a suffix: joining them costs a copy of the value into memory the runtime
 * maps afresh (about 0.6 ms of CPU for 1 MiB under go-plugin's host,
 * bench/README.md, "Bulk transfers with AutoMTLS", third round), so a large
 * value is written as it is, then the suffix; a small one is joined and
 * written in one op, which costs less than the three ops of the other way.
 *
 * @module
 */

/** Values of at least this many bytes are written in pieces rather than joined. */
export const LARGE_VALUE_BYTES: number = 64 << 10;

/**
 * Writes `value` then `suffix` as the whole file (created or truncated),
 * as `Deno.writeFileSync` of the two joined would.
 *
 * @example
 * ```ts ignore
 * writeValue("kv_hello", new TextEncoder().encode("world"), new TextEncoder().encode("\n"));
 * ```
 * @param path The file.
 * @param value The value.
 * @param suffix Bytes after it.
 */
export function writeValue(path: string, value: Uint8Array, suffix: Uint8Array): void {
  if (value.length < LARGE_VALUE_BYTES) {
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
}
