// One key exchange after another, from the client's side (RFC 4253 §7-§9): send KEXINIT,
// negotiate, run the method, check the server's signature over H and the host key, derive
// the keys, exchange NEWKEYS. The transport gives it the kex messages (20-49) in order and
// tells it how to send and when to switch ciphers.
//
// The first exchange fixes the session identifier and the host key; a re-exchange must
// present the same host key. Strict kex (OpenSSH PROTOCOL §1.10) resets sequence numbers at
// each NEWKEYS and forbids anything but the exchange before the first NEWKEYS.

import type { CryptoCore } from "../../crypto/index.ts";
import { nobleX25519, type X25519Provider } from "../../crypto/x25519.ts";
import type { PacketCipher } from "../cipher.ts";
import {
  CIPHERS,
  createPacketCipher,
  DEFAULT_CIPHERS,
  DEFAULT_MACS,
  MACS,
} from "../cipher-suites.ts";
import { HostKeyError, SshError } from "../errors.ts";
import { fingerprintSha256, keyTypeOf } from "../fingerprint.ts";
import { SshKeyError } from "../keys/errors.ts";
import { verifySignature } from "../keys/host-signature.ts";
import {
  SSH_DISCONNECT,
  SSH_MSG_KEX_ECDH_REPLY,
  SSH_MSG_KEXINIT,
  SSH_MSG_NEWKEYS,
} from "../messages.ts";
import { SshProtocolError, SshReader } from "../wire.ts";
import { type DerivedKeys, deriveKeys, exchangeHash } from "./exchange.ts";
import {
  type AlgorithmLists,
  EXT_INFO_CLIENT,
  encodeKexInit,
  KEX_STRICT_CLIENT,
  type KexInit,
  type Negotiated,
  negotiate,
  parseKexInit,
  serverGuessWrong,
} from "./kexinit.ts";
import { DEFAULT_KEX, type KexExchange, type KexMethod, kexMethod } from "./methods.ts";

/** The server's host key as the caller sees it when deciding whether to trust it. */
export interface HostKeyInfo {
  /** The negotiated host key algorithm, e.g. "rsa-sha2-512". */
  readonly algorithm: string;
  /** The key type in the blob, e.g. "ssh-rsa". */
  readonly keyType: string;
  readonly keyBlob: Uint8Array;
  /** "SHA256:…" as ssh-keygen -l prints it. */
  readonly fingerprint: string;
}

/** Accepts the host key by returning; refuses it by throwing (a HostKeyError says why). */
export type HostKeyVerifier = (key: HostKeyInfo) => void | Promise<void>;

/** Our host key algorithms, best first. */
export const DEFAULT_HOST_KEY_ALGORITHMS: readonly string[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "rsa-sha2-512",
  "rsa-sha2-256",
];

/** What one exchange settled, for callers and logs. */
export interface KexResult extends Negotiated {
  hostKeyBlob: Uint8Array;
}

/** How the driver reaches the transport. */
export interface KexDriverOptions {
  core: CryptoCore;
  verifyHostKey: HostKeyVerifier;
  x25519?: X25519Provider;
  algorithms?: {
    kex?: readonly string[];
    hostKey?: readonly string[];
    ciphers?: readonly string[];
    macs?: readonly string[];
  };
  random: (n: number) => Uint8Array;
  sendKexMessage: (payload: Uint8Array) => void;
  switchOutgoing: (cipher: PacketCipher, strict: boolean) => void;
  switchIncoming: (cipher: PacketCipher, strict: boolean) => void;
}

type Phase = "idle" | "kexinit" | "reply" | "newkeys";
const AEAD = new Set(Object.keys(CIPHERS).filter((name) => CIPHERS[name]!.aead));

/** Drives the key exchanges of one connection. */
export class KexDriver {
  clientIdentification = "";
  serverIdentification = "";
  /** H of the first exchange, once it is known. */
  sessionId: Uint8Array | null = null;
  /** What the latest finished exchange chose. */
  current: KexResult | null = null;
  /** Resolves when the first exchange has finished in both directions. */
  readonly firstDone: Promise<void>;
  firstFinished = false;

  private phase: Phase = "idle";
  private ourKexInit: Uint8Array | null = null;
  private serverKexInit: KexInit | null = null;
  private serverKexInitBytes: Uint8Array | null = null;
  private negotiated: Negotiated | null = null;
  private method: KexMethod | null = null;
  private exchange: Promise<KexExchange> | null = null;
  private incoming: PacketCipher | null = null;
  private ignoreNext = false;
  private strictSession = false;
  private resolveFirst!: () => void;

  constructor(private readonly options: KexDriverOptions) {
    this.firstDone = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
  }

  /** An exchange is running (from our KEXINIT to the server's NEWKEYS). */
  get inProgress(): boolean {
    return this.phase !== "idle";
  }

  /** Messages of the layers above must wait: we sent KEXINIT and not yet NEWKEYS. */
  get blocksOutgoing(): boolean {
    return this.ourKexInit !== null;
  }

  /** Strict kex rules apply to the message being received. */
  get strictInitial(): boolean {
    return !this.firstFinished && this.negotiated?.strict === true;
  }

  /** Sends our KEXINIT (no-op if already sent for this exchange). */
  start(): void {
    if (this.ourKexInit !== null) return;
    this.ourKexInit = encodeKexInit(this.lists(), this.options.random(16));
    if (this.phase === "idle") this.phase = "kexinit";
    this.options.sendKexMessage(this.ourKexInit);
  }

  /** Stops everything in flight; the transport has ended. */
  abort(_error: SshError): void {
    this.phase = "idle";
  }

  /** Handles one kex message (20-49). `firstPacket`: it is the first packet received. */
  async receive(payload: Uint8Array, firstPacket: boolean): Promise<void> {
    if (this.ignoreNext) {
      this.ignoreNext = false;
      return;
    }
    const type = payload[0]!;
    if (type === SSH_MSG_KEXINIT && this.phase === "kexinit" && this.serverKexInit === null) {
      this.onKexInit(payload, firstPacket);
    } else if (type === SSH_MSG_KEX_ECDH_REPLY && this.phase === "reply") {
      await this.onReply(payload);
    } else if (type === SSH_MSG_NEWKEYS && this.phase === "newkeys") {
      this.onNewKeys(payload);
    } else {
      throw new SshProtocolError(
        `unexpected message ${type} during key exchange (waiting for ${this.phase === "idle" ? "nothing" : this.phase})`,
      );
    }
  }

  private lists(): AlgorithmLists {
    const a = this.options.algorithms ?? {};
    const kex = [...(a.kex ?? DEFAULT_KEX)];
    // The markers belong in the first KEXINIT only (RFC 8308 §2.1, PROTOCOL §1.10).
    if (this.sessionId === null) kex.push(EXT_INFO_CLIENT, KEX_STRICT_CLIENT);
    const ciphers = a.ciphers ?? DEFAULT_CIPHERS;
    const macs = a.macs ?? DEFAULT_MACS;
    return {
      kex,
      hostKey: a.hostKey ?? DEFAULT_HOST_KEY_ALGORITHMS,
      cipherClientToServer: ciphers,
      cipherServerToClient: ciphers,
      macClientToServer: macs,
      macServerToClient: macs,
      compressionClientToServer: ["none"],
      compressionServerToClient: ["none"],
      languagesClientToServer: [],
      languagesServerToClient: [],
    };
  }

  private onKexInit(payload: Uint8Array, firstPacket: boolean): void {
    const server = parseKexInit(payload);
    const negotiated = negotiate(this.lists(), server, AEAD);
    // Strict mode is decided by the first exchange and holds for the connection's life: the
    // markers appear only in the first KEXINITs, sequence numbers reset at every NEWKEYS.
    if (this.sessionId !== null) negotiated.strict = this.strictSession;
    else this.strictSession = negotiated.strict;
    if (negotiated.strict && this.sessionId === null && !firstPacket) {
      throw new SshProtocolError("strict key exchange: KEXINIT was not the server's first packet");
    }
    const method = kexMethod(negotiated.kex, this.options.x25519 ?? nobleX25519);
    if (method === undefined) throw new SshProtocolError(`kex method ${negotiated.kex} missing`);
    this.serverKexInit = server;
    this.serverKexInitBytes = payload.slice();
    this.negotiated = negotiated;
    this.method = method;
    this.ignoreNext = serverGuessWrong(server, negotiated);
    this.phase = "reply";
    this.exchange = method.start(this.options.random);
    // The INIT goes out as soon as the ephemeral key exists; a failure surfaces in onReply.
    this.exchange.then(
      (exchange) => this.options.sendKexMessage(exchange.initPayload),
      () => undefined,
    );
  }

  private async onReply(payload: Uint8Array): Promise<void> {
    const exchange = await this.exchange!;
    const method = this.method!;
    const negotiated = this.negotiated!;
    const r = new SshReader(payload.subarray(1));
    const hostKeyBlob = r.readString("host key K_S");
    const serverPublic = exchange.readServerPublic(r);
    const signature = r.readString("exchange hash signature");
    r.expectEnd("KEX_ECDH_REPLY");
    const secret = await exchange.sharedSecret(serverPublic);
    const h = exchangeHash(
      method,
      exchange,
      {
        clientIdentification: this.clientIdentification,
        serverIdentification: this.serverIdentification,
        clientKexInit: this.ourKexInit!,
        serverKexInit: this.serverKexInitBytes!,
        hostKeyBlob,
      },
      serverPublic,
      secret,
    );
    await this.checkHostKey(negotiated.hostKey, hostKeyBlob, signature, h);
    this.sessionId ??= h;
    const keys = deriveKeys(method.hash, secret, h, this.sessionId, keySizes(negotiated));
    secret.fill(0);
    const outgoing = makeCipher(this.options.core, negotiated, keys, "client");
    this.incoming = makeCipher(this.options.core, negotiated, keys, "server");
    this.current = { ...negotiated, hostKeyBlob };
    this.phase = "newkeys";
    this.options.sendKexMessage(Uint8Array.of(SSH_MSG_NEWKEYS));
    this.ourKexInit = null;
    this.options.switchOutgoing(outgoing, negotiated.strict);
  }

  private async checkHostKey(
    algorithm: string,
    blob: Uint8Array,
    signature: Uint8Array,
    h: Uint8Array,
  ): Promise<void> {
    try {
      await verifySignature(blob, signature, h, algorithm);
    } catch (error) {
      if (!(error instanceof SshKeyError)) throw error;
      throw new SshError(
        `the server's signature over the key exchange does not verify: ${error.message}`,
        SSH_DISCONNECT.KEY_EXCHANGE_FAILED,
        "client",
      );
    }
    const fingerprint = fingerprintSha256(blob);
    if (this.current !== null) {
      const known = this.current.hostKeyBlob;
      if (known.length !== blob.length || known.some((b, i) => b !== blob[i])) {
        throw new HostKeyError(
          `the server presented a different host key during re-keying: ${fingerprint} instead of ${fingerprintSha256(known)}`,
          SSH_DISCONNECT.HOST_KEY_NOT_VERIFIABLE,
          "client",
        );
      }
      return;
    }
    await this.options.verifyHostKey({
      algorithm,
      keyType: keyTypeOf(blob),
      keyBlob: blob,
      fingerprint,
    });
  }

  private onNewKeys(payload: Uint8Array): void {
    if (payload.length !== 1) throw new SshProtocolError("NEWKEYS has trailing bytes");
    const strict = this.negotiated!.strict;
    this.options.switchIncoming(this.incoming!, strict);
    this.incoming = null;
    this.serverKexInit = null;
    this.serverKexInitBytes = null;
    this.exchange = null;
    this.phase = "idle";
    if (!this.firstFinished) {
      this.firstFinished = true;
      this.resolveFirst();
    }
  }
}

function keySizes(n: Negotiated) {
  const c2s = CIPHERS[n.cipherClientToServer]!;
  const s2c = CIPHERS[n.cipherServerToClient]!;
  return {
    ivClientToServer: c2s.ivBytes,
    ivServerToClient: s2c.ivBytes,
    keyClientToServer: c2s.keyBytes,
    keyServerToClient: s2c.keyBytes,
    macKeyClientToServer: n.macClientToServer === null ? 0 : MACS[n.macClientToServer]!.keyBytes,
    macKeyServerToClient: n.macServerToClient === null ? 0 : MACS[n.macServerToClient]!.keyBytes,
  };
}

function makeCipher(
  core: CryptoCore,
  n: Negotiated,
  keys: DerivedKeys,
  sender: "client" | "server",
): PacketCipher {
  const c2s = sender === "client";
  const mac = c2s ? n.macClientToServer : n.macServerToClient;
  return createPacketCipher(
    core,
    c2s ? n.cipherClientToServer : n.cipherServerToClient,
    c2s ? keys.keyClientToServer : keys.keyServerToClient,
    c2s ? keys.ivClientToServer : keys.ivServerToClient,
    mac,
    mac === null ? null : c2s ? keys.macKeyClientToServer : keys.macKeyServerToClient,
  );
}
