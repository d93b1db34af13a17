/**
 * Reads whole files by path, fresh on every read, keeping the last few open.
 *
 * Why: under `--allow-read=<dirs>` (how a plugin should run), Deno checks
 * every `open` by resolving the path's symbolic links, one `readlink` per
 * component of the absolute path, before it opens the file: in the KV
 * example under go-plugin's host that check was 9 µs of the 25 µs of CPU a
 * `Get` cost. A `Deno.lstatSync` is checked without that resolution (it
 * does not follow the last link), and reading an open file is not checked
 * at all. So each read here makes sure the path still names the file held
 * open (`lstat`: same device and inode), then reads it from its start;
 * only a path not held, or one that now names another file, is opened
 * again, with Deno's full check. What a read returns is what the file holds
 * at that moment, as with `Deno.readFileSync(path)`: a file written in
 * place, replaced, removed or turned into a link reads as such.
 *
 * @module
 */

/** A file held open, and which file it is. */
interface Held {
  file: Deno.FsFile;
  dev: number;
  ino: number;
}

/** Bytes read at once into the shared buffer; a larger file gets a buffer of its size. */
const SCRATCH_BYTES = 16 << 10;

/**
 * Whole-file reads by path with up to `limit` files held open (the oldest
 * closed first).
 *
 * @example
 * ```ts ignore
 * const files = new OpenFiles(64);
 * const bytes = files.read("/tmp/kv/kv_hello"); // throws Deno.errors.NotFound if absent
 * files.close();
 * ```
 */
export class OpenFiles {
  readonly #held = new Map<string, Held>();
  readonly #scratch = new Uint8Array(SCRATCH_BYTES);

  /** @param limit Most files held open at once. */
  constructor(readonly limit: number) {}

  /** Files held open now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * The bytes of the file at `path` now (a copy: the caller owns it).
   *
   * @param path Absolute, so that Deno's checks need not resolve it.
   * @returns The file's contents.
   * @throws {Deno.errors.NotFound} when nothing is there; what Deno throws for other failures.
   */
  read(path: string): Uint8Array {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (err) {
      this.#drop(path);
      throw err;
    }
    let held = this.#held.get(path);
    if (held && (held.ino !== info.ino || held.dev !== info.dev)) {
      this.#drop(path);
      held = undefined;
    }
    if (!held) {
      // A link, a directory, a device: Deno's own read, which follows and checks it.
      if (!info.isFile) return Deno.readFileSync(path);
      const file = Deno.openSync(path);
      const opened = file.statSync();
      if (opened.ino !== info.ino || opened.dev !== info.dev) {
        // Replaced between the lstat and the open: read what was opened.
        try {
          return this.#readAll(file);
        } finally {
          file.close();
        }
      }
      if (this.#held.size >= this.limit) this.#drop(this.#held.keys().next().value!);
      held = { file, dev: opened.dev, ino: opened.ino! };
      this.#held.set(path, held);
    }
    try {
      held.file.seekSync(0, Deno.SeekMode.Start);
      return this.#readAll(held.file);
    } catch (err) {
      this.#drop(path);
      throw err;
    }
  }

  /** Closes every file held open. */
  close(): void {
    for (const path of [...this.#held.keys()]) this.#drop(path);
  }

  #drop(path: string): void {
    const held = this.#held.get(path);
    if (!held) return;
    this.#held.delete(path);
    held.file.close();
  }

  /** Reads `file` from where it is to its end. */
  #readAll(file: Deno.FsFile): Uint8Array {
    const scratch = this.#scratch;
    let got = 0;
    while (got < scratch.length) {
      const n = file.readSync(scratch.subarray(got));
      if (!n) return scratch.slice(0, got);
      got += n;
    }
    // Larger than the shared buffer: one of the file's size (plus a byte, to see the end).
    let out = new Uint8Array(Math.max(file.statSync().size + 1, 2 * got));
    out.set(scratch);
    for (;;) {
      if (got === out.length) {
        const grown = new Uint8Array(2 * out.length);
        grown.set(out);
        out = grown;
      }
      const n = file.readSync(out.subarray(got));
      if (!n) return out.subarray(0, got);
      got += n;
    }
  }
}
