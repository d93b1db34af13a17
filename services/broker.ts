/**
 * `plugin.GRPCBroker`: how host and plugin hand each other extra gRPC
 * servers (callbacks), as go-plugin's broker does in plain mode. Both sides
 * run the same {@linkcode Broker}: one side calls `acceptAndServe(id, ...)`,
 * which serves on a new listener and announces it on the broker stream as
 * `ConnInfo{service_id, network, address}`; the other side's `dial(id)`
 * waits (up to 5 s) for that announcement and connects. Ids come from
 * `nextId()`, a counter per side; the application passes them in its own
 * messages (e.g. `PutRequest.add_server` of go-plugin's bidirectional
 * example).
 *
 * In go-plugin's multiplexed mode (`GRPCBrokerMultiplex`) the same calls go
 * over one yamux session instead ({@linkcode BrokerMux}): `acceptAndServe`
 * announces nothing and answers the other side's knock
 * (`ConnInfo{service_id, knock:{knock:true}}`) with an ack; `dial` knocks,
 * waits up to 5 s for the ack and opens a stream; dials run one at a time.
 *
 * The plugin half of the stream is the `StartStream` handler
 * ({@linkcode brokerService}); the host half is {@linkcode openBrokerStream}.
 *
 * @module
 */

import { after } from "../_timer.ts";
import type { Network } from "../constants.ts";
import { RpcPluginError } from "../errors.ts";
import { GRPCBrokerDefinition } from "../gen/plugin/grpc_broker_pb.ts";
import type { Logger } from "../log/logger.ts";
import type { Channel } from "../rpc/client_call.ts";
import { type ClientTls, connect } from "../rpc/connect.ts";
import {
  fromTsProto,
  implement,
  type ServiceDefinition,
  type ServiceImplementation,
} from "../rpc/service.ts";
import { type ServiceClient, serviceClient } from "../rpc/service_client.ts";
import type { BrokerMux } from "./broker_mux.ts";
import type { YamuxStream } from "../mux/yamux.ts";
import {
  BROKER_MAX_ANNOUNCED,
  BROKER_MAX_PENDING_KNOCKS,
  BROKER_MAX_QUEUED,
  BROKER_TIMEOUT_MS,
  BurstWarning,
} from "./broker_limits.ts";

export { BROKER_TIMEOUT_MS };

/** A broker operation failed: a dial that timed out, a closed broker, a listener that would not bind. */
export class BrokerError extends RpcPluginError {}

/** One announcement on the broker stream: go-plugin's `ConnInfo` message. */
export interface BrokerConnInfo {
  /** The broker id. */
  serviceId: number;
  /** `unix` or `tcp`. */
  network: string;
  /** Socket path or `host:port`. */
  address: string;
  /** Multiplexed mode's knock (absent in plain mode). */
  knock: { knock: boolean; ack: boolean; error: string } | undefined;
}

/** A listener a broker serves on, made by its side's rules. */
export interface BrokerListener {
  /** `unix` or `tcp`. */
  network: Network;
  /** Socket path or `host:port`. */
  address: string;
  /** Stops serving and removes the socket. */
  close(): Promise<void>;
}

/** What a side gives its broker: how to serve and how to connect. */
export interface BrokerOptions {
  /** Serves `services` on a new listener (the side's listener rules and TLS). */
  listen(services: readonly ServiceImplementation[]): Promise<BrokerListener>;
  /** The TLS of connections `dial()` makes (the side's certificate, trusting the other side's). */
  dialTls?: ClientTls;
  /** Largest gRPC message on brokered connections. */
  maxMessageBytes: number;
  /** Most bytes the messages still arriving, or received and not yet read, on one connection hold together (each by its size plus ~128 bytes). @default {268435456} */
  maxPartialMessageBytes?: number;
  /** Where the broker logs. */
  logger: Logger;
  /** Who needs a permission flag that is missing, for its error ("the plugin" or "the host"). */
  program: string;
}

/** A connection `dial()` made: typed clients of the services served there. */
export interface BrokerConnection {
  /** A typed client of one of the services served at this id. */
  client<S extends ServiceDefinition>(definition: S): ServiceClient<S>;
  /** Closes the connection. */
  close(): void;
}

let enableMux: (broker: Broker, mux: BrokerMux) => void;

/**
 * Turns a broker's multiplexed mode on, before it is used (`serve()` and
 * `launch()` do, when both sides agreed on it).
 *
 * @param broker The side's broker.
 * @param mux Its multiplexed connections.
 */
export function multiplexBroker(broker: Broker, mux: BrokerMux): void {
  enableMux(broker, mux);
}

/** One side's broker. */
export class Broker {
  #options: BrokerOptions;
  #nextId = 0;
  #closed = false;
  /** ConnInfos announced by the other side, not claimed yet, by id, oldest first (at most `BROKER_MAX_ANNOUNCED`). */
  #announced = new Map<number, { info: BrokerConnInfo; expire: () => void }>();
  #announcedDropped: BurstWarning;
  /** Dials waiting for an announcement, by id. */
  #waiting = new Map<number, BrokerWaiter<BrokerConnInfo>[]>();
  /** What we announce, waiting for the stream to take it. */
  #outbox: BrokerConnInfo[] = [];
  #wakeOutbox: (() => void) | null = null;
  #listeners = new Set<{ close(): Promise<void> }>();
  #dialled = new Set<Channel>();
  /** Multiplexed mode's streams, once on. */
  #mux: BrokerMux | null = null;
  /** Knocks for ids not served yet, kept for 5 s for `acceptAndServe`, by id (at most `BROKER_MAX_PENDING_KNOCKS`). */
  #knocks = new Map<number, () => void>();
  #knocksRefused: BurstWarning;
  /** Knocks dropped unanswered: the other side does not read our replies. */
  #knocksDropped: BurstWarning;
  /** The last multiplexed dial: dials run one after another, as go-plugin's. */
  #dialing: Promise<unknown> = Promise.resolve();

  /**
   * Creates a side's broker (`serve()` and `launch()` make theirs).
   *
   * @param options How this side serves and connects.
   */
  constructor(options: BrokerOptions) {
    this.#options = options;
    const log = options.logger;
    this.#announcedDropped = new BurstWarning(
      log,
      `broker announcements dropped: the other side announced more than ${BROKER_MAX_ANNOUNCED} ` +
        "broker ids that no dial claimed (the oldest go first)",
    );
    this.#knocksRefused = new BurstWarning(
      log,
      `broker knocks refused: the other side knocked for more than ${BROKER_MAX_PENDING_KNOCKS} ` +
        "broker ids not served yet",
    );
    this.#knocksDropped = new BurstWarning(
      log,
      `broker knocks dropped unanswered: ${BROKER_MAX_QUEUED} replies already wait for the ` +
        "other side to read the broker stream",
    );
  }

  /** The next broker id of this side (1, 2, ...), as go-plugin's `NextId()`. */
  nextId(): number {
    return ++this.#nextId;
  }

  /** Whether connections go over one multiplexed connection (go-plugin's `GRPCBrokerMultiplex`). */
  get multiplexed(): boolean {
    return this.#mux !== null;
  }

  static {
    enableMux = (broker, mux) => (broker.#mux = mux);
  }

  /**
   * Serves `services` on a new listener and announces it to the other side
   * as broker id `id`. Resolves once the listener accepts connections, with
   * a handle that stops it (so does {@linkcode Broker.close}). Multiplexed,
   * there is no listener: the streams the other side knocks for `id` are
   * served (a knock that came first, within 5 s, is answered now).
   */
  async acceptAndServe(
    id: number,
    services: readonly ServiceImplementation[],
  ): Promise<{ close(): Promise<void> }> {
    if (this.#closed) throw new BrokerError(`The broker is closed: cannot serve broker id ${id}`);
    if (this.#mux) return this.#muxAccept(this.#mux, id, services);
    const listener = await this.#options.listen(services);
    this.#listeners.add(listener);
    this.#send({
      serviceId: id,
      network: listener.network,
      address: listener.address,
      knock: undefined,
    });
    this.#options.logger.debug("broker serving", {
      id,
      network: listener.network,
      address: listener.address,
    });
    return {
      close: async () => {
        if (this.#listeners.delete(listener)) await listener.close();
      },
    };
  }

  /**
   * Connects to what the other side serves as broker id `id`: waits up to
   * 5 s for its announcement, then connects with this side's TLS.
   * Multiplexed, it knocks, waits up to 5 s for the ack, and opens a stream
   * (one dial at a time), with this side's TLS inside.
   *
   * @throws {BrokerError} When nothing is announced (acknowledged) in time, or the broker closes.
   */
  dial(id: number, timeoutMs: number = BROKER_TIMEOUT_MS): Promise<BrokerConnection> {
    const mux = this.#mux;
    if (!mux) return this.#plainDial(id, timeoutMs);
    // Knock, ack and stream open one dial at a time ("must be established sequentially").
    const opened = this.#dialing.then(() => this.#knockAndOpen(mux, id, timeoutMs));
    this.#dialing = opened.catch(() => {});
    return opened.then(async (stream) => {
      const channel: Channel = await mux.connect(
        id,
        stream,
        timeoutMs,
        () => this.#dialled.delete(channel),
      );
      return this.#connection(channel);
    });
  }

  async #plainDial(id: number, timeoutMs: number): Promise<BrokerConnection> {
    const info = await this.#waitFor(id, timeoutMs);
    let channel: Channel;
    try {
      channel = await connect({
        network: info.network as Network,
        address: info.address,
        tls: this.#options.dialTls,
        maxMessageBytes: this.#options.maxMessageBytes,
        maxPartialMessageBytes: this.#options.maxPartialMessageBytes,
        timeoutMs,
        program: this.#options.program,
        onClose: () => this.#dialled.delete(channel),
      });
    } catch (err) {
      throw new BrokerError(
        `Could not connect to broker id ${id} at ${info.network}:${info.address}: ${
          (err as Error).message
        }`,
        { cause: err },
      );
    }
    return this.#connection(channel);
  }

  #connection(channel: Channel): BrokerConnection {
    this.#dialled.add(channel);
    return {
      client: <S extends ServiceDefinition>(definition: S) => serviceClient(channel, definition),
      close: () => channel.close("the broker connection was closed"),
    };
  }

  /** Multiplexed `acceptAndServe`: nothing to announce; the knock for `id` is answered. */
  #muxAccept(
    mux: BrokerMux,
    id: number,
    services: readonly ServiceImplementation[],
  ): { close(): Promise<void> } {
    const listener = mux.listen(id, services);
    this.#listeners.add(listener);
    this.#options.logger.debug("broker serving", { id, multiplexed: true });
    const knocked = this.#knocks.get(id);
    if (knocked) {
      knocked();
      this.#knocks.delete(id);
      this.#knocksRefused.over();
      this.#ack(mux, id);
    }
    return {
      close: async () => {
        if (this.#listeners.delete(listener)) await listener.close();
      },
    };
  }

  /** Multiplexed `dial`, first part: knock, wait for the ack, open the stream. */
  async #knockAndOpen(mux: BrokerMux, id: number, timeoutMs: number): Promise<YamuxStream> {
    if (this.#closed) throw new BrokerError(`The broker is closed: cannot dial broker id ${id}`);
    this.#send({ serviceId: id, network: "", address: "", knock: KNOCK });
    const info = await this.#waitFor(
      id,
      timeoutMs,
      () =>
        `timeout waiting for multiplexing knock handshake on broker id ${id}: the other side ` +
        `did not acknowledge it within ${timeoutMs} ms (it must call acceptAndServe(${id}, ...) first)`,
    );
    if (!info.knock?.ack) {
      throw new BrokerError(
        `handshake failed for multiplexing on broker id ${id}: expected a knock acknowledgement, ` +
          `got ConnInfo{network: "${info.network}", address: "${info.address}"}; ` +
          "do both sides use multiplexing?",
      );
    }
    if (info.knock.error) {
      throw new BrokerError(`failed to knock for broker id ${id}: ${info.knock.error}`);
    }
    return await mux.open(id, timeoutMs);
  }

  /**
   * A knock from the other side: ack it if `id` is served, else keep it 5 s.
   * Every answer waits in the outbox for the other side to read it: when
   * `BROKER_MAX_QUEUED` already wait, the knock is dropped unanswered.
   */
  #onKnock(mux: BrokerMux, id: number): void {
    if (this.#outbox.length >= BROKER_MAX_QUEUED) {
      return this.#knocksDropped.refused({ id, queued: this.#outbox.length });
    }
    if (mux.has(id)) return this.#ack(mux, id);
    if (this.#knocks.has(id)) return;
    if (this.#knocks.size >= BROKER_MAX_PENDING_KNOCKS) {
      this.#knocksRefused.refused({ id });
      return this.#send({
        serviceId: id,
        network: "",
        address: "",
        knock: {
          knock: true,
          ack: true,
          error: `too many knocks for ids not served yet (${BROKER_MAX_PENDING_KNOCKS})`,
        },
      });
    }
    this.#knocks.set(
      id,
      after(BROKER_TIMEOUT_MS, () => {
        this.#knocks.delete(id);
        this.#knocksRefused.over();
        this.#options.logger.debug("broker knock dropped: nothing served its id in time", { id });
      }),
    );
  }

  #ack(mux: BrokerMux, id: number): void {
    const error = mux.expect(id);
    this.#send({
      serviceId: id,
      network: "",
      address: "",
      knock: { knock: true, ack: true, error },
    });
  }

  /** Stops every listener (removing its socket), closes dialled connections, fails waiting dials. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const cancel of this.#knocks.values()) cancel();
    this.#knocks.clear();
    for (const { expire } of this.#announced.values()) expire();
    this.#announced.clear();
    for (const waiters of this.#waiting.values()) for (const w of waiters) w(null);
    this.#waiting.clear();
    for (const c of this.#dialled) c.close("the broker was closed");
    this.#dialled.clear();
    this.#wakeOutbox?.();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    await Promise.all([...listeners.map((l) => l.close()), this.#mux?.close()]);
  }

  /** A ConnInfo from the other side's stream. @internal */
  receive(info: BrokerConnInfo): void {
    if (this.#closed) return;
    if (info.knock?.knock && !info.knock.ack) {
      if (this.#mux) return this.#onKnock(this.#mux, info.serviceId);
      this.#options.logger.debug("broker knock ignored: multiplexing is off", {
        id: info.serviceId,
      });
      return;
    }
    // Announcements (plain mode) and knock acks (multiplexed) wait for their dial alike.
    const waiters = this.#waiting.get(info.serviceId);
    if (waiters?.length) {
      const w = waiters.shift()!;
      if (!waiters.length) this.#waiting.delete(info.serviceId);
      return w(info);
    }
    this.#unannounce(info.serviceId);
    if (this.#announced.size >= BROKER_MAX_ANNOUNCED) {
      const [oldest] = this.#announced.keys();
      this.#announcedDropped.refused({ id: oldest, newest: info.serviceId });
      this.#unannounce(oldest);
    }
    const expire = after(BROKER_TIMEOUT_MS, () => {
      if (this.#announced.get(info.serviceId)?.info === info) this.#unannounce(info.serviceId);
    });
    this.#announced.set(info.serviceId, { info, expire });
  }

  /** Forgets the unclaimed announcement of `id`, if any. */
  #unannounce(id: number): BrokerConnInfo | undefined {
    const known = this.#announced.get(id);
    if (!known) return undefined;
    known.expire();
    this.#announced.delete(id);
    if (this.#announced.size < BROKER_MAX_ANNOUNCED - 1) this.#announcedDropped.over();
    return known.info;
  }

  /** What this side announces, for the stream to send, until `signal` aborts or the broker closes. @internal */
  async *outgoing(signal: AbortSignal): AsyncGenerator<BrokerConnInfo> {
    const wake = () => this.#wakeOutbox?.();
    signal.addEventListener("abort", wake);
    try {
      while (!signal.aborted && !this.#closed) {
        const next = this.#outbox.shift();
        if (next) {
          yield next;
          continue;
        }
        this.#knocksDropped.over();
        await new Promise<void>((resolve) => (this.#wakeOutbox = resolve));
        this.#wakeOutbox = null;
      }
    } finally {
      signal.removeEventListener("abort", wake);
    }
  }

  #send(info: BrokerConnInfo): void {
    this.#outbox.push(info);
    this.#wakeOutbox?.();
  }

  #waitFor(
    id: number,
    timeoutMs: number,
    timeoutMessage: () => string = () =>
      `timeout waiting for connection info for broker id ${id}: the other side did not ` +
      `announce it within ${timeoutMs} ms (it must call acceptAndServe(${id}, ...) first)`,
  ): Promise<BrokerConnInfo> {
    if (this.#closed) {
      return Promise.reject(new BrokerError(`The broker is closed: cannot dial broker id ${id}`));
    }
    const known = this.#unannounce(id);
    if (known) return Promise.resolve(known);
    const remove = (waiter: BrokerWaiter<BrokerConnInfo>) => {
      const list = this.#waiting.get(id);
      const i = list?.indexOf(waiter) ?? -1;
      if (i >= 0) list!.splice(i, 1);
      if (list && !list.length) this.#waiting.delete(id);
    };
    return brokerWait(id, timeoutMs, timeoutMessage, (waiter) => {
      const list = this.#waiting.get(id) ?? [];
      list.push(waiter);
      this.#waiting.set(id, list);
    }, remove);
  }
}

/** Takes what a dial waits for, or `null` when the broker closes. */
export type BrokerWaiter<T> = (value: T | null) => void;

/**
 * Waits up to `timeoutMs` for a waiter that `add` registers to be called;
 * on timeout `remove` unregisters it and the dial fails with
 * `timeoutMessage()`; called with `null`, it fails as closed.
 *
 * @throws {BrokerError} On timeout, or when the broker closes.
 */
export function brokerWait<T>(
  id: number,
  timeoutMs: number,
  timeoutMessage: () => string,
  add: (waiter: BrokerWaiter<T>) => void,
  remove: (waiter: BrokerWaiter<T>) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const waiter: BrokerWaiter<T> = (value) => {
      cancel();
      if (value) resolve(value);
      else reject(new BrokerError(`The broker closed while dialling broker id ${id}`));
    };
    const cancel = after(timeoutMs, () => {
      remove(waiter);
      reject(new BrokerError(timeoutMessage()));
    });
    add(waiter);
  });
}

/** The knock a multiplexed dial sends first. */
const KNOCK = { knock: true, ack: false, error: "" } as const;

const startStream = fromTsProto(GRPCBrokerDefinition).methods.startStream;

/**
 * The plugin's half: the `GRPCBroker/StartStream` service, feeding what the
 * host sends into `broker` and sending what the broker announces.
 *
 * @param broker The plugin's broker.
 * @param hostDone Aborted once the host asked the plugin to stop
 * (GRPCController/Shutdown): the stream ends then. A go-plugin host never
 * ends it (it hangs up after the Shutdown call), so without this the stop
 * would wait for the host to close its connection.
 * @returns The service implementation for `serve()`.
 */
export function brokerService(broker: Broker, hostDone?: AbortSignal): ServiceImplementation {
  return implement(fromTsProto(GRPCBrokerDefinition), {
    startStream: (requests, call) => {
      void (async () => {
        try {
          for await (const info of requests) broker.receive(info);
        } catch {
          // the host closed the stream
        }
      })();
      return broker.outgoing(hostDone ? AbortSignal.any([call.signal, hostDone]) : call.signal);
    },
  });
}

/**
 * The host's half: opens `GRPCBroker/StartStream` right after connecting, as
 * go-plugin's host does, and keeps it open until `signal` aborts, feeding
 * the plugin's announcements into `broker` and sending the host's. A plugin
 * without the service is fine (logged at DEBUG, as go-plugin does).
 *
 * @param channel The connection to the plugin.
 * @param broker The host's broker.
 * @param logger Where the stream's end is logged.
 * @param signal Closes the stream.
 */
export async function openBrokerStream(
  channel: Channel,
  broker: Broker,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const item of channel.bidiStream(startStream, broker.outgoing(signal), { signal })) {
      broker.receive(item as BrokerConnInfo);
    }
  } catch (err) {
    if (!signal.aborted) {
      logger.debug("plugin broker stream ended", { error: (err as Error).message });
    }
  }
}
