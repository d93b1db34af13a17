/**
 * Helpers shared by the yamux tests: test data, reading a stream to its
 * end, echoing, and asserting a rejection.
 *
 * @module
 */

/** Bytes `i % 251` (the Go peer's pattern too). */
export function pattern(n: number, offset = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i + offset) % 251;
  return b;
}

/** Whether `got` is the pattern of its length. */
export function isPattern(got: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < got.length; i++) if (got[i] !== (i + offset) % 251) return false;
  return true;
}

/** What the source yields until EOF. */
export async function readAll(
  s: { read(b: Uint8Array): Promise<number | null> },
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  for (let n; (n = await s.read(buf)) !== null;) {
    parts.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Counts bytes until EOF, checking they are the pattern: every byte, or
 * (`sampled`, for throughput runs) every 4096th.
 */
export async function drainPattern(
  s: { read(b: Uint8Array): Promise<number | null> },
  sampled = false,
): Promise<{ bytes: number; ok: boolean }> {
  const buf = new Uint8Array(256 * 1024);
  let bytes = 0, ok = true;
  for (let n; (n = await s.read(buf)) !== null;) {
    if (sampled) {
      for (let i = (4096 - (bytes % 4096)) % 4096; i < n; i += 4096) {
        if (buf[i] !== (bytes + i) % 251) ok = false;
      }
    } else if (ok && !isPattern(buf.subarray(0, n), bytes)) ok = false;
    bytes += n;
  }
  return { bytes, ok };
}

/** Echoes a stream until EOF, then half-closes it. */
export async function echo(s: {
  read(b: Uint8Array): Promise<number | null>;
  write(b: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
}): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  for (let n; (n = await s.read(buf)) !== null;) await s.write(buf.subarray(0, n));
  await s.closeWrite();
}

/** Asserts `p` rejects with an instance of `type` whose message matches `pattern`; returns the error. */
export async function assertRejects<E extends Error>(
  p: Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => E,
  pattern?: RegExp,
): Promise<E> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof type)) throw new Error(`expected ${type.name}, got ${err}`);
    if (pattern && !pattern.test(err.message)) {
      throw new Error(`message ${JSON.stringify(err.message)} does not match ${pattern}`);
    }
    return err;
  }
  throw new Error(`expected a rejection with ${type.name}`);
}

/** The text of bytes. */
export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** The bytes of text. */
export function bytesOf(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/**
 * Keeps the event loop alive while in scope: the library's timers do not
 * (over a real socket its pending read does), and the in-memory pipe holds
 * no op.
 */
export function loopAlive(): Disposable {
  const id = setInterval(() => {}, 60_000);
  return { [Symbol.dispose]: () => clearInterval(id) };
}
