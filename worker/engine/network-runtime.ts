// A running network: the WireGuard device of one network record, talking through the relay
// (peers with an Endpoint through its UDP bridge, others by key), and the IP interface on the
// record's addresses. What the SSH sessions and pings of that network run on.

import type { NetworkStatus, PeerSummary } from "../api.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { NetInterface } from "../net/interface.ts";
import { RelayBind } from "../relay/client.ts";
import type { RelayConnect } from "../relay/socket.ts";
import { systemClock } from "../wireguard/clock.ts";
import { Device } from "../wireguard/device.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";
import { PeerProblems } from "./peer-problems.ts";

/** What a network needs to run. */
export interface RuntimeInput {
  id: string;
  privateKey: string;
  addresses: string[];
  peers: PeerSummary[];
  presharedKeys: Record<string, string>;
  relayUrl: string;
  mtu?: number;
}

/** What the platform supplies. */
export interface RuntimeDeps {
  core: CryptoCore;
  x25519: X25519Provider;
  connect: RelayConnect;
}

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** One started network. */
export class NetworkRuntime {
  private constructor(
    readonly id: string,
    readonly device: Device,
    readonly bind: RelayBind,
    readonly net: NetInterface,
    private readonly relayUrl: string,
    private readonly problems: PeerProblems,
  ) {}

  /** Starts the device, the relay connection and the interface. */
  static async start(input: RuntimeInput, deps: RuntimeDeps): Promise<NetworkRuntime> {
    if (input.addresses.length === 0) {
      throw new Error("the network has no address for this browser (wg-quick Address)");
    }
    const privateKey = keyFromBase64(input.privateKey, "private key");
    const problems = new PeerProblems();
    const bind = new RelayBind({
      url: input.relayUrl,
      privateKey,
      core: deps.core,
      x25519: deps.x25519,
      connect: deps.connect,
      onUdpError: (endpoint, reason) => problems.udpError(endpoint, reason),
    });
    let net: NetInterface | null = null;
    const device = await Device.create({
      privateKey,
      bind: problems.wrap(bind),
      core: deps.core,
      x25519: deps.x25519,
      mtu: input.mtu ?? 1420,
      onPacket: (packet) => net?.receive(packet),
    });
    try {
      for (const peer of input.peers) {
        const publicKey = keyFromBase64(peer.publicKey, "peer public key");
        const psk = input.presharedKeys[peer.publicKey];
        await device.addPeer({
          publicKey,
          presharedKey: psk === undefined ? undefined : keyFromBase64(psk, "preshared key"),
          // The browser cannot resolve names or send UDP: an Endpoint must be an IP address,
          // reached through the relay's UDP bridge; without one, the peer is on the relay.
          endpoint: peer.endpoint ?? `peer:${keyToBase64(publicKey)}`,
          allowedIps: peer.allowedIps,
          persistentKeepalive: peer.persistentKeepalive,
        });
      }
    } catch (error) {
      await device.close();
      throw error;
    }
    net = new NetInterface({
      addresses: input.addresses,
      output: (packet) => {
        device.send(packet);
      },
      clock: systemClock,
      randomBytes: random,
      mtu: input.mtu ?? 1420,
      // Over the relay a BATCH brings ~20 segments per task: one ACK for them (docs/net.md).
      tcp: { ackPerTask: true },
    });
    return new NetworkRuntime(input.id, device, bind, net, input.relayUrl, problems);
  }

  /** The details panel's figures. */
  status(): NetworkStatus {
    return {
      id: this.id,
      state: "running",
      relay: {
        state: this.bind.state,
        rttMs: this.bind.rttMs ?? null,
        url: this.relayUrl,
        ...(this.bind.transportWarning === undefined
          ? {}
          : { warning: this.bind.transportWarning }),
        ...(this.bind.state === "failed" && this.bind.lastError !== undefined
          ? { error: this.bind.lastError.message }
          : {}),
      },
      peers: this.device.peerStats().map((p) => {
        // With the relay not connected, that is the problem (relay.state, relay.error say so);
        // what peers did or did not answer before says nothing then.
        const problem =
          this.bind.state === "ready" ? this.problems.problemOf(p.endpoint) : undefined;
        return {
          publicKey: keyToBase64(p.publicKey),
          lastHandshake: p.lastHandshake === 0 ? null : p.lastHandshake,
          rxBytes: p.rxBytes,
          txBytes: p.txBytes,
          ...(problem === undefined ? {} : { problem }),
        };
      }),
    };
  }

  async close(): Promise<void> {
    await this.device.close();
  }
}
