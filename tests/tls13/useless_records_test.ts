/**
 * What a peer may send after the handshake that carries no application data
 * (empty application data, user_canceled alerts, KeyUpdates) is taken at most
 * 16 records in a row, and no record of another type may come between the
 * pieces of a handshake message (RFC 8446 §5.1).
 *
 * @module
 */

import { RecordLayer } from "../../tls13/record.ts";
import { AlertDescription, ContentType } from "../../tls13/constants.ts";
import { nextTrafficSecret, trafficKeys } from "../../tls13/key_schedule.ts";
import { keyUpdate } from "../../tls13/messages.ts";
import { assert, assertEquals } from "../_util/assert.ts";
import { connectionOverPipe, type PipeEnd, secretA, secretB } from "./_pipe.ts";

type Peer = { wire: Uint8Array[]; seal(type: number, body: Uint8Array): Promise<void> };

/** Seals records as the peer does, following its own KeyUpdates. */
async function peer(client: PipeEnd): Promise<Peer> {
  const cw = new RecordLayer(client);
  let secret: Uint8Array = secretA;
  cw.setWriteKeys(await trafficKeys(secret));
  const wire: Uint8Array[] = [];
  return {
    wire,
    async seal(type, body) {
      wire.push(cw.seal(type, body, true));
      if (type === ContentType.handshake) {
        secret = await nextTrafficSecret(secret);
        cw.setWriteKeys(await trafficKeys(secret));
      }
    },
  };
}

/** Injects the peer's records; answers why the server's reading ended and the alert it sent. */
async function run(build: (p: Peer) => Promise<void>): Promise<{ ended: string; alert?: number }> {
  const { client, server, conn } = await connectionOverPipe();
  const ended = conn.pump(() => {});
  const p = await peer(client);
  await build(p);
  await p.seal(ContentType.alert, new Uint8Array([1, AlertDescription.closeNotify]));
  server.inject(new Uint8Array(p.wire.flatMap((r) => [...r])));
  const why = await ended;
  conn.close();
  // The server's last record, if it was an alert, read under its keys.
  const cr = new RecordLayer(client);
  cr.setReadKeys(await trafficKeys(secretB));
  let alert: number | undefined;
  for (let type; await cr.fill();) {
    while ((type = cr.next()) !== 0) {
      if (type === ContentType.alert) alert = cr.payload[1];
    }
  }
  return { ended: why, alert };
}

const empty = new Uint8Array(0);
const userCanceled = new Uint8Array([1, AlertDescription.userCanceled]);

for (
  const [what, record] of [
    ["empty application data records", (p: Peer) => p.seal(ContentType.applicationData, empty)],
    ["user_canceled alerts", (p: Peer) => p.seal(ContentType.alert, userCanceled)],
    ["KeyUpdates", (p: Peer) => p.seal(ContentType.handshake, keyUpdate(false))],
  ] as const
) {
  Deno.test(`Tls13Connection: 16 ${what} in a row are taken, 17 get unexpected_message; data in between resets the count`, async () => {
    const ok = await run(async (p) => {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 16; i++) await record(p);
        await p.seal(ContentType.applicationData, new Uint8Array([1]));
      }
    });
    assertEquals(ok.ended, "peer closed the connection (close_notify)");
    const spun = await run(async (p) => {
      for (let i = 0; i < 17; i++) await record(p);
    });
    assert(spun.ended.includes("without application data"), spun.ended);
    assertEquals(spun.alert, AlertDescription.unexpectedMessage);
  });
}

Deno.test("Tls13Connection: a record of another type between the pieces of a KeyUpdate gets unexpected_message", async () => {
  const update = keyUpdate(false);
  for (
    const between of [
      [ContentType.applicationData, new Uint8Array([1, 2, 3])],
      [ContentType.alert, userCanceled],
    ] as const
  ) {
    // The first piece, the other record, then the rest, all under the first keys.
    const { client, server, conn } = await connectionOverPipe();
    const ended = conn.pump(() => {});
    const cw = new RecordLayer(client);
    cw.setWriteKeys(await trafficKeys(secretA));
    const wire = [
      cw.seal(ContentType.handshake, update.subarray(0, 2), true),
      cw.seal(between[0], between[1], true),
      cw.seal(ContentType.handshake, update.subarray(2), true),
    ];
    server.inject(new Uint8Array(wire.flatMap((r) => [...r])));
    const why = await ended;
    conn.close();
    assert(why.includes("between the pieces of a handshake message"), why);
  }
});

Deno.test("Tls13Connection: an alert record that is not 2 bytes gets decode_error (not a silent close)", async () => {
  // (An empty one is refused by the record layer already: unexpected_message, RFC 8446 §5.4.)
  for (
    const body of [new Uint8Array([2]), new Uint8Array([1, 0, 1, 0]), new Uint8Array([2, 40, 0])]
  ) {
    const r = await run((p) => p.seal(ContentType.alert, body));
    assert(r.ended.includes("malformed alert record"), r.ended);
    assertEquals(r.alert, AlertDescription.decodeError, `${body.length} bytes`);
  }
});
