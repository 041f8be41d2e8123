// The WireGuard device (wireguard-go's device/device.go): our static key, the peers, the
// allowed-IPs table, the index table, and the dispatch of datagrams from the Bind. IP packets
// go in with send() and come out through onPacket. Runs the same in a Worker and in Node.

import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { AllowedIps } from "./allowed-ips.ts";
import type { Bind, Endpoint } from "./bind.ts";
import { type Clock, systemClock } from "./clock.ts";
import {
  KEEPALIVE_TIMEOUT_MS,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_TIME_MS,
  REKEY_TIMEOUT_MS,
  UNDER_LOAD_AFTER_TIME_MS,
} from "./constants.ts";
import { CookieChecker, CookieGenerator, platformRandom, type RandomBytes } from "./cookie.ts";
import type { DeviceCore, DeviceEvent, IndexEntry } from "./device-core.ts";
import {
  canSend,
  receiveCookieReply,
  receiveInitiation,
  receiveResponse,
  sendInitiation,
} from "./handshake.ts";
import { IndexTable } from "./index-table.ts";
import { ipAddress, ipPacketLength } from "./inner-ip.ts";
import { parseIp } from "./ip-address.ts";
import type { Keypair } from "./keypair.ts";
import { keyToBase64 } from "./keys.ts";
import {
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  messageType,
  readU32,
  TRANSPORT,
} from "./messages.ts";
import type { KeyPair, NoiseCrypto } from "./noise.ts";
import { Peer, type PeerStats } from "./peer.ts";
import { RateLimiter } from "./ratelimiter.ts";
import { PeerTimers, rekeyJitter } from "./timers.ts";
import { Transport } from "./transport.ts";

/** A peer as configured (wg-quick's [Peer]). */
export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** "host:port" (resolved), or an Endpoint. */
  endpoint?: string | Endpoint;
  allowedIps?: string[];
  /** Seconds; 0 or absent = off. */
  persistentKeepalive?: number;
}

/** What a device needs. */
export interface DeviceOptions {
  privateKey: Uint8Array;
  bind: Bind;
  core: CryptoCore;
  x25519: X25519Provider;
  /**
   * Receives each authenticated, allowed inner IP packet and the public key of the peer it
   * came from. The packet is a view into the device's buffers, valid only during the call:
   * the IP stack parses it at once, and whoever keeps bytes copies them (no copy per packet
   * that nobody needs).
   */
  onPacket: (packet: Uint8Array, peerPublicKey: Uint8Array) => void;
  clock?: Clock;
  random?: RandomBytes;
  /** The tunnel MTU: the largest IP packet send() takes (default 1420). */
  mtu?: number;
  /** Handshake messages in flight at once before the device counts as under load (default 128). */
  underLoadThreshold?: number;
}

const EMPTY = new Uint8Array(0);
// Counters above 2^53 cannot occur in practice (2^53 packets); REJECT_AFTER_MESSAGES is larger.
const REJECT_AFTER_MESSAGES_NUMBER = Number.MAX_SAFE_INTEGER;
const REKEY_AFTER_MESSAGES_NUMBER = 2 ** 53 - 2 ** 20;

/** A WireGuard interface in userspace. */
export class Device implements DeviceCore {
  readonly clock: Clock;
  readonly noise: NoiseCrypto;
  readonly bind: Bind;
  readonly indices = new IndexTable<IndexEntry>();
  readonly cookieChecker: CookieChecker;
  readonly rateLimiter: RateLimiter;
  readonly rejectAfterMessages = REJECT_AFTER_MESSAGES_NUMBER;
  readonly allowedIps = new AllowedIps<Peer>();
  /** How many of each drop, answer and error happened. */
  readonly counters = new Map<DeviceEvent, number>();
  staticKey: KeyPair;
  private readonly peers = new Map<string, Peer>();
  private readonly random: RandomBytes;
  private readonly transport: Transport;
  private readonly onPacket: DeviceOptions["onPacket"];
  private readonly underLoadThreshold: number;
  private handshakesInFlight = 0;
  // Random bytes for timer jitter, drawn 256 at a time: a jitter is drawn for the new-handshake
  // timer on every data packet sent after one received (TCP's data and ACKs), and a platform
  // random call per packet was 5% of the agent's TCP data path.
  private jitterPool: Uint8Array = new Uint8Array(0);
  private jitterUsed = 0;
  private underLoadUntil = Number.NEGATIVE_INFINITY;
  private closed = false;

  private constructor(options: DeviceOptions, staticKey: KeyPair) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? platformRandom;
    this.noise = { core: options.core, x25519: options.x25519 };
    this.bind = options.bind;
    this.staticKey = staticKey;
    this.onPacket = options.onPacket;
    this.underLoadThreshold = options.underLoadThreshold ?? 128;
    this.cookieChecker = new CookieChecker(
      options.core,
      staticKey.publicKey,
      this.clock,
      this.random,
    );
    this.rateLimiter = new RateLimiter(this.clock);
    this.transport = new Transport(options.core, options.mtu ?? 1420, {
      sealed: (peer, message, keepalive) => this.sealed(peer, message, keepalive),
      opened: (peer, keypair, plain, from, bytes) => this.opened(peer, keypair, plain, from, bytes),
      rejected: (reason) => this.count(reason === "replay" ? "replayed" : "authenticationFailed"),
    });
  }

  /** Creates a device and opens its Bind. */
  static async create(options: DeviceOptions): Promise<Device> {
    const publicKey = await options.x25519.publicKey(options.privateKey);
    const device = new Device(options, { privateKey: options.privateKey, publicKey });
    await options.bind.open((packet, from) => device.receive(packet, from));
    return device;
  }

  /** Our public key. */
  get publicKey(): Uint8Array {
    return this.staticKey.publicKey;
  }

  /** Adds a peer, or updates it when its key is already known. */
  async addPeer(config: PeerConfig): Promise<void> {
    const id = keyToBase64(config.publicKey);
    let peer = this.peers.get(id);
    if (!peer) {
      const shared = await this.noise.x25519.sharedSecret(
        this.staticKey.privateKey,
        config.publicKey,
      );
      peer = new Peer(
        config.publicKey,
        id,
        config.presharedKey ?? new Uint8Array(32),
        shared,
        (index) => this.indices.delete(index),
      );
      const created = peer;
      peer.cookies = new CookieGenerator(this.noise.core, config.publicKey, this.clock);
      peer.timers = new PeerTimers(
        this.clock,
        {
          sendInitiation: (isRetry) => this.initiate(created, isRetry),
          sendKeepalive: () => this.sendKeepalive(created),
          handshakeFailed: () => {
            created.staged.length = 0;
          },
          zeroKeys: () => {
            created.keypairs.clear();
            this.dropHandshake(created);
          },
        },
        () => rekeyJitter(() => this.jitterByte() / 256),
      );
      this.peers.set(id, peer);
    }
    if (config.presharedKey) peer.presharedKey = config.presharedKey;
    if (config.endpoint !== undefined) {
      peer.endpoint =
        typeof config.endpoint === "string"
          ? this.bind.parseEndpoint(config.endpoint)
          : config.endpoint;
    }
    if (config.allowedIps) {
      this.allowedIps.removePeer(peer);
      for (const cidr of config.allowedIps) this.allowedIps.insert(cidr, peer);
    }
    if (config.persistentKeepalive !== undefined) {
      peer.timers.persistentKeepaliveSeconds = config.persistentKeepalive;
      if (config.persistentKeepalive > 0 && peer.endpoint) this.sendKeepalive(peer);
    }
  }

  /** Removes a peer: its sessions, handshakes, routes and timers. */
  removePeer(publicKey: Uint8Array): boolean {
    const peer = this.peers.get(keyToBase64(publicKey));
    if (!peer) return false;
    peer.removed = true;
    peer.timers.stop();
    peer.keypairs.clear();
    this.dropHandshake(peer);
    this.allowedIps.removePeer(peer);
    peer.staged.length = 0;
    this.peers.delete(peer.id);
    return true;
  }

  /** Statistics of every peer. */
  peerStats(): PeerStats[] {
    return [...this.peers.values()].map((peer) => this.statsOf(peer));
  }

  /**
   * Sends an IP packet to the peer whose allowed IPs hold its destination. The device keeps a
   * reference until the packet is sealed: do not modify it afterwards. False when no peer
   * routes it or it exceeds the MTU.
   */
  send(packet: Uint8Array): boolean {
    const destination = ipAddress(packet, "destination");
    const peer = destination && this.allowedIps.lookup(destination);
    if (!peer) {
      this.count("noRoute");
      return false;
    }
    if (packet.length > this.transport.maxContent) {
      this.count("tooBig");
      return false;
    }
    const keypair = peer.keypairs.current;
    if (canSend(this, keypair) && peer.staged.length === 0) {
      this.transport.send(peer, keypair, packet);
      this.keepKeyFreshSending(peer, keypair);
      return true;
    }
    for (let i = peer.stage(packet); i > 0; i--) this.count("stagedDropped");
    if (!this.flushStaged(peer)) this.initiate(peer, false);
    return true;
  }

  /** Seals and opens everything queued now, instead of at the end of this task. */
  flush(): void {
    this.transport.flush();
  }

  /** Stops every peer and closes the Bind. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of [...this.peers.values()]) this.removePeer(peer.publicKey);
    this.transport.dispose();
    await this.bind.close();
  }

  // --- DeviceCore ---------------------------------------------------------------------------

  async newEphemeral(): Promise<KeyPair> {
    const privateKey = this.random(32);
    privateKey[0]! &= 248;
    privateKey[31] = (privateKey[31]! & 127) | 64;
    return { privateKey, publicKey: await this.noise.x25519.publicKey(privateKey) };
  }

  peerByKey(publicKey: Uint8Array): Peer | undefined {
    return this.peers.get(keyToBase64(publicKey));
  }

  sendTo(peer: Peer, message: Uint8Array): void {
    if (!peer.endpoint) {
      this.count("noEndpoint");
      return;
    }
    if (this.bind.send(message, peer.endpoint)) peer.txBytes += message.length;
  }

  sourceBytes(from: Endpoint): Uint8Array {
    let address: Uint8Array;
    try {
      address = parseIp(from.host);
    } catch {
      address = new TextEncoder().encode(from.host); // a non-IP transport: bind its name instead
    }
    const out = new Uint8Array(address.length + 2);
    out.set(address);
    out[address.length] = from.port >>> 8;
    out[address.length + 1] = from.port & 0xff;
    return out;
  }

  underLoad(): boolean {
    const now = this.clock.now();
    if (this.handshakesInFlight >= this.underLoadThreshold)
      this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME_MS;
    return now < this.underLoadUntil;
  }

  count(event: DeviceEvent): void {
    this.counters.set(event, (this.counters.get(event) ?? 0) + 1);
  }

  flushStaged(peer: Peer): boolean {
    const keypair = peer.keypairs.current;
    if (peer.staged.length === 0 || !canSend(this, keypair)) return false;
    for (const packet of peer.staged.splice(0)) this.transport.send(peer, keypair, packet);
    this.keepKeyFreshSending(peer, keypair);
    return true;
  }

  sendKeepalive(peer: Peer): void {
    const keypair = peer.keypairs.current;
    if (canSend(this, keypair)) {
      this.transport.send(peer, keypair, EMPTY);
      // A keepalive is a send like any other (wireguard-go runs keepKeyFreshSending after every
      // packet, the kernel after every batch): an initiator that only sends keepalives, being
      // persistent or answering one-way data, rekeys at 120 s instead of letting it lapse.
      this.keepKeyFreshSending(peer, keypair);
    } else this.initiate(peer, false);
  }

  // --- internals ----------------------------------------------------------------------------

  private receive(packet: Uint8Array, from: Endpoint): void {
    if (this.closed) return;
    switch (messageType(packet)) {
      case MESSAGE_TRANSPORT: {
        const entry = this.indices.get(readU32(packet, TRANSPORT.receiver));
        const keypair = entry?.keypair;
        if (!entry || !keypair) {
          this.count("unknownReceiver");
          return;
        }
        if (this.clock.now() - keypair.created >= REJECT_AFTER_TIME_MS) {
          this.count("expiredKeypair");
          return;
        }
        this.transport.receive(entry.peer, keypair, packet, from);
        return;
      }
      case MESSAGE_INITIATION:
        this.handshake(receiveInitiation(this, packet, from));
        return;
      case MESSAGE_RESPONSE:
        this.handshake(receiveResponse(this, packet, from));
        return;
      case MESSAGE_COOKIE_REPLY:
        receiveCookieReply(this, packet);
        return;
      default:
        this.count("invalidMessage");
    }
  }

  private jitterByte(): number {
    if (this.jitterUsed >= this.jitterPool.length) {
      this.jitterPool = this.random(256);
      this.jitterUsed = 0;
    }
    return this.jitterPool[this.jitterUsed++]!;
  }

  private handshake(work: Promise<void>): void {
    this.handshakesInFlight++;
    work
      .catch(() => this.count("handshakeError"))
      .finally(() => {
        this.handshakesInFlight--;
      });
  }

  private initiate(peer: Peer, isRetry: boolean): void {
    if (this.closed || peer.removed) return;
    this.handshake(sendInitiation(this, peer, isRetry));
  }

  private dropHandshake(peer: Peer): void {
    if (peer.handshake) this.indices.delete(peer.handshake.localIndex);
    peer.handshake = undefined;
  }

  private keepKeyFreshSending(peer: Peer, keypair: Keypair): void {
    // Only the initiator rekeys by age (so both sides do not race to), but either side rekeys
    // by message count, as in wireguard-go's keepKeyFreshSending and the kernel's keep_key_fresh.
    if (
      keypair.sendCounter > REKEY_AFTER_MESSAGES_NUMBER ||
      (keypair.isInitiator && this.clock.now() - keypair.created > REKEY_AFTER_TIME_MS)
    ) {
      this.initiate(peer, false);
    }
  }

  private sealed(peer: Peer, message: Uint8Array, keepalive: boolean): void {
    if (!peer.endpoint) {
      this.count("noEndpoint");
      return;
    }
    if (this.bind.send(message, peer.endpoint)) peer.txBytes += message.length;
    peer.timers.onAnyAuthenticatedPacketTraversal();
    peer.timers.onAnyAuthenticatedPacketSent();
    if (!keepalive) peer.timers.onDataSent();
  }

  private opened(
    peer: Peer,
    keypair: Keypair,
    plain: Uint8Array,
    from: Endpoint,
    wireBytes: number,
  ): void {
    if (peer.removed) return;
    if (peer.keypairs.received(keypair)) {
      peer.timers.onHandshakeComplete();
      peer.lastHandshakeWall = this.clock.wallNow();
      this.flushStaged(peer);
    }
    peer.endpoint = from;
    peer.rxBytes += wireBytes;
    peer.timers.onAnyAuthenticatedPacketReceived();
    peer.timers.onAnyAuthenticatedPacketTraversal();
    const current = peer.keypairs.current;
    if (
      current?.isInitiator &&
      !peer.sentLastMinuteHandshake &&
      this.clock.now() - current.created >
        REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS
    ) {
      peer.sentLastMinuteHandshake = true;
      this.initiate(peer, false);
    }
    if (plain.length === 0) return; // a keepalive
    peer.timers.onDataReceived();
    const length = ipPacketLength(plain);
    if (length === 0) {
      this.count("badInnerPacket");
      return;
    }
    const packet = plain.subarray(0, length);
    const source = ipAddress(packet, "source");
    if (!source || this.allowedIps.lookup(source) !== peer) {
      this.count("sourceNotAllowed");
      return;
    }
    this.onPacket(packet, peer.publicKey);
  }

  private statsOf(peer: Peer): PeerStats {
    return {
      publicKey: peer.publicKey,
      endpoint: peer.endpoint?.key,
      lastHandshake: peer.lastHandshakeWall,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
      allowedIps: this.allowedIps.entriesFor(peer),
      persistentKeepalive: peer.timers.persistentKeepaliveSeconds,
    };
  }
}
