/**
 * The record layer's bulk buffers: the read buffer that grows once (bounded)
 * under an upload, application data decrypted end to end and handed on in
 * one call per read, the two bulk write buffers and a write failure no
 * caller awaits.
 *
 * @module
 */

import { BULK_CHUNK, type ByteStream, RecordLayer } from "../../tls13/record.ts";
import {
  AlertDescription,
  BULK_READ_BUFFER_BYTES,
  ContentType,
  MAX_PLAINTEXT,
  READ_BUFFER_BYTES,
} from "../../tls13/constants.ts";
import { nextTrafficSecret, trafficKeys } from "../../tls13/key_schedule.ts";
import { keyUpdate } from "../../tls13/messages.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { connectionOverPipe, pipe, secretA, secretB } from "./_pipe.ts";

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff);
}

function joined(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("record layer: the read buffer grows once, to its bound, when reads fill it, and keeps what it held", async () => {
  const [x, y] = pipe();
  const sizes: number[] = [];
  const watched: ByteStream = {
    read: (buf) => (sizes.push(buf.length), y.read(buf)),
    write: (d) => y.write(d),
    close: () => y.close(),
  };
  const writer = new RecordLayer(x);
  const reader = new RecordLayer(watched);
  writer.setWriteKeys(await trafficKeys(secretA));
  reader.setReadKeys(await trafficKeys(secretA));
  reader.forgetRaw();
  // 40 records in one write: the first read fills 64 KiB, cutting a record.
  const data = pattern(40 * MAX_PLAINTEXT - 3, 1);
  await writer.send(ContentType.applicationData, data.subarray(0, 3 * MAX_PLAINTEXT));
  await writer.send(ContentType.applicationData, data.subarray(3 * MAX_PLAINTEXT));
  const got: Uint8Array[] = [];
  let have = 0;
  while (have < data.length) {
    const type = reader.next();
    if (type) {
      got.push(reader.payload.slice());
      have += reader.payload.length;
    } else if (!await reader.fill()) break;
  }
  assert(sameBytes(joined(got), data), "every byte, in order, across the growth");
  assertEquals(sizes[0], READ_BUFFER_BYTES, "starts at 64 KiB");
  const most = Math.max(...sizes);
  assert(most > READ_BUFFER_BYTES, `grew (largest read ${most})`);
  assert(most <= BULK_READ_BUFFER_BYTES, `bounded (largest read ${most})`);
});

Deno.test("Tls13Connection: the records of one read reach the layer above in one call, intact, before the alert after them", async () => {
  const { client, server, conn } = await connectionOverPipe();
  const calls: Uint8Array[] = [];
  // Copied during the call: the view is valid only then.
  const ended = conn.pump((d) => calls.push(d.slice()));
  const cw = new RecordLayer(client);
  cw.setWriteKeys(await trafficKeys(secretA));
  // Records, a KeyUpdate, records under the next keys, then close_notify:
  // all in one socket write, so one read takes them all.
  const first = pattern(3 * MAX_PLAINTEXT + 100, 2);
  const second = pattern(2 * MAX_PLAINTEXT, 3);
  const wire: Uint8Array[] = [];
  wire.push(cw.seal(ContentType.applicationData, first, true));
  wire.push(cw.seal(ContentType.handshake, keyUpdate(false), true));
  cw.setWriteKeys(await trafficKeys(await nextTrafficSecret(secretA)));
  wire.push(cw.seal(ContentType.applicationData, second, true));
  wire.push(cw.seal(ContentType.alert, new Uint8Array([1, AlertDescription.closeNotify]), true));
  const all = joined(wire);
  assert(all.length < READ_BUFFER_BYTES * 2);
  server.inject(all);
  assertEquals(await ended, "peer closed the connection (close_notify)");
  assert(sameBytes(joined(calls), joined([first, second])), "every byte, in order");
  // The first read (64 KiB) holds three whole records and cuts the fourth:
  // one call for them, not one per record.
  assert(calls.length <= 4, `${calls.length} calls for 6 records`);
  assert(calls[0].length >= 3 * MAX_PLAINTEXT, `the first call took ${calls[0].length} bytes`);
  conn.close();
});

Deno.test("record layer: a failed bulk write that no caller awaits fails the next send (no hole in the record stream)", async () => {
  let writes = 0;
  const failing: ByteStream = {
    read: () => new Promise(() => {}),
    // Only the second write fails: the writes after it must not go out.
    write(data) {
      const n = ++writes;
      return new Promise((resolve, reject) =>
        setTimeout(
          () => n === 2 ? reject(new Deno.errors.BrokenPipe("gone")) : resolve(data.length),
          1,
        )
      );
    },
    close() {},
  };
  const writer = new RecordLayer(failing);
  writer.setWriteKeys(await trafficKeys(secretA));
  // Two chunks: the send settles once both are sealed, the second's write still under way.
  const data = pattern(2 * BULK_CHUNK, 4);
  let failed: unknown = null;
  await writer.send(ContentType.applicationData, data).catch((e) => (failed = e));
  await writer.send(ContentType.applicationData, data).catch((e) => (failed ??= e));
  await writer.send(ContentType.applicationData, new Uint8Array(3)).catch((e) => (failed ??= e));
  assert(failed instanceof Deno.errors.BrokenPipe, `the write's error came back: ${failed}`);
  assertEquals(writes, 2, "nothing written after the failed write");
});

Deno.test("Tls13Connection: a burst of KeyUpdates asking for ours gets one answer before our next data, not one each", async () => {
  const { client, server, conn } = await connectionOverPipe();
  const ended = conn.pump(() => {});
  // The peer: 16 KeyUpdates (the most taken in a row) with update_requested, each under the keys the one before made.
  const cw = new RecordLayer(client);
  let ours: Uint8Array = secretA;
  cw.setWriteKeys(await trafficKeys(ours));
  const wire: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    wire.push(cw.seal(ContentType.handshake, keyUpdate(true), true));
    ours = await nextTrafficSecret(ours);
    cw.setWriteKeys(await trafficKeys(ours));
  }
  wire.push(cw.seal(ContentType.alert, new Uint8Array([1, AlertDescription.closeNotify]), true));
  server.inject(joined(wire));
  assertEquals(await ended, "peer closed the connection (close_notify)");
  const data = pattern(1000, 7);
  await conn.write(data);
  // What the server wrote, read as the peer reads it: KeyUpdates, then the data under the
  // keys they made.
  let theirs: Uint8Array = secretB;
  cw.setReadKeys(await trafficKeys(theirs));
  let updates = 0;
  const got: Uint8Array[] = [];
  while (joined(got).length < data.length) {
    const type = cw.next();
    if (type === ContentType.handshake) {
      assertEquals([...cw.payload], [...keyUpdate(false)], "a KeyUpdate not asking for one back");
      updates++;
      theirs = await nextTrafficSecret(theirs);
      cw.setReadKeys(await trafficKeys(theirs));
    } else if (type === ContentType.applicationData) got.push(cw.payload.slice());
    else if (type === 0) assert(await cw.fill(), "the server's records end early");
    else throw new Error(`record of type ${type}`);
  }
  assert(sameBytes(joined(got), data), "the data, under the updated keys");
  assertEquals(updates, 1, "one KeyUpdate answers the burst");
  conn.close();
});
