/**
 * The open streams of one connection, by stream id: an open-addressing hash
 * table (linear probing, backward-shift deletion) in two arrays that live as
 * long as the connection.
 *
 * Why not a `Map`: a connection adds and deletes one entry per call, and a
 * V8 `Map` under that churn rehashes into a new backing table every so
 * often; the table it leaves keeps a link to its successor and its entries.
 * Once a full GC has moved the current table into the old generation, every
 * later table and the streams (with their calls) it held are kept alive by
 * the previous dead one through each scavenge, then promoted: under
 * go-plugin's host at 25k calls/s, a third of what a call allocates ended in
 * the old generation, and the young generation grew to its 16 MiB
 * semi-spaces (RSS 79 → 150 MiB). Here a slot is cleared when its stream
 * leaves, the arrays are replaced only when the table grows, and the old
 * ones are emptied first, so nothing dead holds anything young.
 *
 * @module
 */

/** Slots at first; the table doubles when it would be more than half full. */
const INITIAL_SLOTS = 32;

/** Streams by id (ids are positive 31-bit integers; 0 marks an empty slot). */
export class StreamTable<V> {
  #ids: Int32Array = new Int32Array(INITIAL_SLOTS);
  #values: (V | undefined)[] = new Array(INITIAL_SLOTS).fill(undefined);
  #mask = INITIAL_SLOTS - 1;
  #size = 0;

  /** How many streams are in the table. */
  get size(): number {
    return this.#size;
  }

  /** Client-initiated ids are odd, ours (a server's) even: `id >>> 1` spreads both. */
  #home(id: number): number {
    return (id >>> 1) & this.#mask;
  }

  #find(id: number): number {
    const ids = this.#ids, mask = this.#mask;
    for (let i = this.#home(id);; i = (i + 1) & mask) {
      const at = ids[i];
      if (at === id) return i;
      if (at === 0) return -1;
    }
  }

  /** The stream with this id, if it is in the table. */
  get(id: number): V | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#values[i];
  }

  /** Adds (or replaces) the stream with this id. */
  set(id: number, value: V): void {
    if (!(id > 0 && id <= 0x7fff_ffff && Number.isInteger(id))) {
      throw new RangeError(`stream id ${id} is not a positive 31-bit integer`);
    }
    const found = this.#find(id);
    if (found >= 0) {
      this.#values[found] = value;
      return;
    }
    if (2 * (this.#size + 1) > this.#ids.length) this.#grow();
    this.#place(id, value);
    this.#size++;
  }

  #place(id: number, value: V): void {
    const ids = this.#ids, mask = this.#mask;
    let i = this.#home(id);
    while (ids[i] !== 0) i = (i + 1) & mask;
    ids[i] = id;
    this.#values[i] = value;
  }

  #grow(): void {
    const ids = this.#ids, values = this.#values;
    const slots = ids.length * 2;
    this.#ids = new Int32Array(slots);
    this.#values = new Array(slots).fill(undefined);
    this.#mask = slots - 1;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== 0) this.#place(ids[i], values[i] as V);
    }
    values.fill(undefined); // the old array holds nothing once it is dropped
  }

  /** Removes the stream with this id; whether it was there. */
  delete(id: number): boolean {
    let i = this.#find(id);
    if (i < 0) return false;
    const ids = this.#ids, values = this.#values, mask = this.#mask;
    // Backward-shift deletion: later entries of the same probe run move up
    // into the hole, so that no tombstone is ever needed.
    for (let j = (i + 1) & mask; ids[j] !== 0; j = (j + 1) & mask) {
      const home = this.#home(ids[j]);
      // Whether `home` lies cyclically in (i, j]: then the entry at j stays.
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      ids[i] = ids[j];
      values[i] = values[j];
      i = j;
    }
    ids[i] = 0;
    values[i] = undefined;
    this.#size--;
    return true;
  }

  /** Every stream in the table, as a new array (safe to change the table while going over it). */
  values(): V[] {
    const out: V[] = [];
    const ids = this.#ids, values = this.#values;
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) out.push(values[i] as V);
    return out;
  }

  /** Empties the table (its arrays stay, cleared). */
  clear(): void {
    this.#ids.fill(0);
    this.#values.fill(undefined);
    this.#size = 0;
  }
}
