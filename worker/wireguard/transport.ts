// The data path (wireguard-go's device/send.go and receive.go, single-threaded): packets are
// queued as they come and sealed or opened many per wasm call, in a microtask, through the
// batch crypto interface. Sealed messages are written with their 16-byte header in front
// (the batch's headroom) and handed to the Bind as one buffer.

import type { AeadBatch, CryptoCore } from "../crypto/index.ts";
import type { Endpoint } from "./bind.ts";
import { PADDING_MULTIPLE } from "./constants.ts";
import type { Keypair } from "./keypair.ts";
import {
  MESSAGE_TRANSPORT,
  readU32,
  TRANSPORT,
  TRANSPORT_HEADER_SIZE,
  writeU32,
} from "./messages.ts";
import type { Peer } from "./peer.ts";

const TAG = 16;
const BATCH = 64;
const KEY_SLOTS = 16;
const TWO_32 = 0x1_0000_0000;

interface Outgoing {
  peer: Peer;
  keypair: Keypair;
  counter: number;
  packet: Uint8Array;
}

interface Incoming {
  peer: Peer;
  keypair: Keypair;
  message: Uint8Array;
  from: Endpoint;
}

/** What the transport reports back to the device. */
export interface TransportEvents {
  /** A sealed message is ready for `peer` (the bytes are valid only during the call). */
  sealed(peer: Peer, message: Uint8Array, keepalive: boolean): void;
  /** A message opened and passed the replay filter; `plaintext` is valid only during the call. */
  opened(
    peer: Peer,
    keypair: Keypair,
    plaintext: Uint8Array,
    from: Endpoint,
    wireBytes: number,
  ): void;
  /** A message failed authentication or replay. */
  rejected(reason: "authentication" | "replay"): void;
}

/** Batches of transport messages going out and coming in. */
export class Transport {
  private readonly sealBatch: AeadBatch;
  private readonly openBatch: AeadBatch;
  private outgoing: Outgoing[] = [];
  private incoming: Incoming[] = [];
  private flushQueued = false;
  readonly maxContent: number;

  constructor(
    core: CryptoCore,
    mtu: number,
    private readonly events: TransportEvents,
  ) {
    this.maxContent = Math.ceil(mtu / PADDING_MULTIPLE) * PADDING_MULTIPLE;
    this.sealBatch = core.createAeadBatch({
      capacity: BATCH,
      maxPacket: this.maxContent,
      keySlots: KEY_SLOTS,
      headroom: TRANSPORT_HEADER_SIZE,
    });
    // A peer with a larger MTU may send us more; accept up to WireGuard's largest message.
    this.openBatch = core.createAeadBatch({
      capacity: BATCH / 2,
      maxPacket: 65535 - 32,
      keySlots: KEY_SLOTS,
    });
  }

  /** Queues an IP packet (or an empty keepalive) for sealing under `keypair`. */
  send(peer: Peer, keypair: Keypair, packet: Uint8Array): void {
    this.outgoing.push({ peer, keypair, counter: keypair.sendCounter++, packet });
    this.scheduleFlush();
  }

  /** Queues a transport message for opening. */
  receive(peer: Peer, keypair: Keypair, message: Uint8Array, from: Endpoint): void {
    this.incoming.push({ peer, keypair, message, from });
    this.scheduleFlush();
  }

  /** Seals and opens everything queued now (also runs by itself in a microtask). */
  flush(): void {
    this.flushQueued = false;
    while (this.outgoing.length > 0) this.sealSome(this.outgoing.splice(0, BATCH));
    while (this.incoming.length > 0)
      this.openSome(this.incoming.splice(0, this.openBatch.capacity));
  }

  /** Releases the wasm buffers (keys wiped). */
  dispose(): void {
    this.outgoing = [];
    this.incoming = [];
    this.sealBatch.dispose();
    this.openBatch.dispose();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private sealSome(items: Outgoing[]): void {
    const batch = this.sealBatch;
    const slots = new Map<Keypair, number>();
    let count = 0;
    const run = () => {
      batch.seal(count);
      for (let i = 0; i < count; i++) {
        const item = items[i]!;
        const out = batch.output(i);
        out[0] = MESSAGE_TRANSPORT;
        out[1] = out[2] = out[3] = 0;
        writeU32(out, TRANSPORT.receiver, item.keypair.remoteIndex);
        writeU32(out, TRANSPORT.counter, item.counter % TWO_32);
        writeU32(out, TRANSPORT.counter + 4, Math.floor(item.counter / TWO_32));
        const sealedLength = TRANSPORT_HEADER_SIZE + batch.packetLength(i) + TAG;
        this.events.sealed(item.peer, out.subarray(0, sealedLength), item.packet.length === 0);
      }
      slots.clear();
    };
    for (const item of items) {
      let slot = slots.get(item.keypair);
      if (slot === undefined) {
        if (slots.size === KEY_SLOTS) {
          run();
          items = items.slice(count);
          count = 0;
        }
        slot = slots.size;
        slots.set(item.keypair, slot);
        batch.setKey(slot, item.keypair.sendKey);
      }
      const input = batch.input(count);
      const length = item.packet.length;
      const padded = Math.min(
        Math.ceil(length / PADDING_MULTIPLE) * PADDING_MULTIPLE,
        this.maxContent,
      );
      input.set(item.packet);
      input.fill(0, length, padded);
      batch.setPacket(count, slot, item.counter, padded);
      count++;
    }
    if (count > 0) run();
  }

  private openSome(items: Incoming[]): void {
    const batch = this.openBatch;
    const slots = new Map<Keypair, number>();
    const accepted: Incoming[] = [];
    let count = 0;
    const run = () => {
      batch.open(count);
      for (let i = 0; i < count; i++) {
        const item = accepted[i]!;
        if (!batch.ok(i)) {
          this.events.rejected("authentication");
          continue;
        }
        const lo = readU32(item.message, TRANSPORT.counter);
        const hi = readU32(item.message, TRANSPORT.counter + 4);
        if (!item.keypair.replay.validate(lo, hi)) {
          this.events.rejected("replay");
          continue;
        }
        this.events.opened(
          item.peer,
          item.keypair,
          batch.result(i, "open"),
          item.from,
          item.message.length,
        );
      }
      slots.clear();
      accepted.length = 0;
      count = 0;
    };
    for (const item of items) {
      const length = item.message.length - TRANSPORT_HEADER_SIZE;
      if (length > batch.maxPacket + TAG) {
        this.events.rejected("authentication");
        continue;
      }
      let slot = slots.get(item.keypair);
      if (slot === undefined) {
        if (slots.size === KEY_SLOTS) run();
        slot = slots.size;
        slots.set(item.keypair, slot);
        batch.setKey(slot, item.keypair.receiveKey);
      }
      batch.input(count).set(item.message.subarray(TRANSPORT_HEADER_SIZE));
      const lo = readU32(item.message, TRANSPORT.counter);
      const hi = readU32(item.message, TRANSPORT.counter + 4);
      batch.setPacket(
        count,
        slot,
        hi < 0x200000 ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo),
        length,
      );
      accepted.push(item);
      count++;
    }
    if (count > 0) run();
  }
}
