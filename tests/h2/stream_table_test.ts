/**
 * Tests of the connection's stream table (`h2/stream_table.ts`): the same
 * answers as a `Map` over random adds and deletes of the id patterns a
 * connection sees (rising odd ids with a window of open ones, even ids,
 * ids that collide in the table), across growth and wrap-around; and the
 * slot a stream leaves holds nothing.
 *
 * @module
 */

import { StreamTable } from "../../h2/stream_table.ts";
import { assert, assertEquals, assertThrows } from "../_util/assert.ts";
import { Prng } from "../_util/prng.ts";

/** Checks every answer of the table against the model. */
function same(
  table: StreamTable<{ id: number }>,
  model: Map<number, { id: number }>,
  probe: number[],
) {
  assertEquals(table.size, model.size);
  for (const id of probe) assertEquals(table.get(id), model.get(id), `get(${id})`);
  const ids = table.values().map((v) => v.id).sort((a, b) => a - b);
  assertEquals(ids, [...model.keys()].sort((a, b) => a - b));
}

Deno.test("stream table: rising odd ids, a window of open streams, as a Map would", () => {
  const table = new StreamTable<{ id: number }>();
  const model = new Map<number, { id: number }>();
  const rng = new Prng(14);
  const rand = () => rng.next();
  const open: number[] = [];
  for (let n = 0, id = 1; n < 20_000; n++) {
    if (open.length < 64 && (open.length === 0 || rand() < 0.55)) {
      const v = { id };
      table.set(id, v);
      model.set(id, v);
      open.push(id);
      id += 2;
    } else {
      // Streams end out of order.
      const [gone] = open.splice(Math.floor(rand() * open.length), 1);
      assertEquals(table.delete(gone), true);
      model.delete(gone);
      assertEquals(table.delete(gone), false, "a second delete finds nothing");
    }
    if (n % 97 === 0) same(table, model, [...open, id, id - 2 * 65, 2]);
  }
  same(table, model, open);
});

Deno.test("stream table: colliding ids, growth, and deletes in every probe position", () => {
  const rng = new Prng(7);
  const rand = () => rng.next();
  for (let round = 0; round < 50; round++) {
    const table = new StreamTable<{ id: number }>();
    const model = new Map<number, { id: number }>();
    // Ids 64 apart share a home slot in the first table (32 slots; id >>> 1).
    const pool = Array.from({ length: 200 }, (_, i) => 1 + (i % 10) * 2 + Math.floor(i / 10) * 64);
    for (let n = 0; n < 2000; n++) {
      const id = pool[Math.floor(rand() * pool.length)];
      if (rand() < 0.6) {
        const v = { id };
        table.set(id, v);
        model.set(id, v);
      } else {
        assertEquals(table.delete(id), model.delete(id), `delete(${id})`);
      }
    }
    same(table, model, pool);
    table.clear();
    model.clear();
    same(table, model, pool);
  }
});

Deno.test("stream table: set replaces, even ids work, bad ids are refused", () => {
  const table = new StreamTable<string>();
  table.set(2, "a");
  table.set(2, "b");
  table.set(0x7fff_ffff, "max");
  assertEquals(table.size, 2);
  assertEquals(table.get(2), "b");
  assertEquals(table.get(0x7fff_ffff), "max");
  assertEquals(table.get(4), undefined);
  for (const bad of [0, -1, 1.5, 2 ** 31, NaN]) {
    assertThrows(() => table.set(bad, "x"), RangeError, /positive 31-bit integer/);
  }
});

Deno.test("stream table: values() is a copy, safe to delete from while going over it", () => {
  const table = new StreamTable<number>();
  for (let id = 1; id < 200; id += 2) table.set(id, id);
  for (const v of table.values()) table.delete(v);
  assertEquals(table.size, 0);
  assert(table.values().length === 0);
});
