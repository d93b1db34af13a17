/**
 * The KV example's file reads with files held open (`examples/kv/open_files.ts`):
 * every read returns what the path names now, whatever happened to the file
 * since the last one, and no more files stay open than the limit.
 */

import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { OpenFiles } from "../../examples/kv/open_files.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

async function withDir(fn: (dir: string, files: OpenFiles) => void | Promise<void>, limit = 4) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "rpcplugin-open-files-" }));
  const files = new OpenFiles(limit);
  try {
    await fn(dir, files);
  } finally {
    files.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("open files: a file written in place reads as it is now", () =>
  withDir((dir, files) => {
    const path = `${dir}/kv_a`;
    Deno.writeTextFileSync(path, "first value");
    assertEquals(text(files.read(path)), "first value");
    assertEquals(files.size, 1);
    Deno.writeTextFileSync(path, "second");
    assertEquals(text(files.read(path)), "second");
    Deno.writeTextFileSync(path, "a third, longer value");
    assertEquals(text(files.read(path)), "a third, longer value");
    assertEquals(files.size, 1);
  }));

Deno.test("open files: a file replaced by a rename reads as the new file", () =>
  withDir((dir, files) => {
    const path = `${dir}/kv_b`;
    Deno.writeTextFileSync(path, "old file");
    assertEquals(text(files.read(path)), "old file");
    Deno.writeTextFileSync(`${dir}/next`, "new file");
    Deno.renameSync(`${dir}/next`, path);
    assertEquals(text(files.read(path)), "new file");
  }));

Deno.test("open files: a removed file is not found, and is let go", () =>
  withDir((dir, files) => {
    const path = `${dir}/kv_c`;
    Deno.writeTextFileSync(path, "here");
    assertEquals(text(files.read(path)), "here");
    Deno.removeSync(path);
    assertThrows(() => files.read(path), Deno.errors.NotFound);
    assertEquals(files.size, 0);
    Deno.writeTextFileSync(path, "back");
    assertEquals(text(files.read(path)), "back");
  }));

Deno.test("open files: a path turned into a link reads the link's target", () =>
  withDir((dir, files) => {
    const path = `${dir}/kv_d`;
    Deno.writeTextFileSync(path, "plain file");
    assertEquals(text(files.read(path)), "plain file");
    Deno.writeTextFileSync(`${dir}/target`, "through the link");
    Deno.removeSync(path);
    Deno.symlinkSync(`${dir}/target`, path);
    assertEquals(text(files.read(path)), "through the link");
    assertEquals(files.size, 0);
  }));

Deno.test("open files: a file larger than the shared buffer reads whole", () =>
  withDir((dir, files) => {
    const path = `${dir}/kv_big`;
    const big = new Uint8Array((1 << 20) + 7).map((_, i) => i * 31);
    Deno.writeFileSync(path, big);
    assert(sameBytes(files.read(path), big), "first read");
    assert(sameBytes(files.read(path), big), "second read");
    Deno.writeFileSync(path, big.subarray(0, 100));
    assert(sameBytes(files.read(path), big.subarray(0, 100)), "after shrinking");
  }));

Deno.test("open files: no more files open than the limit, the oldest closed first", () =>
  withDir((dir, files) => {
    for (let i = 0; i < 10; i++) Deno.writeTextFileSync(`${dir}/kv_${i}`, `value ${i}`);
    for (let i = 0; i < 10; i++) {
      assertEquals(text(files.read(`${dir}/kv_${i}`)), `value ${i}`);
      assertEquals(files.size, Math.min(i + 1, 3));
    }
    // The oldest went: reading them again still works (opened anew).
    assertEquals(text(files.read(`${dir}/kv_0`)), "value 0");
    assertEquals(files.size, 3);
  }, 3));

Deno.test("open files: what a read returns is the caller's, not a shared buffer", () =>
  withDir((dir, files) => {
    Deno.writeTextFileSync(`${dir}/kv_x`, "xxxx");
    Deno.writeTextFileSync(`${dir}/kv_y`, "yy");
    const x = files.read(`${dir}/kv_x`);
    files.read(`${dir}/kv_y`);
    assertEquals(text(x), "xxxx");
  }));
