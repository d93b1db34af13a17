/**
 * The record layer: a protected round trip (batches split at 2^14, one
 * socket write per batch, records split across reads), tampering
 * (bad_record_mac), over-long records (record_overflow), padding, a record
 * with no content type, and KeyUpdate through Tls13Connection (answering
 * update_requested, with the next secrets).
 *
 * @module
 */

import { BULK_CHUNK, type ByteStream, RecordLayer } from "../../tls13/record.ts";
import { AlertDescription, ContentType, MAX_PLAINTEXT } from "../../tls13/constants.ts";
import { TlsAlertError } from "../../tls13/errors.ts";
import { nextTrafficSecret, trafficKeys } from "../../tls13/key_schedule.ts";
import { Tls13Connection } from "../../tls13/server.ts";
import { keyUpdate } from "../../tls13/messages.ts";
import { ChaCha20Poly1305 } from "../../tls13/chacha20_poly1305.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { assertThrows } from "../_util/assert.ts";
import { pipe } from "./_pipe.ts";

const secretA = new Uint8Array(32).fill(0xa1);
const secretB = new Uint8Array(32).fill(0xb2);

async function pair(maxRead?: number) {
  const [x, y] = pipe(maxRead);
  const writer = new RecordLayer(x);
  const reader = new RecordLayer(y);
  writer.setWriteKeys(await trafficKeys(secretA));
  reader.setReadKeys(await trafficKeys(secretA));
  return { x, y, writer, reader };
}

/** Reads records until `count` are taken. */
async function take(
  layer: RecordLayer,
  count: number,
): Promise<{ type: number; data: Uint8Array }[]> {
  const out: { type: number; data: Uint8Array }[] = [];
  while (out.length < count) {
    const type = layer.next();
    if (type) out.push({ type, data: layer.payload.slice() });
    else if (!await layer.fill()) break;
  }
  return out;
}

Deno.test("record layer: a batch becomes 2^14-byte records in one socket write, read back across split reads", async () => {
  const { x, writer, reader } = await pair(1000);
  const data = crypto.getRandomValues(new Uint8Array(3 * MAX_PLAINTEXT + 5));
  await writer.send(ContentType.applicationData, data);
  assertEquals(x.writes.length, 1, "one socket write");
  assertEquals(x.writes[0].length, data.length + 4 * (5 + 1 + 16));
  const recs = await take(reader, 4);
  assertEquals(recs.map((r) => r.data.length), [MAX_PLAINTEXT, MAX_PLAINTEXT, MAX_PLAINTEXT, 5]);
  const joined = new Uint8Array(recs.flatMap((r) => [...r.data]));
  assertEquals(joined.length, data.length);
  assert(joined.every((b, i) => b === data[i]), "same bytes");
  // Headers: outer type application_data, legacy version 0x0303.
  assertEquals([...x.writes[0].subarray(0, 3)], [23, 3, 3]);
  // The sequence numbers go on: a second batch reads too.
  await writer.send(ContentType.handshake, new Uint8Array([1, 2, 3]));
  const [again] = await take(reader, 1);
  assertEquals(again.type, ContentType.handshake);
  assertEquals([...again.data], [1, 2, 3]);
});

Deno.test("record layer: one flipped bit anywhere is bad_record_mac; a replayed record too", async () => {
  // The legacy version (in the additional data), the ciphertext, the tag.
  for (const at of [1, 2, 5, 8, 5 + 4 + 1 + 15]) {
    const { x, writer } = await pair();
    await writer.send(ContentType.applicationData, new Uint8Array([9, 9, 9, 9]));
    const rec = x.writes[0].slice();
    rec[at] ^= 0x40;
    const [, y] = pipe();
    const fresh = new RecordLayer(y);
    fresh.setReadKeys(await trafficKeys(secretA));
    y.inject(rec);
    await fresh.fill();
    const err = assertThrows(() => fresh.next(), TlsAlertError);
    assertEquals(err.alert, AlertDescription.badRecordMac, `bit flipped at ${at}`);
  }
  const { x, y, writer, reader } = await pair();
  await writer.send(ContentType.applicationData, new Uint8Array([1]));
  await take(reader, 1);
  y.inject(x.writes[0]); // the same record again: sequence number 1 now
  await reader.fill();
  assertEquals(
    assertThrows(() => reader.next(), TlsAlertError).alert,
    AlertDescription.badRecordMac,
  );
});

Deno.test("record layer: record_overflow for a protected record over 2^14+256 and content over 2^14, padding counted", async () => {
  const { y, reader } = await pair();
  y.inject(new Uint8Array([23, 3, 3, 0x41, 0x01]));
  await reader.fill();
  assertEquals(
    assertThrows(() => reader.next(), TlsAlertError).alert,
    AlertDescription.recordOverflow,
  );

  // 2^14 + 1 bytes of content, sealed by hand (our writer never makes one).
  const keys = await trafficKeys(secretA);
  const aead = new ChaCha20Poly1305(keys.key);
  const inner = new Uint8Array(MAX_PLAINTEXT + 2);
  inner[MAX_PLAINTEXT + 1] = 23;
  const len = inner.length + 16;
  const header = new Uint8Array([23, 3, 3, len >> 8, len & 0xff]);
  const ct = aead.seal(keys.iv, inner, header);
  const [, y2] = pipe();
  const r2 = new RecordLayer(y2);
  r2.setReadKeys(keys);
  y2.inject(new Uint8Array([...header, ...ct]));
  await r2.fill();
  assertEquals(assertThrows(() => r2.next(), TlsAlertError).alert, AlertDescription.recordOverflow);

  // 10 bytes of content padded past 2^14 + 1 (RFC 8446 §5.4 counts the padding).
  const padded = new Uint8Array(MAX_PLAINTEXT + 2);
  padded.fill(7, 0, 10);
  padded[10] = 23;
  const plen = padded.length + 16;
  const pheader = new Uint8Array([23, 3, 3, plen >> 8, plen & 0xff]);
  const [, y4] = pipe();
  const r4 = new RecordLayer(y4);
  r4.setReadKeys(keys);
  y4.inject(new Uint8Array([...pheader, ...aead.seal(keys.iv, padded, pheader)]));
  await r4.fill();
  assertEquals(assertThrows(() => r4.next(), TlsAlertError).alert, AlertDescription.recordOverflow);

  // An unprotected record over 2^14.
  const [, y3] = pipe();
  const r3 = new RecordLayer(y3);
  y3.inject(new Uint8Array([22, 3, 1, 0x40, 0x01]));
  await r3.fill();
  assertEquals(assertThrows(() => r3.next(), TlsAlertError).alert, AlertDescription.recordOverflow);
});

Deno.test("record layer: padding is stripped; all-zero content is unexpected_message", async () => {
  const keys = await trafficKeys(secretA);
  const aead = new ChaCha20Poly1305(keys.key);
  const seal = (inner: Uint8Array) => {
    const len = inner.length + 16;
    const header = new Uint8Array([23, 3, 3, len >> 8, len & 0xff]);
    return new Uint8Array([...header, ...aead.seal(keys.iv, inner, header)]);
  };
  const [, y] = pipe();
  const r = new RecordLayer(y);
  r.setReadKeys(keys);
  y.inject(seal(new Uint8Array([7, 8, 23, 0, 0, 0, 0])));
  await r.fill();
  assertEquals(r.next(), 23);
  assertEquals([...r.payload], [7, 8]);
  const [, y2] = pipe();
  const r2 = new RecordLayer(y2);
  r2.setReadKeys(keys);
  y2.inject(seal(new Uint8Array(10)));
  await r2.fill();
  assertEquals(
    assertThrows(() => r2.next(), TlsAlertError).alert,
    AlertDescription.unexpectedMessage,
  );
});

Deno.test("Tls13Connection: KeyUpdate(update_requested) rekeys reading, is answered, and writing rekeys after the answer", async () => {
  const [client, server] = pipe();
  const layer = new RecordLayer(server);
  layer.setReadKeys(await trafficKeys(secretA));
  layer.setWriteKeys(await trafficKeys(secretB));
  const conn = new Tls13Connection(layer, secretA, secretB);
  const got: string[] = [];
  const ended = conn.pump((d) => got.push(new TextDecoder().decode(d)));
  // The client's side, by hand.
  const cw = new RecordLayer(client);
  cw.setWriteKeys(await trafficKeys(secretA));
  cw.setReadKeys(await trafficKeys(secretB));
  await cw.send(ContentType.applicationData, new TextEncoder().encode("before"));
  await cw.send(ContentType.handshake, keyUpdate(true));
  const nextA = await nextTrafficSecret(secretA);
  cw.setWriteKeys(await trafficKeys(nextA));
  await cw.send(ContentType.applicationData, new TextEncoder().encode("after"));
  // The server's answer: KeyUpdate(update_not_requested) under the old keys, then data under the new.
  const [answer] = await take(cw, 1);
  assertEquals(answer.type, ContentType.handshake);
  assertEquals([...answer.data], [24, 0, 0, 1, 0]);
  cw.setReadKeys(await trafficKeys(await nextTrafficSecret(secretB)));
  await conn.write(new TextEncoder().encode("reply"));
  const [reply] = await take(cw, 1);
  assertEquals(new TextDecoder().decode(reply.data), "reply");
  // close_notify from the client ends the pump.
  await cw.alert(AlertDescription.closeNotify);
  assertEquals(await ended, "peer closed the connection (close_notify)");
  assertEquals(got, ["before", "after"]);
  conn.close();
  // Our close_notify followed.
  const [bye] = await take(cw, 1);
  assertEquals([bye.type, ...bye.data], [ContentType.alert, 1, 0]);
});

Deno.test("Tls13Connection: a bad record ends the pump with bad_record_mac sent to the peer", async () => {
  const [client, server] = pipe();
  const layer = new RecordLayer(server);
  layer.setReadKeys(await trafficKeys(secretA));
  layer.setWriteKeys(await trafficKeys(secretB));
  const conn = new Tls13Connection(layer, secretA, secretB);
  const ended = conn.pump(() => {});
  client.write(new Uint8Array([23, 3, 3, 0, 20, ...new Uint8Array(20)]));
  assert((await ended).includes("bad_record_mac"));
  const cr = new RecordLayer(client);
  cr.setReadKeys(await trafficKeys(secretB));
  const [alert] = await take(cr, 1);
  assertEquals([alert.type, ...alert.data], [ContentType.alert, 2, AlertDescription.badRecordMac]);
});

Deno.test("record layer: the WebAssembly AEAD seals and opens every record from the first, small ones too; bulk goes in full records, a write per 16; the TypeScript AEAD opens them all", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", new URL("./_record_paths_probe.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert(out.success, `the probe failed: ${err}`);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  assertEquals(r.loadedFirst, false, "the module is not loaded before the first record");
  // Each record sealed by the writer and opened by the reader: 2 calls per record.
  assertEquals(
    r.phases[0],
    { loaded: true, writes: 3, intact: true, wasmCalls: 6 },
    "small records",
  );
  // 2 chunks of 16 records, then the remaining 3 full records and 7 bytes: 3 writes.
  assertEquals(
    r.phases[1],
    { loaded: true, writes: 3, intact: true, wasmCalls: 2 * (2 * 16 + 4) },
    "the bulk batch",
  );
  assertEquals(
    r.phases[2],
    { loaded: true, writes: 2, intact: true, wasmCalls: 4 },
    "small records after",
  );
  assertEquals(r.fullRecords, 2 * 16 + 3);
  assert(r.allOpen, "every record opens with the TypeScript AEAD");
});

Deno.test("record layer: a bulk batch's buffer is not sealed into again while its write is under way", async () => {
  // A socket that takes the bytes only when a write completes (a turn later),
  // as a kernel buffer that fills up does: a buffer reused too early shows as
  // records that do not decrypt, or wrong bytes.
  const [, y] = pipe();
  const slow: ByteStream = {
    read: () => new Promise(() => {}),
    write(data) {
      return new Promise((resolve) =>
        setTimeout(() => {
          y.inject(data.slice());
          resolve(data.length);
        }, 1)
      );
    },
    close() {},
  };
  const writer = new RecordLayer(slow);
  const reader = new RecordLayer(y);
  writer.setWriteKeys(await trafficKeys(secretA));
  reader.setReadKeys(await trafficKeys(secretA));
  const data = Uint8Array.from({ length: 5 * BULK_CHUNK + 1000 }, (_, i) => (i * 31) & 0xff);
  const small = new Uint8Array([7, 7, 7]);
  const sent = writer.send(ContentType.applicationData, data);
  const between = writer.send(ContentType.applicationData, small); // while the bulk goes
  await Promise.all([sent, between]);
  const recs = await take(reader, Math.ceil(data.length / MAX_PLAINTEXT) + 1);
  // The small record went whole between two chunks (or after them); the rest is the batch.
  const smallAt = recs.findIndex((r) => r.data.length === 3 && r.data.every((b) => b === 7));
  assert(smallAt > 0, "the small record arrived, after the first chunk's records");
  const bulk = recs.filter((_, i) => i !== smallAt);
  const joined = new Uint8Array(bulk.reduce((n, r) => n + r.data.length, 0));
  let o = 0;
  for (const r of bulk) joined.set(r.data, o), o += r.data.length;
  assertEquals(joined.length, data.length);
  assert(joined.every((b, i) => b === data[i]), "every byte of the batch, in order");
});
